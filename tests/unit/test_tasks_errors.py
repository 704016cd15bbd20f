"""Every invoke task answers a bad argument with one line on stderr, no traceback and exit 2, before it touches
anything: no playbook, no Docker call, no HTTP call, no file written. The task list comes from `invoke --list`, so a new task
without a case here fails this test."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INVOKE = str(Path(sys.executable).parent / "invoke")

# task -> its bad invocations (the arguments after the task name). {out} is a directory that must stay absent.
CASES: dict[str, list[list[str]]] = {
    "up": [["--no-such-option"]],
    "ha": [["nothing"], ["status", "--env", "nowhere"]],
    "down": [["--no-such-option"]],
    "lab": [["nothing"], []],
    "deploy": [["--env", "nowhere"], ["--env", "staging", "--silence", "--margin", "soon"],
               ["--env", "staging", "--silence", "--author", " "]],
    "render": [["--env", "nowhere", "--out", "{out}"]],
    "smoke": [["--env", "nowhere"], ["--timeout", "soon"], ["--timeout", "-5"]],
    "lint": [["--no-such-option"]],
    "test": [["--no-such-option"], ["--stream", "nightly"]],
    "docs": [["--no-such-option"]],
    "bench": [["--envs", "local,nowhere"]],
    "drill": [["nonsense"], [], ["latency", "--fault", "bogus"], ["all", "--env", "nowhere"]],
    "silence": [["nonsense"], ["add", "--env", "nowhere"], ["add", "--matcher", "alertname", "--duration", "2h"],
                ["expire", "--id", "not-an-id"], ["list", "--state", "everything"]],
    "maintenance": [["--service", "feature-store", "--duration", "forever"], ["--service", "feature-store"]],
    "fault": [["nonsense"], ["inject", "--scenario", "nonsense"], ["mitigate"], ["rollback", "--env", "nowhere"]],
    "backtest": [["--days", "0", "--out", "{out}"], ["--days", "many", "--out", "{out}"],
                 ["--env", "nowhere", "--out", "{out}"], ["--rules", "/no/such/dir", "--out", "{out}"],
                 ["--from-prometheus", "prometheus:9090", "--out", "{out}"]],
    "oncall-report": [["--weeks", "many", "--out", "{out}"], ["--weeks", "0", "--out", "{out}"],
                      ["--env", "nowhere", "--out", "{out}"],
                      ["--history", "/no/such/messages.jsonl", "--out", "{out}"]],
}


def _tasks() -> list[str]:
    listing = subprocess.run([INVOKE, "--list", "--list-format", "json"], cwd=REPO, capture_output=True, text=True,
                             timeout=120, check=True)
    return sorted(t["name"] for t in json.loads(listing.stdout)["tasks"])


def test_every_task_has_a_bad_argument_case():
    assert sorted(CASES) == _tasks(), "add a bad-argument case to CASES for each new invoke task"


@pytest.mark.parametrize("task,args", [(t, a) for t, cases in CASES.items() for a in cases],
                         ids=lambda v: v if isinstance(v, str) else " ".join(v) or "(none)")
def test_a_bad_argument_is_one_line_and_exit_2(task, args, tmp_path):
    out = tmp_path / "out"
    calls = tmp_path / "calls"
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "docker").write_text(f"#!/bin/sh\necho docker \"$@\" >> {calls}\nexit 1\n")  # a Docker call leaves a trace
    (stubs / "docker").chmod(0o755)
    env = {**os.environ, "PATH": f"{stubs}:{os.environ.get('PATH', '')}",
           "ALERTMANAGER_USER": "u", "ALERTMANAGER_PASSWORD": "p"}
    run = subprocess.run([INVOKE, task, *(a.format(out=out) for a in args)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    lines = run.stderr.splitlines()
    assert "Traceback" not in run.stderr, run.stderr
    assert len(lines) == 1, run.stderr
    assert run.returncode == 2, (run.returncode, run.stderr)
    assert not calls.exists(), f"ran {calls.read_text()} before failing"
    assert not out.exists()
