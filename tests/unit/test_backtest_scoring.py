"""The backtest's pure parts: the rule manager's `for` semantics, dependency levels, seeded history, scoring.

The Prometheus-backed run (real rules, real engine) is tests/config/test_backtest.py.
"""
from __future__ import annotations

from alertstack import defaults, slo
from alertstack.backtest import engine, history, score
from alertstack.backtest.engine import Episode, Evaluation, Rule

T0 = 1_700_000_000 // 86400 * 86400


def _alert(name="A", for_s=120.0, interval=30.0, severity="critical", family="inference-errors", keep=0.0):
    return Rule("g", interval, None, name, "x > 1", {"severity": severity, "family": family}, for_s, keep)


def _true_at(times):
    return {(("__name__", "ALERTS"),): {float(t): "1" for t in times}}


def test_an_alert_fires_once_pending_for_its_for_and_resolves_at_the_first_false_evaluation():
    rule = _alert(for_s=120)
    true = [T0 + 30 * k for k in range(2, 10)]          # true from +60 s to +270 s
    [ep] = engine.firing_episodes(rule, _true_at(true), T0, T0 + 600)
    assert (ep.active_at, ep.fired_at, ep.resolved_at) == (T0 + 60, T0 + 180, T0 + 300)
    assert ep.labels["alertname"] == "A" and ep.severity == "critical"


def test_a_condition_shorter_than_for_never_fires_and_a_gap_restarts_pending():
    rule = _alert(for_s=120)
    true = [T0 + 30, T0 + 60, T0 + 90, T0 + 150, T0 + 180, T0 + 210]   # a gap at +120 s
    assert engine.firing_episodes(rule, _true_at(true), T0, T0 + 600) == []


def test_for_zero_fires_at_the_first_true_evaluation_and_keep_firing_for_bridges_gaps():
    [ep] = engine.firing_episodes(_alert(for_s=0), _true_at([T0 + 90]), T0, T0 + 300)
    assert (ep.fired_at, ep.resolved_at) == (T0 + 90, T0 + 120)
    kept = engine.firing_episodes(_alert(for_s=0, keep=120), _true_at([T0 + 30, T0 + 120]), T0, T0 + 600)
    assert [(e.fired_at, e.resolved_at) for e in kept] == [(T0 + 30, T0 + 240)]


def test_an_alert_still_true_at_the_end_is_still_firing():
    [ep] = engine.firing_episodes(_alert(for_s=30), _true_at(range(T0, T0 + 301, 30)), T0, T0 + 300)
    assert ep.resolved_at is None


def test_recording_rules_are_levelled_in_dependency_order():
    rules = [Rule("g", 30, "c:ratio", None, "a:rate / on() b:rate", {}),
             Rule("g", 30, "a:rate", None, "rate(x_total[5m])", {}),
             Rule("g", 30, "b:rate", None, "sum_over_time(a:rate[1h])", {}),
             Rule("g", 30, None, "Alert", "c:ratio > 0.1", {})]
    assert engine.assign_levels(rules) == 3
    assert {r.name: r.level for r in rules} == {"a:rate": 0, "b:rate": 1, "c:ratio": 2, "Alert": 3}


def test_durations():
    assert engine.seconds("1h30m") == 5400 and engine.seconds("30s") == 30 and engine.seconds(None) == 0


def test_synthetic_history_is_reproducible_and_labels_every_key_incident_kind():
    slos = slo.validate_slos(defaults.default_slos())
    a = history.plan(slos, 30, seed=7, end=T0)
    b = history.plan(slos, 30, seed=7, end=T0)
    assert a.incidents == b.incidents and a.noise == b.noise
    assert a.incidents != history.plan(slos, 30, seed=8, end=T0).incidents
    kinds = {i.kind for i in a.incidents}
    assert kinds == {"outage", "error-burst", "slow-burn", "latency-regression", "drift"}
    assert all(i.start >= a.start + history.WARMUP_S and i.end <= a.end for i in a.incidents)
    assert not any(n.slo == i.slo and n.start < i.end and n.end > i.start for n in a.noise for i in a.incidents)


def test_the_sli_series_match_the_slo_selectors():
    by_type = {s.sli.type: history.slo_series(s) for s in slo.validate_slos(defaults.default_slos())}
    assert by_type["availability"]["bad"]["status"] == "500" and by_type["availability"]["good"]["status"] == "200"
    assert by_type["latency"]["labels"] == {"job": "inference-gateway", "endpoint": "/predict"}
    assert history.format_le(1) == "1.0" and history.format_le(0.3) == "0.3"


def _scored(episodes, incidents, rules):
    hist = history.History(T0, T0 + 7 * 86400, incidents)
    return score.score(Evaluation(episodes, rules, 1, T0, T0 + 7 * 86400), hist)


def test_scoring_attributes_by_family_and_counts_false_and_missed_pages():
    outage = history.Incident("outage-2m", "outage", "inference-errors", "inference-availability",
                              T0 + 86400, T0 + 86400 + 120, 1.0, "", budget=0.05)
    burn = history.Incident("slowburn-10x", "slow-burn", "inference-errors", "inference-availability",
                            T0 + 3 * 86400, T0 + 3 * 86400 + 3 * 3600, 0.01, "", budget=0.04)
    rules = [_alert("Page"), _alert("Latency", family="inference-latency")]
    labels = {"severity": "critical", "family": "inference-errors"}
    episodes = [Episode("Page", labels, T0 + 86400 + 30, T0 + 86400 + 150, T0 + 86400 + 400),
                Episode("Page", labels, T0 + 5 * 86400, T0 + 5 * 86400 + 120, T0 + 5 * 86400 + 600),
                Episode("Latency", {"severity": "critical", "family": "inference-latency"},
                        T0 + 86400, T0 + 86400 + 60, T0 + 86400 + 300)]
    s = _scored(episodes, [outage, burn], rules)
    page = next(a for a in s.alerts if a.alert == "Page")
    assert (page.true_positives, page.false_positives, page.missed) == (1, 1, ["slowburn-10x"])
    assert page.detection_s == [150] and page.reset_s == [400 - 120]
    assert len(s.false_pages) == 2          # the second Page episode, and a latency page during an error outage
    targets = {name: met for name, met, _ in s.targets()}
    assert not targets["0 false pages"]
    assert not targets["every incident consuming >= 2% of the budget paged"]
    assert not targets["total outage paged <= 2 min"]          # 150 s
    assert not s.ok
    assert s.pages_per_week() == 3.0
