"""The lab, once per session: `invoke lab up` from scratch (pristine hosts, a new key, an empty registry), a cold
`ansible-playbook -i inventories/lab site.yml`, then the same playbook again; torn down at the end (set
AI_ALERTING_KEEP_LAB=1 to keep it for a look). The deploy times are printed in the summary, never asserted."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

import pytest

from alertstack import ansible, lab, pristine

_TIMES: dict[str, float] = {}


@dataclass
class Deployed:
    spec: lab.Lab
    cold: ansible.PlaybookRun
    warm: ansible.PlaybookRun


@pytest.fixture(scope="session")
def lab_deployed() -> Deployed:
    if not pristine.docker_available():
        pytest.skip("no Docker daemon")
    lab.down()
    try:
        start = time.monotonic()
        lab.up()
        _TIMES[f"lab up ({len(lab.read_spec().hosts)} pristine hosts, registry)"] = time.monotonic() - start
        cold = ansible.playbook(lab.ENV, echo=False)
        _TIMES["cold deploy (site.yml)"] = cold.seconds
        warm = ansible.playbook(lab.ENV, echo=False) if cold.ok else cold
        _TIMES["second run (site.yml)"] = warm.seconds
        yield Deployed(lab.read_spec(), cold, warm)
    finally:
        if not os.environ.get("AI_ALERTING_KEEP_LAB"):
            lab.down()


def pytest_terminal_summary(terminalreporter):
    if _TIMES:
        terminalreporter.section("lab environment timings")
        for what, seconds in _TIMES.items():
            terminalreporter.write_line(f"{what:40} {seconds:8.1f} s")
