"""Run ansible-playbook / ansible-inventory for an environment of this repository."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from alertstack.paths import INVENTORIES, REPO_ROOT, VENV_BIN, environments
from alertstack.process import Finished


class UnknownEnvironment(ValueError):
    pass


def inventory_path(env: str) -> Path:
    if env not in environments():
        raise UnknownEnvironment(f"unknown environment '{env}'; known: {', '.join(environments())}")
    return INVENTORIES / env


def _bin(name: str) -> str:
    candidate = VENV_BIN / name
    return str(candidate) if candidate.exists() else name


def vault_args(env: str) -> list[str]:
    """Vault options for an environment: its password file if present, else its example secrets.

    The real vault (inventories/<env>/group_vars/all/vault.yml) is never committed in clear text. Without it,
    rendering and validation use inventories/<env>/vault.example.yml, which documents every secret with
    placeholder values, so the structure can be checked anywhere.
    """
    inv = inventory_path(env)
    args: list[str] = []
    password_file = os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE") or str(REPO_ROOT / f".vault-pass-{env}")
    if Path(password_file).exists():
        args += ["--vault-password-file", password_file]
    if not (inv / "group_vars" / "all" / "vault.yml").exists() and (inv / "vault.example.yml").exists():
        args += ["-e", f"@{inv / 'vault.example.yml'}"]
    return args


@dataclass
class PlaybookRun(Finished):
    seconds: float
    output: str


def playbook(env: str, playbook: str = "site.yml", extra_vars: dict | None = None, args: list[str] | None = None,
             env_vars: dict | None = None, echo: bool = True) -> PlaybookRun:
    """Run a playbook against an environment, streaming its output when `echo`; returns code, time and output."""
    cmd = [_bin("ansible-playbook"), "-i", str(inventory_path(env)), str(REPO_ROOT / playbook)]
    cmd += vault_args(env)
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    cmd += args or []
    environ = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
                   PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
    environ.update(env_vars or {})
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if echo:
            sys.stdout.write(line)
            sys.stdout.flush()
    proc.wait()
    return PlaybookRun(proc.returncode, time.monotonic() - start, "".join(lines))


def recap(output: str) -> dict[str, dict[str, int]]:
    """Parse PLAY RECAP lines into {host: {ok, changed, failed, ...}}."""
    result: dict[str, dict[str, int]] = {}
    in_recap = False
    for line in output.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        if in_recap and ":" in line and "=" in line:
            host, _, counters = line.partition(":")
            result[host.strip()] = {k: int(v) for k, v in (c.split("=") for c in counters.split())}
    return result


def inventory_vars(env: str) -> dict:
    """hostvars of every host of an environment as the inventory defines them (group_vars merged)."""
    cmd = [_bin("ansible-inventory"), "-i", str(inventory_path(env)), "--list"] + vault_args(env)
    out = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=True,
                         env=dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"))).stdout
    return json.loads(out)
