"""alertstack.drills.suite: which drills run where, and the summary of a run (table, chart, JSON)."""
import json

from alertstack.drills import suite
from alertstack.drills import timeline as tl
from alertstack.drills.bounds import predict
from alertstack.drills.runner import DrillResult


def _result(name: str, passed: bool, t0: float = 1_800_000_000.0, estimate: bool = False) -> DrillResult:
    t = tl.Timeline.new(name, now=t0, alertname=f"Alert{name}")
    t.add(tl.FAULT_INJECTED, at=t0)
    t.add(tl.ALERT_FIRING, at=t0 + 40)
    t.add(tl.NOTIFICATION, at=t0 + 50, kind="pagerduty", channel="events-v2")
    t.add(tl.MITIGATION, at=t0 + 60)
    t.add(tl.ALERT_RESOLVED, at=t0 + 360)
    t.step("alert firing", tl.PASSED if passed else tl.FAILED, 300, 40)
    t.meta["bound_agreement"] = {"agrees": passed, "estimate": estimate}
    return DrillResult(name, t, bound=predict(30, scrape_interval=5, evaluation_interval=5, for_=0, group_wait=10))


def test_grafana_alerts_and_the_network_fault_are_listed_as_not_run_where_they_cannot(monkeypatch):
    monkeypatch.setattr(suite.faults, "netem_supported", lambda: "no netem here")
    run, skipped = suite.runnable(grafana_up=False)
    assert "logging-outage" in skipped and "Grafana" in skipped["logging-outage"]
    assert skipped["network-latency"] == "no netem here"
    assert {"latency", "errors", "feature-store", "drift", "gpu-oom"} <= set(run)
    run, skipped = suite.runnable(names=["errors"], grafana_up=True)
    assert run == ["errors"] and skipped == {}


def test_the_summary_has_a_row_per_drill_with_its_times_and_verdict(tmp_path):
    s = suite.SuiteResult(results=[_result("latency", True), _result("errors", False),
                                   _result("drift", True, estimate=True)],
                          skipped={"logging-outage": "no Grafana"}, started_at=1_800_000_000, finished_at=1_800_000_900)
    assert not s.passed
    d = suite.write_summary(s, tmp_path)
    md = (d / "summary.md").read_text()
    assert "**FAILED** (2/3 drills passed" in md
    assert "| latency | Alertlatency | pass | 40 s | 50 s | 50 s (agrees) | 300 s |" in md
    assert "| errors | Alerterrors | FAIL: alert firing |" in md and "does NOT agree" in md
    # A threshold alert's bound is an estimate: shown as such, neither agreeing nor disagreeing.
    assert "| drift | Alertdrift | pass | 40 s | 50 s | 50 s (estimate) | 300 s |" in md
    assert "- logging-outage: no Grafana" in md
    assert (d / "chart.png").read_bytes()[:4] == b"\x89PNG"
    data = json.loads((d / "summary.json").read_text())
    assert [r["passed"] for r in data["drills"]] == [True, False, True]
    assert suite.SuiteResult(results=[_result("latency", True)]).passed
