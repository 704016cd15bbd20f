"""alertstack.oncall and `invoke oncall-report` on seeded data: a notification history written in the sink's own
format (messages.jsonl, with a clear in the middle) and incident timelines as the drills write them."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from alertstack import oncall, oncall_report, rendered

# Monday 2026-11-02 00:00 UTC; the report ends four weeks later.
T0 = datetime(2026, 11, 2, tzinfo=timezone.utc).timestamp()
NOW = T0 + 4 * oncall.WEEK_S
H, D = 3600, 86400


def message(at, kind, channel, name, status="firing", labels=None, **extra):
    return {"id": 0, "received_at": at, "kind": kind, "channel": channel, "alertnames": [name] if name else [],
            "status": status, "labels": labels or {}, "alerts": [], "format": kind, "payload": {}, **extra}


def seeded_history() -> list[dict]:
    critical = {"severity": "critical", "team": "ml-platform", "service": "inference-gateway"}
    out = []
    # Week 0, Tuesday 14:00 (business hours): a critical page reaching PagerDuty, Slack and the event stream.
    t = T0 + 1 * D + 14 * H
    out += [message(t, "pagerduty", "events-v2", "InferenceErrorRateCritical", labels=critical, dedup_key="k1"),
            message(t + 2, "slack", "ai-infra-incidents", "InferenceErrorRateCritical"),
            message(t + 1, "webhook", "generic", "InferenceErrorRateCritical", labels=critical),
            message(t + 600, "pagerduty", "events-v2", "InferenceErrorRateCritical", "resolved", labels=critical)]
    # Week 1, Saturday 03:00 (out of hours): FeatureStoreDown (high, team data from the rule) by e-mail, twice:
    # the repeat 4 h later is a second page.
    for hours in (0, 4):
        t = T0 + 12 * D + (3 + hours) * H
        out.append(message(t, "email", "oncall@example.org", "FeatureStoreDown"))
    out.append({"cleared_at": T0 + 13 * D})  # a drill cleared the sink: the history keeps what came before
    # Week 2: a noisy warning, 5 notifications, never a page.
    for i in range(5):
        out.append(message(T0 + 15 * D + i * H, "slack", "ai-infra-alerts", "InferenceLatencyElevated"))
    # Week 3, Wednesday 22:00 (out of hours): GPUMemoryHigh (high, ai-infra) on e-mail and Opsgenie.
    t = T0 + 23 * D + 22 * H
    out += [message(t, "email", "oncall@example.org", "GPUMemoryHigh"),
            message(t + 30, "opsgenie", "team:ai-infra", "GPUMemoryHigh", labels={"severity": "high",
                                                                                 "team": "ai-infra"})]
    # Outside the four weeks, and a message no alert name could be read from.
    out += [message(T0 - D, "pagerduty", "events-v2", "InferenceErrorRateCritical", labels=critical),
            message(T0 + 20 * D, "slack", "ai-infra-alerts", None)]
    return out


def seed_incident(directory: Path, name: str, started: float, mttd: float, mttr: float, alert: str) -> None:
    (directory / name).mkdir(parents=True)
    (directory / name / "timeline.json").write_text(json.dumps({
        "incident_id": name, "scenario": name.split("-")[-1], "started_at": started, "passed": True, "events": [],
        "measurements": {"mttd_s": mttd, "time_to_notify_s": mttd + 5, "mttr_s": mttr,
                         "time_to_resolve_s": mttr + 30}, "meta": {"alertname": alert}}))


@pytest.fixture
def seeded(tmp_path):
    history = tmp_path / "messages.jsonl"
    history.write_text("\n".join(json.dumps(m) for m in seeded_history()) + "\n{torn")
    incidents = tmp_path / "incidents"
    seed_incident(incidents, "DRILL-1-latency", T0 + 2 * D, 240, 400, "InferenceLatencyBurnRateCritical")
    seed_incident(incidents, "DRILL-2-errors", T0 + 9 * D, 180, 300, "InferenceErrorRateCritical")
    seed_incident(incidents, "DRILL-3-feature-store", T0 + 16 * D, 120, 260, "FeatureStoreDown")
    seed_incident(incidents, "DRILL-4-gpu-oom", T0 + 23 * D, 100, 200, "GPUMemoryHigh")
    seed_incident(incidents, "DRILL-0-old", T0 - 3 * D, 999, 999, "FeatureStoreDown")  # before the period
    return history, incidents


@pytest.fixture(scope="module")
def policy():
    return rendered.role_policy()


def test_pages_per_week_team_receiver_noise_and_out_of_hours(seeded, policy):
    history, incidents = seeded
    h = oncall.health(oncall.read_history(history), oncall.read_incidents(incidents), policy, weeks=4, now=NOW)
    assert [oncall.week_label(w) for w in h.weeks] == ["2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23"]
    assert h.pages_per_week("team") == {"ai-infra": [0, 0, 0, 1], "data": [0, 2, 0, 0], "ml-platform": [1, 0, 0, 0]}
    assert h.pages_per_week("receiver") == {
        "email oncall@example.org": [0, 2, 0, 1], "opsgenie team:ai-infra": [0, 0, 0, 1],
        "pagerduty events-v2": [1, 0, 0, 0], "slack ai-infra-incidents": [1, 0, 0, 0]}
    noisy = h.noisiest()
    assert noisy[0] == {"alertname": "InferenceLatencyElevated", "notifications": 5, "pages": 0, "out_of_hours": 0,
                        "severity": "warning", "receivers": 1}
    assert [(p.alertname, datetime.fromtimestamp(p.at, timezone.utc).strftime("%a %H:%M"))
            for p in h.out_of_hours()] == [("FeatureStoreDown", "Sat 03:00"), ("FeatureStoreDown", "Sat 07:00"),
                                          ("GPUMemoryHigh", "Wed 22:00")]
    assert h.skipped == {"event stream / heartbeat webhooks": 1, "resolved or other status": 1, "no alert name": 1}
    assert [i.id for i in h.incidents] == ["DRILL-1-latency", "DRILL-2-errors", "DRILL-3-feature-store",
                                           "DRILL-4-gpu-oom"]
    assert h.trend("mttd_s") == {"count": 4, "first": 210.0, "last": 110.0, "median": 150.0, "change": -100.0}
    assert h.trend("mttr_s")["change"] == pytest.approx(230 - 350)


def test_report_writes_markdown_and_chart(seeded, policy, tmp_path):
    history, incidents = seeded
    h = oncall.health(oncall.read_history(history), oncall.read_incidents(incidents), policy, weeks=4, now=NOW)
    report = oncall_report.write(h, tmp_path / "out", {"history": str(history), "incidents": str(incidents)})
    text = report.read_text()
    assert "4 pages (1.0 per week), 3 out of hours (75 %)" in text
    assert "| data | 0 | 2 | 0 | 0 | 2 |" in text
    assert "| `pagerduty events-v2` | 1 | 0 | 0 | 0 | 1 |" in text
    assert "| MTTD | 4 | 3.5 min | 1.8 min | 2.5 min | faster by 1.7 min |" in text
    assert "2026-11-14 03:00 Sat | FeatureStoreDown | high | data | email oncall@example.org |" in text
    chart = tmp_path / "out" / oncall_report.CHART
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 10_000


def test_empty_period_and_bad_input(tmp_path, policy):
    h = oncall.health([], [], policy, weeks=1, now=NOW)
    assert h.pages == [] and h.trend("mttd_s")["count"] == 0
    assert "None." in oncall_report.markdown(h, {})
    with pytest.raises(oncall.OncallError, match="between 1 and 52"):
        oncall.parse_weeks("0")
    with pytest.raises(oncall.OncallError, match="does not exist"):
        oncall.read_history(tmp_path / "missing.jsonl")
    with pytest.raises(oncall.OncallError, match="no time interval"):
        oncall.business_hours_of({"time_intervals": []})

