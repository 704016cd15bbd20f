"""alertstack.drills.timeline: events, steps, measurements and the JSON round trip."""
import json

import pytest

from alertstack.drills import timeline as tl
from alertstack.drills.timeline import Timeline

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def _drill() -> Timeline:
    t = Timeline.new("latency", now=T0 - 5, slo="inference-latency")
    t.add(tl.FAULT_INJECTED, at=T0, command="deploy gateway config latency_ms=500")
    t.add(tl.ALERT_FIRING, at=T0 + 180, alertname="InferenceLatencyBurnRateCritical")
    t.add(tl.ALERT_PENDING, at=T0 + 60, alertname="InferenceLatencyBurnRateCritical")  # out of order on purpose
    t.add(tl.NOTIFICATION, at=T0 + 190, kind="slack", channel="ai-infra-incidents")
    t.add(tl.NOTIFICATION, at=T0 + 186, kind="pagerduty", channel="pagerduty")
    t.add(tl.NOTIFICATION, at=T0 + 183, kind="webhook", channel="generic")  # machine stream: not "notified"
    t.add(tl.MITIGATION, at=T0 + 200, command="rollback")
    t.add(tl.ALERT_RESOLVED, at=T0 + 500)
    t.add(tl.RESOLVED_NOTIFICATION, at=T0 + 530, kind="pagerduty")
    t.step("alert firing", tl.PASSED, deadline_s=300, elapsed_s=180)
    t.step("alert pending", tl.SKIPPED, message="for: 0")
    return t


def test_new_timeline_has_a_readable_incident_id():
    t = Timeline.new("errors", now=T0)
    assert t.incident_id == "DRILL-20270115-080000-errors"
    assert not t.passed  # no step recorded yet: nothing proven


def test_events_stay_in_time_order_and_can_be_queried():
    t = _drill()
    assert [e.name for e in t.events[:3]] == [tl.FAULT_INJECTED, tl.ALERT_PENDING, tl.ALERT_FIRING]
    assert t.first(tl.NOTIFICATION).detail["kind"] == "webhook"
    assert t.first_human_notification().detail["kind"] == "pagerduty"
    assert t.first(tl.NOTIFICATION, kind="slack").at == T0 + 190
    assert t.first(tl.NOTIFICATION, kind="email") is None
    assert len(t.named(tl.NOTIFICATION)) == 3


def test_measurements():
    m = _drill().measurements()
    assert m == {"mttd_s": 180, "time_to_notify_s": 186, "mttr_s": 200, "time_to_resolve_s": 500,
                 "mitigation_to_resolved_s": 300, "mitigation_to_resolved_notification_s": 330}


def test_missing_events_give_none():
    t = Timeline.new("drift", now=T0)
    t.add(tl.FAULT_INJECTED, at=T0)
    assert t.measurements()["mttd_s"] is None


def test_a_failed_step_fails_the_timeline():
    t = _drill()
    assert t.passed
    t.step("resolved notification", tl.FAILED, deadline_s=600, message="missed")
    assert not t.passed
    assert [s.name for s in t.failed_steps()] == ["resolved notification"]
    with pytest.raises(ValueError, match="status 'ok'"):
        t.step("x", "ok")


def test_json_round_trip(tmp_path):
    t = _drill()
    t.meta["bound"] = {"total_s": float("inf")}
    path = t.save(tmp_path / "incidents" / t.incident_id / "timeline.json")
    data = json.loads(path.read_text())
    assert data["meta"]["bound"]["total_s"] is None  # strict JSON, no Infinity
    fi = data["events"][0]
    assert fi["time"] == "2027-01-15T08:00:00.000Z" and fi["offset_s"] == 0
    assert data["events"][-1]["offset_s"] == 530
    assert data["measurements"]["mttd_s"] == 180 and data["passed"] is True
    back = Timeline.load(path)
    assert back.measurements() == t.measurements()
    assert [(e.name, e.at, e.detail) for e in back.events] == [(e.name, e.at, e.detail) for e in t.events]
    assert [s.status for s in back.steps] == ["passed", "skipped"]


def test_from_dict_rejects_garbage():
    with pytest.raises(ValueError, match="not a drill timeline"):
        Timeline.from_dict({"scenario": "x"})
