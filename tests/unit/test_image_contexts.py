"""The offline images' build contexts (files/images): the Debian-packaged binaries share one install step."""
from __future__ import annotations

import subprocess

import pytest
import yaml

from alertstack.paths import IMAGES_DIR, ROLES

SCRIPT = IMAGES_DIR / "debian-package.sh"


def _dockerfiles():
    return sorted(IMAGES_DIR.glob("*/Dockerfile"))


@pytest.mark.parametrize("dockerfile", _dockerfiles(), ids=lambda p: p.parent.name)
def test_every_image_of_a_debian_packaged_binary_installs_it_with_the_shared_step(dockerfile):
    text = dockerfile.read_text()
    if "apt-get" in text:      # the project's own Python runtime installs libraries, not a binary to lay out
        assert dockerfile.parent.name == "python-runtime"
        return
    assert "COPY debian-package.sh /usr/local/sbin/" in text
    assert "RUN sh /usr/local/sbin/debian-package.sh -p " in text and '-e "' in text  # the version is checked


def test_the_role_and_the_lab_build_with_files_images_as_the_context():
    """A Dockerfile under files/images/<context>/ only finds debian-package.sh when the context is files/images."""
    for tasks in ("build.yml", "registry.yml"):
        build = next(t["community.docker.docker_image"]["build"]
                     for t in yaml.safe_load((ROLES / "images" / "tasks" / tasks).read_text())
                     if "community.docker.docker_image" in t and t["community.docker.docker_image"].get("build"))
        assert build["dockerfile"] == "{{ item.context }}/Dockerfile", tasks
        assert not build["path"].rstrip("/").endswith("{{ item.context }}"), tasks


@pytest.mark.parametrize("args,message", [
    ([], "-p, -v and -e are required"),
    (["-p", "x", "-v", "true"], "-p, -v and -e are required"),
    (["-x"], "usage: debian-package.sh -p PACKAGES"),
])
def test_the_install_step_refuses_missing_arguments_before_installing_anything(args, message):
    run = subprocess.run(["sh", str(SCRIPT), *args], capture_output=True, text=True, timeout=10)
    assert run.returncode == 2 and message in run.stderr
