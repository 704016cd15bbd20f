"""Shared fixtures: the repository root on sys.path, and the offline images the docker-marked tests need."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from alertstack import ansible  # noqa: E402
from alertstack.images import OFFLINE  # noqa: E402


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
                       for m in ("docker", "molecule", "e2e"))
    if not needs_docker or not _missing_images():
        return
    run = ansible.playbook("local", playbook="tests/images.yml", echo=False)
    assert run.ok, f"building the offline images failed:\n{run.output[-3000:]}"
    assert not _missing_images(), f"images still missing: {_missing_images()}"
