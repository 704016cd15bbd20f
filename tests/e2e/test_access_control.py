"""Secrets and access control on the running local stack (issue 7)."""
from __future__ import annotations

import json
import stat
import subprocess
from datetime import datetime, timedelta, timezone

import pytest
import requests


def _project_containers(stack) -> list[dict]:
    ids = subprocess.run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={stack.project}"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert ids, "no container of the stack is running"
    return json.loads(subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=True).stdout)


@pytest.mark.parametrize("path", ["/api/v1/query?query=up", "/api/v1/rules", "/-/ready", "/metrics"])
def test_prometheus_requires_authentication(deployed_stack, path):
    assert requests.get(deployed_stack.prometheus_url + path, timeout=10).status_code == 401
    assert requests.get(deployed_stack.prometheus_url + path, auth=("ops", "wrong-password"), timeout=10).status_code == 401
    assert requests.get(deployed_stack.prometheus_url + path, auth=deployed_stack.auth, timeout=10).status_code == 200


@pytest.mark.parametrize("path", ["/api/v2/status", "/api/v2/alerts", "/api/v2/silences", "/-/ready"])
def test_alertmanager_requires_authentication(deployed_stack, path):
    assert requests.get(deployed_stack.alertmanager_url + path, timeout=10).status_code == 401
    assert requests.get(deployed_stack.alertmanager_url + path, auth=deployed_stack.auth, timeout=10).status_code == 200


def test_silence_creation_requires_authentication(deployed_stack):
    now = datetime.now(timezone.utc)
    silence = {"matchers": [{"name": "alertname", "value": "AccessControlTest", "isRegex": False, "isEqual": True}],
               "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=5)).isoformat(),
               "createdBy": "tests", "comment": "access control test"}
    url = f"{deployed_stack.alertmanager_url}/api/v2/silences"
    assert requests.post(url, json=silence, timeout=10).status_code == 401
    created = requests.post(url, json=silence, auth=deployed_stack.auth, timeout=10)
    assert created.status_code == 200, created.text
    silence_id = created.json()["silenceID"]
    gone = requests.delete(f"{deployed_stack.alertmanager_url}/api/v2/silence/{silence_id}", auth=deployed_stack.auth,
                           timeout=10)
    assert gone.status_code == 200


def test_no_secret_in_docker_inspect(deployed_stack):
    dump = json.dumps(_project_containers(deployed_stack))
    leaked = [s for s in deployed_stack.secret_values() if s in dump]
    assert not leaked, f"{len(leaked)} secret value(s) visible in docker inspect"


def test_ports_are_published_on_loopback_only(deployed_stack):
    for container in _project_containers(deployed_stack):
        for bindings in (container["HostConfig"].get("PortBindings") or {}).values():
            for binding in bindings or []:
                assert binding["HostIp"] == "127.0.0.1", f"{container['Name']} publishes on {binding['HostIp'] or '*'}"


def test_secret_files_are_private_and_owned_by_the_container_user(deployed_stack):
    secret_files = sorted(deployed_stack.root.glob("*/secrets/*"))
    assert any(p.parent.parent.name == "alertmanager" for p in secret_files)
    assert any(p.parent.parent.name == "prometheus" for p in secret_files)
    for path in secret_files:
        st = path.stat()
        assert stat.S_IMODE(st.st_mode) in (0o600, 0o640), f"{path} has mode {oct(stat.S_IMODE(st.st_mode))}"
        assert st.st_uid != 0 or stat.S_IMODE(st.st_mode) == 0o640, f"{path} is owned by root"
        assert not st.st_mode & stat.S_IROTH, f"{path} is world-readable"
    for directory in {p.parent for p in secret_files}:
        assert not directory.stat().st_mode & stat.S_IROTH, f"{directory} is world-readable"


def test_secret_mounts_are_read_only(deployed_stack):
    for container in _project_containers(deployed_stack):
        for mount in container["Mounts"]:
            if mount["Type"] == "bind" and str(deployed_stack.root) in mount["Source"]:
                assert mount["RW"] is False, f"{container['Name']} mounts {mount['Source']} read-write"


def test_no_secret_in_non_secret_files(deployed_stack):
    leaked = []
    for path in deployed_stack.root.rglob("*"):
        if not path.is_file() or "secrets" in path.parts or path.suffix in (".json", ".log", ".jsonl"):
            continue
        text = path.read_text(errors="replace")
        leaked += [f"{path}" for s in deployed_stack.secret_values() if s in text]
    assert not leaked, f"secret values in non-secret files: {sorted(set(leaked))}"
