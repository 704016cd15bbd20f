"""Shared fixtures: the offline images the docker-marked tests need, and a timing table per test stage."""
from __future__ import annotations

import subprocess

import pytest

from alertstack import ansible
from alertstack.images import OFFLINE


def _missing_images() -> list[str]:
    missing = []
    for tag in OFFLINE.values():
        if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode != 0:
            missing.append(tag)
    return missing


@pytest.fixture(scope="session", autouse=True)
def offline_images(request):
    """Build the offline images once (with the real images role) if a docker-marked test needs them."""
    needs_docker = any(item.get_closest_marker(m) for item in request.session.items
                       for m in ("docker", "molecule", "e2e", "lab"))
    if not needs_docker or not _missing_images():
        return
    run = ansible.playbook("local", playbook="tests/images.yml", echo=False)
    assert run.ok, f"building the offline images failed:\n{run.output[-3000:]}"
    assert not _missing_images(), f"images still missing: {_missing_images()}"


_STAGE_SECONDS: dict[str, float] = {}
_STAGE_COUNTS: dict[str, int] = {}


def pytest_runtest_logreport(report):
    """Add each test phase's duration (fixtures included) to its stage: the directory under tests/."""
    parts = report.nodeid.split("/")
    stage = "/".join(parts[:2]) if len(parts) > 2 else parts[0]
    _STAGE_SECONDS[stage] = _STAGE_SECONDS.get(stage, 0.0) + report.duration
    if report.when == "call":
        _STAGE_COUNTS[stage] = _STAGE_COUNTS.get(stage, 0) + 1


def pytest_terminal_summary(terminalreporter):
    """A per-stage timing table at the end of every run, so a stage that grows is visible in CI's output."""
    if not _STAGE_SECONDS:
        return
    terminalreporter.section("time per stage")
    for stage, seconds in sorted(_STAGE_SECONDS.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"{stage:20} {seconds:8.1f} s  {_STAGE_COUNTS.get(stage, 0):5d} tests")
    terminalreporter.write_line(f"{'total':20} {sum(_STAGE_SECONDS.values()):8.1f} s")
