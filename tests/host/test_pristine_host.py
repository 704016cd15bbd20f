"""The README's install path on a pristine Debian 12 host: `./bootstrap host` in a privileged container made from a
debootstrapped bookworm minbase (nothing else installed), given only what every fresh machine here has (the CA
trust, pip's settings and the package-index settings). Then the Docker postconditions, checked independently of
bootstrap's own check: docker.io installed ("ii"), docker-proxy present, Compose v2, the daemon answers, and a
container with a port published on 127.0.0.1 answers.
"""
from __future__ import annotations

import io
import subprocess
import tarfile
import uuid

import pytest

from alertstack import pristine
from alertstack.paths import REPO_ROOT

pytestmark = pytest.mark.pristine


def _repo_copy() -> bytes:
    """The committed tree plus the working changes (what a user clones), without the venv or build outputs."""
    buffer = io.BytesIO()
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO_ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for rel in files:
            if (REPO_ROOT / rel).is_file() and not rel.startswith(".venv"):
                tar.add(REPO_ROOT / rel, arcname=f"ai-alerting/{rel}")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def bootstrapped():
    if not pristine.docker_available():
        pytest.skip("no Docker daemon")
    name = f"pristine-{uuid.uuid4().hex[:8]}"
    try:
        pristine.start(name)
        pristine.copy_into(name, _repo_copy(), "/root")
        yield name, pristine.run(name, "cd /root/ai-alerting && ./bootstrap host", timeout=1500)
    finally:
        pristine.remove(name)


def _exec(name: str, cmd: str) -> subprocess.CompletedProcess:
    return pristine.run(name, cmd, timeout=300)


def test_bootstrap_host_succeeds_on_a_pristine_debian_12(bootstrapped):
    name, boot = bootstrapped
    assert boot.returncode == 0, boot.stdout[-4000:] + boot.stderr[-4000:]
    assert "docker-host-check: ok: container published on 127.0.0.1" in boot.stdout


def test_the_engine_package_is_installed_not_removed(bootstrapped):
    name, _ = bootstrapped
    status = _exec(name, "dpkg-query -W -f='${db:Status-Abbrev}' docker.io docker-cli docker-compose").stdout
    assert status.split() == ["ii", "ii", "ii"], status


def test_docker_proxy_exists_and_compose_is_v2(bootstrapped):
    name, _ = bootstrapped
    assert _exec(name, "command -v docker-proxy").returncode == 0
    version = _exec(name, "docker compose version --short").stdout.strip().lstrip("v")
    assert int(version.split(".")[0]) >= 2, version


def test_libc_stays_the_hosts_own(bootstrapped):
    name, _ = bootstrapped
    libc = _exec(name, "apt-cache policy libc6 | sed -n 's/ *Installed: //p'").stdout.strip()
    assert libc.startswith("2.36"), libc  # bookworm's libc, not sid's


def test_a_container_published_on_loopback_answers(bootstrapped):
    name, _ = bootstrapped
    out = _exec(name, "cd /root/ai-alerting && files/docker-host-check.sh docker.io")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "answers" in out.stdout.splitlines()[-1]
