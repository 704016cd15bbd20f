"""alertstack.drills.report: the incident directory from a synthetic timeline and a fake Prometheus answer."""
import json
import re
import struct
import zlib

import pytest

from alertstack.drills import report as ir
from alertstack.drills import timeline as tl
from alertstack.drills.timeline import Timeline

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def _timeline(fired: bool = True) -> Timeline:
    t = Timeline.new("latency", now=T0 - 20, alertname="InferenceLatencyBurnRateCritical", severity="critical",
                     title="Inference latency spike (scenario A)", fault="a release adds 600 ms",
                     mitigation_command="invoke fault rollback --scenario latency",
                     mitigation_action="roll the gateway back", key_metric="slo_bad_ratio_1m",
                     key_metric_label="share of requests slower than 300 ms", budget_slos=["inference-latency"],
                     bound={"total_s": 247.0}, bound_text="detection 52s + ... = 247s",
                     timing={"scrape_interval_s": 5, "evaluation_interval_s": 5, "group_wait_s": 5},
                     load={"sent": 1500, "errors": 0, "p95_s": 0.61, "p99_s": 0.63},
                     alert_annotations={"runbook_url": "http://127.0.0.1:8088/inference-latency.html"})
    t.add(tl.FAULT_INJECTED, at=T0, detail="deployed release 1.0.1 (ensemble re-ranking)")
    if fired:
        t.add(tl.ALERT_PENDING, at=T0 + 60, alertname="InferenceLatencyBurnRateCritical")
        t.add(tl.ALERT_FIRING, at=T0 + 185, alertname="InferenceLatencyBurnRateCritical",
              labels={"severity": "critical"}, annotations={"summary": "latency budget burning"}, value="1")
        t.add(tl.NOTIFICATION, at=T0 + 191, kind="pagerduty", channel="events-v2", alertname="X",
              payload={"event_action": "trigger", "payload": {"summary": "[FIRING:1] InferenceLatencyBurnRateCritical"}})
        t.add(tl.NOTIFICATION, at=T0 + 192, kind="slack", channel="ai-infra-incidents", payload={"text": "x" * 5000})
        t.step("alert firing", tl.PASSED, 300, 185)
    t.add(tl.MITIGATION, at=T0 + 200, command="invoke fault rollback --scenario latency", detail="rolled back")
    if fired:
        t.add(tl.ALERT_RESOLVED, at=T0 + 520, alertname="InferenceLatencyBurnRateCritical")
        t.add(tl.RESOLVED_NOTIFICATION, at=T0 + 545, kind="pagerduty", channel="events-v2",
              payload={"event_action": "resolve"})
        t.step("resolved notification", tl.PASSED, 600, 345)
    else:
        t.step("alert firing", tl.FAILED, 300, None, "did not fire within 300s")
    t.finished_at = T0 + 560
    return t


def _fake_range():
    """A Prometheus query_range matrix: healthy, then 100 % slow for 200 s, then healthy."""
    values = [[T0 - 120 + 10 * i, "1" if 0 <= 10 * i - 120 < 200 else "0"] for i in range(70)]
    values.append([T0 + 700, "NaN"])
    return [{"metric": {"slo": "inference-latency"}, "values": values}]


DATA = {"series": _fake_range(),
        "budget": [{"slo": "inference-latency", "objective": 0.999, "window": "30d", "duration_s": 520,
                    "bad_ratio": 0.38, "consumed": ir.budget_consumed(0.38, 520, 0.999, 30 * 86400),
                    "remaining": 0.92, "queries": {}}],
        "queries": [{"purpose": "chart", "query": "slo_bad_ratio_1m", "range": ["a", "b"], "step_s": 10.0}],
        "errors": []}


def _png_size(path):
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    length, kind = struct.unpack(">I4s", raw[8:16])
    assert kind == b"IHDR"
    chunk = raw[12:16 + length]
    assert struct.unpack(">I", raw[16 + length:20 + length])[0] == zlib.crc32(chunk)
    return struct.unpack(">II", raw[16:24])


def test_budget_consumed():
    # 100 % bad for 43.2 minutes is the whole 30-day budget of a 99.9 % SLO.
    assert ir.budget_consumed(1.0, 2592, 0.999, 30 * 86400) == pytest.approx(1.0)
    assert ir.budget_consumed(0.5, 2592, 0.999, 30 * 86400) == pytest.approx(0.5)
    # Twice the window's average traffic during the incident: twice the bad requests, twice the budget.
    assert ir.budget_consumed(0.5, 2592, 0.999, 30 * 86400, incident_rate=10.0, window_rate=5.0) == pytest.approx(1.0)
    assert ir.budget_consumed(0.5, 2592, 0.999, 30 * 86400, incident_rate=10.0, window_rate=None) == pytest.approx(0.5)


def test_duration_text():
    assert ir.duration_text(None) == "n/a"
    assert ir.duration_text(42.4) == "42 s"
    assert ir.duration_text(105) == "1 min 45 s"
    assert ir.duration_text(7260) == "2 h 1 min"


def test_write_incident_produces_the_three_files(tmp_path):
    t = _timeline()
    d = ir.write_incident(t, tmp_path, data=DATA)
    assert d == tmp_path / t.incident_id
    data = json.loads((d / "timeline.json").read_text())
    assert data["measurements"]["mttd_s"] == 185
    width, height = _png_size(d / "chart.png")
    assert width >= 800 and height >= 300
    review = (d / "review.md").read_text()
    assert "| MTTD | alert fired" in review and "3 min 5 s" in review        # MTTD
    assert "3 min 11 s" in review                                           # time to notify
    assert "3 min 20 s" in review                                           # MTTR (fault -> mitigation)
    assert "detection 52s + ... = 247s" in review and "within the predicted bound" in review
    assert "http://127.0.0.1:8088/inference-latency.html" in review
    assert f"{0.38 * 520 / (0.001 * 2592000) * 100:.3g} % (inference-latency)" in review
    assert "1500 requests" in review
    assert '"event_action": "trigger"' in review                         # payloads
    assert "more characters in timeline.json" in review                  # a long payload is cut
    assert "slo_bad_ratio_1m" in review                                  # the queries used
    assert "![key metric across the incident](chart.png)" in review
    # The human sections are there and left for the review meeting.
    for heading in ("## Root cause", "### 5 whys", "## Action items", "| Owner | Due date |"):
        assert heading in review
    assert review.count(ir.TO_FILL) >= 7
    assert "_(owner)_ | _(YYYY-MM-DD)_" in review
    assert "{{" not in review.split("## Drill measurements")[0]


def test_project_template_is_used_when_present(tmp_path):
    template = tmp_path / "tmpl.md"
    template.write_text("# Template\n\nHow to use: `{{ name }}` placeholders.\n\n---\n\n"
                        "# PIR {{ incident_id }}\nMTTD={{ mttd }} unknown={{ not_a_field }}\n")
    t = _timeline()
    d = ir.write_incident(t, tmp_path / "out", data=DATA, template=template)
    review = (d / "review.md").read_text()
    assert review.startswith(f"# PIR {t.incident_id}\nMTTD=3 min 5 s unknown=n/a")
    assert "How to use" not in review
    assert f"Review structure: {template}" in review


def test_builtin_structure_when_template_missing(tmp_path):
    d = ir.write_incident(_timeline(), tmp_path, data=DATA, template=tmp_path / "missing.md")
    review = (d / "review.md").read_text()
    assert review.startswith("# Post-incident review: Inference latency spike")
    assert "built-in structure" in review


def test_report_of_a_failed_drill_without_data(tmp_path):
    t = _timeline(fired=False)
    d = ir.write_incident(t, tmp_path, data={"series": [], "budget": [], "queries": [], "errors": ["boom"]})
    _png_size(d / "chart.png")
    review = (d / "review.md").read_text()
    assert "did not fire" in review and "FAILED" in review
    assert re.search(r"\| MTTD \|[^\n]*\| n/a \|", review)
    assert "- boom" in review


def _remaining_line(tmp_path, **budget):
    entry = {**DATA["budget"][0], **budget}
    d = ir.write_incident(_timeline(), tmp_path, data={**DATA, "budget": [entry]})
    return next(line for line in (d / "review.md").read_text().splitlines()
                if line.startswith("- Remaining after the incident:"))


def test_remaining_budget_is_the_budget_at_the_fault_less_what_the_incident_consumed():
    # The record at the resolve lags (an alert that resolves at once is ahead of the 4m record): not used if the
    # value at the fault is known.
    entry = {"remaining_before": 0.5, "consumed": 0.02, "remaining_recorded": 0.495}
    assert ir.remaining_after(entry) == pytest.approx(0.48)
    assert ir.remaining_after({**entry, "remaining_before": None}) == 0.495
    assert ir.remaining_after({**entry, "consumed": None}) == 0.495


def test_remaining_budget_says_what_it_is_over_and_what_it_was_at_the_fault(tmp_path):
    month = 30 * 86400
    consumed = DATA["budget"][0]["consumed"]      # 7.62 %
    full = _remaining_line(tmp_path / "a", remaining=0.92, remaining_before=0.92 + consumed, held_s=month)
    assert full == ("- Remaining after the incident: 92 % (inference-latency; 99.6 % at the fault, less this "
                    "incident's 7.62 %)")
    spent = _remaining_line(tmp_path / "b", remaining=-0.0419, remaining_before=-0.0419 + consumed, held_s=month - 240)
    assert spent == ("- Remaining after the incident: -4.19 % (inference-latency: the 30d budget is exhausted, "
                     "overspent by 4.19 % of it; 3.43 % at the fault, less this incident's 7.62 %)")
    young = _remaining_line(tmp_path / "c", remaining=-273.0, remaining_before=-272.9, held_s=5400)
    assert "over the 1 h 30 min of data Prometheus holds of the 30d window: not yet the SLO's figure" in young
    assert "exhausted" not in young
    week = _remaining_line(tmp_path / "d", remaining=0.5, remaining_before=None, held_s=7 * 86400)
    assert week == ("- Remaining after the incident: 50 % (inference-latency, over the 7.0 days of data Prometheus "
                    "holds of the 30d window: not yet the SLO's figure)")
