"""Runs `molecule test` for every role that has a scenario (roles/<role>/molecule/default/molecule.yml).

Each scenario converges its role on this host as its own Compose project (mol-<role>), checks idempotence (changed=0),
verifies the running component, and destroys what it created; see molecule/shared/. The output is streamed while the
scenario runs (visible with `pytest -s`) and its tail is the failure message.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCENARIO = Path("molecule/default/molecule.yml")
# The base every scenario extends (Molecule finds it from the repository root; passed explicitly so that a
# checkout without .git finds it too).
BASE_CONFIG = REPO / ".config" / "molecule" / "config.yml"
TIMEOUT_S = 900
FAILURE_TAIL_CHARS = 12000


def scenario_roles() -> list[str]:
    return sorted(p.parent.parent.parent.name for p in REPO.glob(f"roles/*/{SCENARIO}"))


def scenario_vars(role: str) -> dict:
    config = yaml.safe_load((REPO / "roles" / role / SCENARIO).read_text())
    return config["provisioner"]["inventory"]["host_vars"]["instance"]


def molecule_env() -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    env = dict(os.environ)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")  # molecule calls ansible-playbook/ansible-config
    env.update({"NO_COLOR": "1", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "PY_COLORS": "0"})
    return env


def leftovers(project: str, stack_root: str) -> list[str]:
    """What a scenario left behind: containers/volumes of its Compose project, its network, its stack root."""
    found = []
    label = f"label=com.docker.compose.project={project}"
    for kind, cmd in (("container", ["docker", "ps", "-aq", "--filter", label]),
                      ("volume", ["docker", "volume", "ls", "-q", "--filter", label]),
                      ("network", ["docker", "network", "ls", "-q", "--filter", f"name=^{project}$"])):
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
        found += [f"{kind} {name}" for name in out]
    if Path(stack_root).exists():
        found.append(f"directory {stack_root}")
    return found


def run_streaming(cmd: list[str], cwd: Path, timeout_s: int) -> tuple[int | None, str]:
    """Run `cmd`, echoing its output as it comes; (returncode or None on timeout, whole output)."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    with subprocess.Popen(cmd, cwd=cwd, env=molecule_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace") as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            sys.stdout.write(line)
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                return None, "".join(lines)
        return proc.wait(), "".join(lines)


@pytest.mark.molecule
@pytest.mark.timeout(TIMEOUT_S + 120)
@pytest.mark.parametrize("role", scenario_roles())
def test_molecule_scenario(role: str) -> None:
    started = time.monotonic()
    molecule = str(Path(sys.executable).parent / "molecule")
    rc, output = run_streaming([molecule, "--base-config", str(BASE_CONFIG), "test"], REPO / "roles" / role,
                               TIMEOUT_S)
    elapsed = time.monotonic() - started
    print(f"\nmolecule scenario {role}: {elapsed:.0f} s")
    tail = output[-FAILURE_TAIL_CHARS:]
    assert rc is not None, f"molecule test of {role} ran past {TIMEOUT_S} s; output tail:\n{tail}"
    assert rc == 0, f"molecule test of {role} failed (rc={rc}) after {elapsed:.0f} s; output tail:\n{tail}"
    assert "idempotence] Executed: Successful" in output, f"{role}: no successful idempotence step in:\n{tail}"
    hostvars = scenario_vars(role)
    left = leftovers(hostvars["stack_project"], hostvars["stack_root"])
    assert not left, f"molecule test of {role} left behind: {', '.join(left)}"
