"""Run the components' own checkers (promtool, amtool) from the offline images.

The checkers are never installed on the host: the same binary that serves in production checks the config.
Files are bind-mounted read-only; the container runs as root only so that it can read 0600 temp files.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from alertstack.images import OFFLINE
from alertstack.process import Finished


@dataclass
class ToolResult(Finished):
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return (self.stdout + self.stderr).strip()


def run_in_image(image: str, entrypoint: str, args: Iterable[str],
                 mounts: Mapping[str | Path, str] | None = None,
                 workdir: str | None = None, stdin: str | None = None,
                 network: str | None = None, timeout: int = 300) -> ToolResult:
    """Run `entrypoint args...` in a throw-away container of `image`; mounts map host path -> container path."""
    cmd = ["docker", "run", "--rm", "-i", "--user", "0", "--entrypoint", entrypoint]
    cmd += ["--network", network or "none"]
    for host, container in (mounts or {}).items():
        cmd += ["-v", f"{Path(host).resolve()}:{container}:ro"]
    if workdir:
        cmd += ["-w", workdir]
    cmd += [image, *args]
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
    return ToolResult(proc.returncode, proc.stdout, proc.stderr)


def promtool(args: Iterable[str], mounts: Mapping[str | Path, str] | None = None, workdir: str | None = None,
             stdin: str | None = None, network: str | None = None, timeout: int = 300) -> ToolResult:
    """promtool from the Prometheus image, e.g. promtool(["test", "rules", "/w/t.yml"], {dir: "/w"})."""
    return run_in_image(OFFLINE["prometheus"], "/bin/promtool", args, mounts, workdir, stdin, network, timeout)


def amtool(args: Iterable[str], mounts: Mapping[str | Path, str] | None = None, workdir: str | None = None,
           stdin: str | None = None, network: str | None = None, timeout: int = 120) -> ToolResult:
    """amtool from the Alertmanager image, e.g. amtool(["check-config", "/w/alertmanager.yml"], {dir: "/w"})."""
    return run_in_image(OFFLINE["alertmanager"], "/bin/amtool", args, mounts, workdir, stdin, network, timeout)
