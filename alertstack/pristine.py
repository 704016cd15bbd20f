"""Pristine Debian 12 machines as privileged containers: what the fresh-host test and the docker role's molecule
scenario install on, instead of this (already prepared) machine.

- `ensure_image()` debootstraps a bookworm minbase (nothing else installed) and imports it as IMAGE, once;
- `start(name)` runs it privileged, with /var/lib/docker on a volume of its own (Docker in Docker needs a real
  filesystem there), and gives it only what every fresh machine here has: the CA trust, pip's settings and the
  package-index settings of this host;
- `remove(name)` removes the container and its volume.

Command line (molecule's prepare/destroy playbooks): python -m alertstack.pristine start|remove NAME [--python]
"""
from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

IMAGE = "ai-alerting/pristine:bookworm"
MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"


class PristineError(RuntimeError):
    pass


def _sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def _check(proc: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    if proc.returncode != 0:
        raise PristineError(f"{what} failed (exit {proc.returncode}): {(proc.stderr or proc.stdout)[-2000:]}")
    return proc


def docker_available() -> bool:
    return shutil.which("docker") is not None and _sh(["docker", "info"]).returncode == 0


def ensure_image() -> str:
    """IMAGE, made from a debootstrapped bookworm minbase if it does not exist yet."""
    if _sh(["docker", "image", "inspect", IMAGE]).returncode == 0:
        return IMAGE
    print(f"pristine: debootstrapping {SUITE} minbase into {IMAGE} (a few minutes)", flush=True)
    with tempfile.TemporaryDirectory() as root:
        _check(_sh(["debootstrap", "--variant=minbase", SUITE, root, MIRROR], timeout=900), "debootstrap")
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        imp = _sh(["docker", "import", "-", IMAGE], stdin=tar.stdout, timeout=900)
        tar.wait()
        _check(imp, "docker import")
    return IMAGE


def host_settings() -> bytes:
    """A tar of what a fresh machine here is given: CA certificates, pip.conf, apt sources and apt settings."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in [*Path("/usr/local/share/ca-certificates").glob("*.crt"), Path("/etc/pip.conf"),
                     *Path("/etc/apt/sources.list.d").glob("*.sources"), Path("/etc/apt/sources.list"),
                     *Path("/etc/apt/apt.conf.d").glob("99*")]:
            if path.is_file():
                tar.add(path, arcname=str(path).lstrip("/"))
    return buffer.getvalue()


def copy_into(name: str, archive: bytes, dest: str) -> None:
    """Unpack a tar archive into the container at `dest`."""
    proc = subprocess.run(["docker", "cp", "-", f"{name}:{dest}"], input=archive, capture_output=True)
    if proc.returncode != 0:
        raise PristineError(f"docker cp into {name} failed: {proc.stderr.decode(errors='replace')[-2000:]}")


def run(name: str, script: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run a bash script in the container; the completed process (not checked)."""
    return _sh(["docker", "exec", name, "bash", "-c", script], timeout=timeout)


def start(name: str, python: bool = False) -> str:
    """Start a pristine machine called `name` (replacing one of that name); with `python`, also install python3 (what
    Ansible needs on a managed host, as on any machine Ansible manages). Returns the container name."""
    remove(name)
    _check(_sh(["docker", "run", "-d", "--privileged", "--name", name, "--hostname", name,
                "-v", f"{name}-docker:/var/lib/docker", ensure_image(), "sleep", "infinity"]), f"docker run {name}")
    copy_into(name, host_settings(), "/")
    packages = "ca-certificates" + (" python3" if python else "")
    _check(run(name, "set -e; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                     f"--no-install-recommends {packages} >/dev/null && update-ca-certificates >/dev/null"),
           f"installing {packages} in {name}")
    return name


def remove(name: str) -> None:
    """Remove the machine and its Docker volume (no error when they do not exist)."""
    _sh(["docker", "rm", "-f", name])
    _sh(["docker", "volume", "rm", "-f", f"{name}-docker"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start or remove a pristine Debian 12 machine (a privileged container)")
    parser.add_argument("action", choices=["start", "remove"])
    parser.add_argument("name")
    parser.add_argument("--python", action="store_true", help="also install python3 (for Ansible)")
    args = parser.parse_args(argv)
    try:
        if args.action == "start":
            print(f"pristine: {start(args.name, python=args.python)} is up")
        else:
            remove(args.name)
            print(f"pristine: {args.name} removed")
    except (PristineError, subprocess.TimeoutExpired) as exc:
        print(f"pristine: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
