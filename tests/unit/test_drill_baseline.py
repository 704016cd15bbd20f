"""A drill waits for the part of its alert's rule that is not about the fault (drills.baseline): the week-ago
AUC-ROC that ModelPerformanceDegraded compares with."""
from __future__ import annotations

import io
import re
import time
from types import SimpleNamespace

import pytest
import yaml

from alertstack.drills import baseline, runner, scenarios
from alertstack.drills.timeline import FAILED, PASSED, Timeline
from alertstack.paths import REPO_ROOT


def test_holds_from_finds_the_first_time_the_condition_holds_long_enough():
    steps = [0, 30, 60, 90, 120]
    assert baseline.holds_from(steps, 0, 120, 30, 60) == 0                  # holds throughout
    assert baseline.holds_from([60, 90, 120, 150], 0, 150, 30, 60) == 60    # degraded until 60 s from now
    assert baseline.holds_from([0, 30, 90, 120], 0, 120, 30, 60) is None    # a gap at 60 s, no 60 s run left
    assert baseline.holds_from([], 0, 120, 30, 60) is None                  # never (or no data a week ago)
    assert baseline.holds_from([0, 30, 60], 0, 120, 30, 60) == 0            # only what is needed must hold
    assert baseline.holds_from([0.4, 30.2, 59.9], 0, 60, 30, 60) == 0       # float times of the query's steps


def _rule_expr(alertname: str) -> str:
    for path in (REPO_ROOT / "alertstack" / "rules_data").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == alertname:
                    return " ".join(rule["expr"].split())
    raise LookupError(alertname)


def test_every_precondition_is_a_part_of_its_alerts_rule():
    with_one = [sc for sc in scenarios.SCENARIOS.values() if sc.precondition]
    assert [sc.name for sc in with_one] == ["model-performance"]
    for sc in with_one:
        parts = [p.strip() for p in re.split(r"\band\b", _rule_expr(sc.alertname))]
        assert " ".join(sc.precondition.split()) in parts, (sc.precondition, parts)


def _drill(clear_at, timeout_s=420.0, notify_s=390.0):
    """A model-performance drill at its precondition phase, with the Prometheus answer `clear_at` (seconds from
    now, or None)."""
    drill = runner._Drill.__new__(runner._Drill)
    drill.sc = scenarios.get("model-performance")
    drill.stack = SimpleNamespace(prometheus_url="http://127.0.0.1:1", auth=None)
    drill.cfg = runner.DrillConfig(precondition_timeout_s=timeout_s)
    drill.out = io.StringIO()
    drill.progress = runner._Progress(drill.out)
    drill.timeline = Timeline.new("model-performance")
    drill.notify_deadline = notify_s
    asked = {}

    def clear_from(url, expr, now, need_s, within_s, auth=None):
        asked.update(expr=expr, need_s=need_s, within_s=within_s)
        return None if clear_at is None else now + clear_at
    return drill, asked, clear_from


def test_the_drill_starts_at_once_when_the_week_ago_baseline_is_healthy(monkeypatch):
    drill, asked, clear_from = _drill(0)
    monkeypatch.setattr(baseline, "clear_from", clear_from)
    assert drill.wait_for_precondition() is True
    assert asked == {"expr": drill.sc.precondition, "need_s": 390.0, "within_s": 420.0}
    step = drill.timeline.steps[-1]
    assert (step.name, step.status) == ("alert can fire", PASSED) and "waited" not in step.message


def test_the_drill_waits_for_a_degraded_baseline_to_pass(monkeypatch):
    drill, _, clear_from = _drill(1.5)
    monkeypatch.setattr(baseline, "clear_from", clear_from)
    t = time.monotonic()
    assert drill.wait_for_precondition() is True
    assert time.monotonic() - t >= 1.4
    assert "waiting 2s" in drill.out.getvalue() and "a week ago" in drill.out.getvalue()
    assert drill.timeline.steps[-1].status == PASSED and "waited 2s" in drill.timeline.steps[-1].message


def test_the_drill_refuses_when_the_baseline_stays_degraded_and_says_why(monkeypatch):
    drill, _, clear_from = _drill(None)
    monkeypatch.setattr(baseline, "clear_from", clear_from)
    assert drill.wait_for_precondition() is False
    step = drill.timeline.steps[-1]
    assert (step.name, step.status) == ("alert can fire", FAILED)
    assert "ModelPerformanceDegraded cannot fire in the next 810s" in step.message
    assert 'model_performance_metric{metric="auc_roc"} offset 7d > 0.80' in step.message and "later" in step.message


def test_scenarios_without_a_precondition_skip_the_phase():
    drill, _, _ = _drill(0)
    drill.sc = scenarios.get("errors")
    assert drill.wait_for_precondition() is True and not drill.timeline.steps
