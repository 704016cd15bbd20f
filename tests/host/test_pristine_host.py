"""The README's install path on a pristine Debian 12 host: `./bootstrap host` in a privileged container made from a
debootstrapped bookworm minbase (nothing else installed), given only what every fresh machine here has (the CA
trust, pip's settings and the package-index settings). Then the Docker postconditions, checked independently of
bootstrap's own check: docker.io installed ("ii"), docker-proxy present, Compose v2, the daemon answers, and a
container with a port published on 127.0.0.1 answers.
"""
from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
import uuid
from pathlib import Path

import pytest

from alertstack.paths import REPO_ROOT

pytestmark = pytest.mark.pristine

IMAGE = "ai-alerting/pristine:bookworm"
MIRROR = "http://deb.debian.org/debian"


def _sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def pristine_image():
    if shutil.which("docker") is None or _sh(["docker", "info"]).returncode:
        pytest.skip("no Docker daemon")
    if _sh(["docker", "image", "inspect", IMAGE]).returncode == 0:
        return IMAGE
    with tempfile.TemporaryDirectory() as root:
        proc = _sh(["debootstrap", "--variant=minbase", "bookworm", root, MIRROR], timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        imp = _sh(["docker", "import", "-", IMAGE], stdin=tar.stdout, timeout=600)
        tar.wait()
        assert imp.returncode == 0, imp.stderr
    return IMAGE


def _host_settings(tmp: Path) -> Path:
    """What a fresh machine here is given: CA certificates, pip.conf, apt sources and apt settings."""
    bundle = tmp / "settings.tar"
    with tarfile.open(bundle, "w") as tar:
        for path in [*Path("/usr/local/share/ca-certificates").glob("*.crt"), Path("/etc/pip.conf"),
                     *Path("/etc/apt/sources.list.d").glob("*.sources"), Path("/etc/apt/sources.list"),
                     *Path("/etc/apt/apt.conf.d").glob("99*")]:
            if path.is_file():
                tar.add(path, arcname=str(path).lstrip("/"))
    return bundle


def _repo_copy(tmp: Path) -> Path:
    """The committed tree plus the working changes (what a user clones), without the venv or build outputs."""
    archive = tmp / "repo.tar"
    files = _sh(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO_ROOT).stdout.split()
    with tarfile.open(archive, "w") as tar:
        for rel in files:
            if (REPO_ROOT / rel).is_file() and not rel.startswith(".venv"):
                tar.add(REPO_ROOT / rel, arcname=f"ai-alerting/{rel}")
    return archive


@pytest.fixture(scope="module")
def bootstrapped(pristine_image, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pristine")
    name = f"pristine-{uuid.uuid4().hex[:8]}"
    volume = f"{name}-docker"
    run = _sh(["docker", "run", "-d", "--privileged", "--name", name,
               "-v", f"{volume}:/var/lib/docker", pristine_image, "sleep", "3600"])
    assert run.returncode == 0, run.stderr
    try:
        for bundle, dest in ((_host_settings(tmp), "/"), (_repo_copy(tmp), "/root")):
            with open(bundle, "rb") as stream:
                cp = _sh(["docker", "cp", "-", f"{name}:{dest}"], stdin=stream)
            assert cp.returncode == 0, cp.stderr
        script = ("set -e; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                  "ca-certificates >/dev/null && update-ca-certificates >/dev/null; cd /root/ai-alerting && ./bootstrap host")
        boot = _sh(["docker", "exec", name, "bash", "-c", script], timeout=1500)
        yield name, boot
    finally:
        _sh(["docker", "rm", "-f", name])
        _sh(["docker", "volume", "rm", "-f", volume])


def _exec(name: str, cmd: str) -> subprocess.CompletedProcess:
    return _sh(["docker", "exec", name, "bash", "-c", cmd], timeout=300)


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
