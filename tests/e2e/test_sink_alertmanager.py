"""Alertmanager's real integrations (Slack, PagerDuty, webhook, e-mail) deliver to the notification sink, and the
sink reads alert name and status out of each, with Alertmanager's default templates."""
from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from am_sink import alertmanager
from demo_processes import App, free_port

from alertstack import sink as client

pytestmark = pytest.mark.e2e

CONFIG = """
global:
  smtp_smarthost: 127.0.0.1:{smtp}
  smtp_from: alertmanager@example.org
  smtp_require_tls: false
route:
  receiver: all
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: all
    slack_configs:
      - {{api_url: "http://127.0.0.1:{http}/slack/ml-team", channel: "#ml-team", send_resolved: true}}
    pagerduty_configs:
      - {{routing_key: test-routing-key-for-the-sink-0001, url: "http://127.0.0.1:{http}/pagerduty/v2/enqueue",
         send_resolved: true}}
    webhook_configs:
      - {{url: "http://127.0.0.1:{http}/webhook/oncall", send_resolved: true}}
    email_configs:
      - {{to: oncall@example.org, send_resolved: true}}
"""


def post_alert(am_url: str, ends: datetime) -> None:
    alert = [{"labels": {"alertname": "SinkProbeAlert", "severity": "critical", "service": "inference-gateway"},
              "annotations": {"summary": "probe"}, "endsAt": ends.isoformat().replace("+00:00", "Z")}]
    req = urllib.request.Request(f"{am_url}/api/v2/alerts", data=json.dumps(alert).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=5).read()


def test_alertmanager_notifications_arrive_parsed_on_every_channel(tmp_path):
    if shutil.which("docker") is None or subprocess.run(["docker", "info"], capture_output=True).returncode:
        pytest.skip("no Docker daemon")
    http_port, smtp_port = free_port(), free_port()
    sink = App("notification_sink", {"SINK_HOST": "127.0.0.1", "SINK_HTTP_PORT": str(http_port),
                                     "SINK_SMTP_PORT": str(smtp_port), "SINK_DATA_DIR": str(tmp_path / "data")},
               f"http://127.0.0.1:{http_port}/healthz", tmp_path / "sink.log")
    sink_url = f"http://127.0.0.1:{http_port}"
    config = yaml.safe_load(CONFIG.format(http=http_port, smtp=smtp_port))
    try:
        with alertmanager(config, {}, tmp_path / "am", ready_timeout_s=30) as am_url:
            _deliver_and_check(am_url, sink_url)
    finally:
        sink.stop()


def _deliver_and_check(am_url: str, sink_url: str) -> None:
    post_alert(am_url, datetime.now(timezone.utc) + timedelta(minutes=5))
    for kind in ("slack", "pagerduty", "webhook", "email"):
        got = client.wait_for(sink_url, lambda m: m["status"] == "firing", timeout_s=30, poll_s=0.5,
                              kind=kind, alertname="SinkProbeAlert")
        assert got, f"no firing {kind} message: {client.messages(sink_url)}"
    post_alert(am_url, datetime.now(timezone.utc) - timedelta(seconds=1))
    for kind in ("slack", "pagerduty", "webhook", "email"):
        got = client.wait_for(sink_url, lambda m: m["status"] == "resolved", timeout_s=30, poll_s=0.5,
                              kind=kind, alertname="SinkProbeAlert")
        assert got, f"no resolved {kind} message: {client.messages(sink_url, kind=kind)}"
    (page,) = client.messages(sink_url, kind="pagerduty", status="firing")
    assert page["payload"]["routing_key"] == "*" * 30 + "0001"
    assert client.messages(sink_url, kind="slack")[0]["channel"] == "ml-team"
