"""The real playbook against this machine: idempotence, smoke, and bad input that must change nothing."""
from __future__ import annotations

import hashlib
import json

import requests

from alertstack import ansible, endpoints, smoke
from alertstack.paths import REPO_ROOT


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_smoke_passes_on_the_deployed_stack(deployed_stack):
    report = smoke.smoke(endpoints.for_env("local"), timeout_s=120)
    failed = [f"{c.name}: {c.detail}" for c in report.checks if not c.ok]
    assert report.ok, f"smoke checks failed: {failed}"
    names = {c.name for c in report.checks}
    assert {"Every scrape target is up", "Rules loaded", "Synthetic alert comes out of a receiver"} <= names


def test_second_run_changes_nothing_and_prints_no_secret(deployed_stack):
    run = ansible.playbook("local", args=["-v"], echo=False)
    assert run.ok, run.output[-4000:]
    recap = ansible.recap(run.output)
    assert recap["localhost"]["changed"] == 0, [
        line for line in run.output.splitlines() if line.startswith("changed:")]
    leaked = [s for s in deployed_stack.secret_values() if s in run.output]
    assert not leaked, "secret values appear in ansible-playbook -v output"


def _prometheus_config(stack) -> str:
    return requests.get(f"{stack.prometheus_url}/api/v1/status/config", auth=stack.auth, timeout=10).json()["data"]["yaml"]


def _failed_run(stack, live_file: str, bad: dict):
    """Deploy with the bad extra vars `bad`, which must fail; returns (the live file, its sha before, the run)."""
    live = stack.root / live_file
    before = _sha(live)
    run = ansible.playbook("local", extra_vars=bad, echo=False)
    assert not run.ok
    return live, before, run


def test_invalid_scrape_interval_fails_before_any_host_is_touched(deployed_stack):
    bad = {"prometheus_global": {"scrape_interval": "5 seconds", "scrape_timeout": "4s", "evaluation_interval": "5s"}}
    live, before, run = _failed_run(deployed_stack, "prometheus/prometheus.yml", bad)
    assert "prometheus_global.scrape_interval" in run.output and "5 seconds" in run.output
    assert "Validate inputs on the controller" in run.output
    assert "Prepare every host" not in run.output, "the play went on past preflight"
    assert _sha(live) == before
    assert "scrape_interval: 5s" in _prometheus_config(deployed_stack)


def test_config_rejected_by_promtool_keeps_the_previous_config_live(deployed_stack):
    """A value that passes the preflight shape checks but that Prometheus refuses (timeout > interval) is
    caught by promtool before the live file is replaced; Prometheus keeps serving the old config."""
    bad = {"prometheus_global": {"scrape_interval": "5s", "scrape_timeout": "30s", "evaluation_interval": "5s"}}
    live, before, run = _failed_run(deployed_stack, "prometheus/prometheus.yml", bad)
    assert "prometheus.yml" in run.output and "scrape timeout greater than scrape interval" in run.output
    assert _sha(live) == before
    ready = requests.get(f"{deployed_stack.prometheus_url}/-/ready", auth=deployed_stack.auth, timeout=10)
    assert ready.status_code == 200
    assert "scrape_timeout: 4s" in _prometheus_config(deployed_stack)


def test_route_to_unknown_receiver_fails_and_alertmanager_keeps_its_config(deployed_stack):
    status = requests.get(f"{deployed_stack.alertmanager_url}/api/v2/status", auth=deployed_stack.auth, timeout=10)
    original = status.json()["config"]["original"]
    bad_route = {"alertmanager_route": {"receiver": "team-that-does-not-exist", "group_by": ["alertname"]}}
    live, before, run = _failed_run(deployed_stack, "alertmanager/alertmanager.yml", bad_route)
    assert "team-that-does-not-exist" in run.output
    assert _sha(live) == before
    after = requests.get(f"{deployed_stack.alertmanager_url}/api/v2/status", auth=deployed_stack.auth, timeout=10)
    assert after.json()["config"]["original"] == original


def test_missing_secret_fails_early_naming_the_variable(tmp_path):
    """An inventory without the local secrets file: the preflight names the missing variables."""
    import shutil
    inv = tmp_path / "inv"
    shutil.copytree(REPO_ROOT / "inventories" / "local", inv)
    (inv / "group_vars" / "all" / "secrets.yml").unlink()
    import subprocess
    proc = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inv),
                           str(REPO_ROOT / "playbooks" / "preflight.yml")],
                          cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "stack_api_password" in proc.stdout + proc.stderr
