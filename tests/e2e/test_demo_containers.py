"""The notification_sink and demo_platform roles deployed for real (Ansible + Compose) under a throw-away project,
network, stack root and random loopback ports; then faults are injected and mitigated against the containers."""
from __future__ import annotations

import json
import shutil
import smtplib
import subprocess
import time
import uuid
from email.message import EmailMessage

import pytest

from alertstack import faults
from alertstack import sink as sink_client
from alertstack.localstack import LocalStack
from alertstack.paths import REPO_ROOT, VENV_BIN

from demo_processes import free_port, http

pytestmark = pytest.mark.e2e

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.file: {path: "{{ stack_root }}/compose", state: directory, mode: "0755"}
    - ansible.builtin.include_role: {name: notification_sink}
    - ansible.builtin.include_role: {name: demo_platform}
    - ansible.builtin.include_role: {name: stack, tasks_from: converge}
"""


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    if shutil.which("docker") is None or subprocess.run(["docker", "info"], capture_output=True).returncode:
        pytest.skip("no Docker daemon")
    tmp = tmp_path_factory.mktemp("demo-e2e")
    name = f"demotest{uuid.uuid4().hex[:6]}"
    ports = {k: free_port() for k in ("gw", "fs", "dm", "sink", "smtp")}
    extra = {"stack_root": str(tmp / "root"), "stack_project": name, "stack_network": name,
             "stack_bind_address": "127.0.0.1", "stack_render_only": False, "images_mode": "offline",
             "notification_sink_enabled": True, "demo_platform_enabled": True,
             "notification_sink_http_port": ports["sink"], "notification_sink_smtp_port": ports["smtp"],
             "demo_platform_gateway_port": ports["gw"], "demo_platform_feature_store_port": ports["fs"],
             "demo_platform_drift_monitor_port": ports["dm"], "demo_platform_drift_interval_s": 2,
             "demo_platform_drift_window_s": 30, "ansible_python_interpreter": str(VENV_BIN / "python")}
    (tmp / "play.yml").write_text(PLAY)
    (tmp / "vars.json").write_text(json.dumps(extra))
    subprocess.run(["docker", "network", "create", name], check=True, capture_output=True)
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "-e", f"@{tmp / 'vars.json'}",
           str(tmp / "play.yml")]
    try:
        proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        stack = LocalStack(root=tmp / "root", project=name, gateway_url=f"http://127.0.0.1:{ports['gw']}",
                           sink_url=f"http://127.0.0.1:{ports['sink']}")
        yield stack, ports, cmd, proc
    finally:
        faults.stop_drift(LocalStack(root=tmp / "root", project=name))
        compose = tmp / "root" / "compose"
        files = [a for f in ("demo-platform.yml", "notification-sink.yml") if (compose / f).exists()
                 for a in ("-f", str(compose / f))]
        if files:
            subprocess.run(["docker", "compose", "-p", name, *files, "down", "-v", "--timeout", "3"],
                           capture_output=True, timeout=120)
        subprocess.run(["docker", "network", "rm", name], capture_output=True)


def test_second_run_changes_nothing(deployed):
    _, _, cmd, _ = deployed
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "changed=0" in proc.stdout, proc.stdout[-3000:]


def test_sink_in_a_container_stores_posts_and_mail(deployed):
    stack, ports, _, _ = deployed
    assert http("POST", f"{stack.sink_url}/slack/oncall",
                {"attachments": [{"title": "[FIRING:1] Watchdog"}]}) == (200, "ok")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "am@example.org", "oncall@example.org", "[RESOLVED] Watchdog"
    msg.set_content("alertname = Watchdog")
    with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=10) as smtp:
        smtp.send_message(msg)
    kinds = sorted((m["kind"], m["status"]) for m in sink_client.messages(stack.sink_url, alertname="Watchdog"))
    assert kinds == [("email", "resolved"), ("slack", "firing")]
    # the JSON-lines file is written in the volume by uid 65534
    out = subprocess.run(["docker", "exec", stack.container("notification-sink"), "wc", "-l", "/data/messages.jsonl"],
                         capture_output=True, text=True)
    assert out.stdout.startswith("2 "), out


def test_gateway_serves_and_faults_act_on_the_real_containers(deployed):
    stack, ports, _, _ = deployed
    status, body = http("POST", f"{stack.gateway_url}/predict", {"user_id": "u7", "features": {"user_age": 30}})
    assert status == 200 and body["release"] == "1.0.0"
    text = http("GET", f"{stack.gateway_url}/metrics")[1]
    assert 'le="0.3"' in text and "feature_fetch_total 1.0" in text

    result = faults.inject("errors", stack)
    assert result["version"] == "1.0.1" and result["reloaded"]
    codes = [http("POST", f"{stack.gateway_url}/predict", {"user_id": f"u{i}", "features": {"user_age": 30}})[0]
             for i in range(30)]
    assert 500 in codes and 200 in codes
    assert faults.mitigate("errors", stack)["version"] == "1.0.0"

    assert faults.inject("feature-store", stack)["changed"]
    status, body = http("POST", f"{stack.gateway_url}/predict", {"user_id": "u7", "features": {"user_age": 30}})
    assert status == 503 and "FeatureNotFound" in body["error"]
    assert faults.mitigate("feature-store", stack)["changed"]
    deadline = time.monotonic() + 20
    while http("POST", f"{stack.gateway_url}/predict", {"user_id": "u7", "features": {"user_age": 30}})[0] != 200:
        assert time.monotonic() < deadline, "gateway still failing after the feature store started"
        time.sleep(0.5)

    faults.inject("gpu-oom", stack)
    result = faults.mitigate("gpu-oom", stack)
    assert result["restarted"] and result["version"] == "1.0.0"
    text = http("GET", f"http://127.0.0.1:{ports['gw']}/metrics")[1]
    assert "inference_gpu_memory_used_bytes{gpu=\"0\"} 6.442450944e+09" in text


def test_drift_monitor_container_reports_psi_of_drifted_traffic(deployed):
    stack, ports, _, _ = deployed
    faults.inject("drift", stack)
    try:
        deadline = time.monotonic() + 60
        while True:
            text = http("GET", f"http://127.0.0.1:{ports['dm']}/metrics")[1]
            line = [ln for ln in text.splitlines()
                    if ln.startswith('model_drift_psi{feature_name="user_age",metric_type="feature"')]
            if line and float(line[0].split()[-1]) > 0.25:
                break
            assert time.monotonic() < deadline, text
            time.sleep(1)
    finally:
        assert faults.mitigate("drift", stack)["changed"]
