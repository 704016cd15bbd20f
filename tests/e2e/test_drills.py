"""Incident drills end to end on the stack deployed by the real playbook (fixture `deployed_stack`, a LocalStack).

- the latency, errors and gpu-oom drills pass: the page arrives within 5 minutes of the fault, the resolved notification
  within 10 minutes of the mitigation, on exactly the channels the routing policy promises, and each drill writes
  its incident directory;
- a drill leaves the stack healthy (it can run again at once), and Ctrl-C still rolls the fault back;
- a silence added with alertstack.silences stops the page during a fault, and expiring it lets the next one through.
"""
from __future__ import annotations

import _thread
import io
import json
import sys
import threading
import time
from pathlib import Path

import pytest

from alertstack import faults, silences
from alertstack import api as prom
from alertstack.drills.runner import notifications_about, run_drill
from alertstack.loadgen import BackgroundLoad

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

PAGE_GOAL_S = 300       # the critical page within 5 minutes of the fault
RESOLVED_GOAL_S = 600   # the resolved notification within 10 minutes of the mitigation


def _healthy(stack) -> None:
    """What clean-up must restore: the good release, no fault state left behind."""
    assert not stack.previous_release_file.exists(), "a bad release is still deployed"
    health = faults.gateway_health(stack)
    assert health and health.get("status") == "ok", health


def _wait(what: str, check, timeout_s: float, poll_s: float = 2.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(poll_s)
    pytest.fail(f"{what} not within {timeout_s:.0f}s")


def _check_drill(result, out_dir: Path) -> None:
    print(result.summary())
    assert result.passed, result.summary()
    m = result.measurements
    assert m["time_to_notify_s"] is not None and m["time_to_notify_s"] <= PAGE_GOAL_S, m
    assert m["mitigation_to_resolved_notification_s"] is not None
    assert m["mitigation_to_resolved_notification_s"] <= RESOLVED_GOAL_S, m
    assert result.bound is not None and result.bound.total_s > 0
    d = result.incident_dir
    assert d is not None and d.parent == out_dir
    timeline = json.loads((d / "timeline.json").read_text())
    names = [e["name"] for e in timeline["events"]]
    for event in ("fault_injected", "alert_firing", "notification", "mitigation_executed", "alert_resolved",
                  "resolved_notification"):
        assert event in names, f"{event} missing from the timeline: {names}"
    assert (d / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    review = (d / "review.md").read_text()
    assert "MTTD" in review and "Root cause" in review and "Action items" in review


# gpu-oom runs on the demo platform's DCGM-shaped GPU series (GPUMemoryHigh's `for` shortened in inventories/local).
@pytest.mark.parametrize("scenario", ["latency", "errors", "gpu-oom"])
def test_drill_passes_end_to_end(deployed_stack, tmp_path, scenario):
    result = run_drill(scenario, deployed_stack, out_dir=tmp_path)
    _check_drill(result, tmp_path)
    _healthy(deployed_stack)


class _CtrlCAfterInjection(io.StringIO):
    """The drill's progress stream: a second after "fault injected" is printed, Ctrl-C hits the main thread."""

    def __init__(self):
        super().__init__()
        self.fired = False

    def write(self, text: str) -> int:
        sys.stdout.write(text)
        if "fault injected" in text and not self.fired:
            self.fired = True
            threading.Timer(1.0, _thread.interrupt_main).start()  # exactly what Ctrl-C does
        return super().write(text)


def test_interrupted_drill_rolls_the_fault_back(deployed_stack, tmp_path):
    """Ctrl-C while the drill waits for the alert: the fault is rolled back, the report still written, and the
    KeyboardInterrupt reaches the caller (the CLI turns it into exit status 130)."""
    progress = _CtrlCAfterInjection()
    with pytest.raises(KeyboardInterrupt):
        run_drill("errors", deployed_stack, out_dir=tmp_path, out=progress)
    output = progress.getvalue()
    assert progress.fired, output
    assert "clean-up: invoke fault rollback --scenario errors" in output, output
    _healthy(deployed_stack)
    reports = list(tmp_path.glob("DRILL-*-errors/timeline.json"))
    assert len(reports) == 1, output
    timeline = json.loads(reports[0].read_text())
    assert {"name": "drill completed", "status": "failed"}.items() <= timeline["steps"][-1].items()
    assert [e["detail"].get("cleanup") for e in timeline["events"] if e["name"] == "mitigation_executed"] == [True]


def test_silence_stops_the_page_and_expiring_it_lets_the_next_through(deployed_stack):
    stack = deployed_stack
    alertname = "InferenceLatencyBurnRateCritical"
    auth = stack.auth
    sid = silences.add(stack.alertmanager_url, [f"alertname={alertname}"], "30m", "e2e: silence during a drill",
                       "pytest", auth=auth)
    expired = False
    load = BackgroundLoad(f"{stack.gateway_url.rstrip('/')}/predict", rps=5, duration_s=900).start()
    try:
        _wait(f"{alertname} inactive before the fault",
              lambda: not prom.alerts(stack.prometheus_url, auth, alertname), 420)
        t_fault = faults.inject("latency", stack)["at"]
        _wait(f"{alertname} firing", lambda: [a for a in prom.alerts(stack.prometheus_url, auth, alertname)
                                              if a["state"] == "firing"], PAGE_GOAL_S)
        # Alertmanager has it, and mutes it with our silence.
        held = _wait("Alertmanager to hold the silenced alert",
                     lambda: [a for a in prom.alertmanager_alerts(stack.alertmanager_url, auth, alertname)
                              if sid in a.get("status", {}).get("silencedBy", [])], 90)
        assert held[0]["status"]["state"] == "suppressed"
        time.sleep(45)  # well past group_wait (10s) and a group_interval (30s): anything unsilenced would be here
        assert notifications_about(stack, alertname, since=t_fault) == [], "the silence leaked"

        silences.expire(stack.alertmanager_url, sid, auth=auth)
        expired = True
        t_expired = time.time()
        pages = _wait("the page after the silence expired",
                      lambda: notifications_about(stack, alertname, since=t_fault, kind="pagerduty", status="firing"),
                      120)
        assert pages[0]["received_at"] >= t_expired
    finally:
        if not expired:
            silences.expire(stack.alertmanager_url, sid, auth=auth)
        faults.mitigate("latency", stack)
        load.stop()
    _healthy(stack)
