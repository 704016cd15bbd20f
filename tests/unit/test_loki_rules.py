"""The Loki ruler file: the same log alerts as Grafana's, in Prometheus rule-file structure with LogQL."""
from __future__ import annotations

import copy

import pytest

from alertstack.catalog import LOG_ALERTS, RUNBOOK_SLUGS
from alertstack.grafana import alerts, dashboards, validate
from alertstack.logs import loki_rules

RUNBOOKS = "https://runbooks.test"
GRAFANA = "https://grafana.test"


@pytest.fixture()
def rule_file():
    return loki_rules.rule_file(RUNBOOKS, GRAFANA)


def test_the_rule_file_passes(rule_file):
    assert validate.check_loki_rules(rule_file, dashboards.UIDS) == []


def test_the_same_alerts_as_grafana_with_the_same_expressions(rule_file):
    grafana = alerts.provisioning(RUNBOOKS, GRAFANA)["groups"][0]["rules"]
    loki = rule_file["groups"][0]["rules"]
    assert sorted(r["alert"] for r in loki) == sorted(LOG_ALERTS) == sorted(r["title"] for r in grafana)
    for g, lk in zip(grafana, loki):
        assert lk["expr"].startswith(g["data"][0]["model"]["expr"])
        threshold = g["data"][2]["model"]["conditions"][0]["evaluator"]["params"][0]
        assert lk["expr"].endswith(f"> {threshold:g}")
        assert lk["for"] == g["for"]
        assert {k: v for k, v in lk["labels"].items() if k != "evaluator"} == \
               {k: v for k, v in g["labels"].items() if k != "evaluator"}
        assert (lk["labels"]["evaluator"], g["labels"]["evaluator"]) == ("loki-ruler", "grafana")
        assert lk["annotations"]["runbook_url"] == f"{RUNBOOKS}/{RUNBOOK_SLUGS[lk['alert']]}.html"


@pytest.mark.parametrize("mutate,expected", [
    (lambda f: f["groups"][0]["rules"][0].update(expr='{job="docker"} |= "x"'), "a log query"),
    (lambda f: f["groups"][0]["rules"][1].update(expr='sum(rate({job="docker"}[5m]) > 1'), "expected ')'"),
    (lambda f: f["groups"][0]["rules"][0].update(record="x"), "exactly one of 'alert' or 'record'"),
    (lambda f: f["groups"][0]["rules"][0].update(For="5m"), "unknown key 'For'"),
    (lambda f: f["groups"][0]["rules"][0].update(**{"for": "5 minutes"}), "is not a duration"),
    (lambda f: f["groups"].append(copy.deepcopy(f["groups"][0])), "duplicate group name"),
    (lambda f: f["groups"][0]["rules"][2]["labels"].pop("team"), "label team must be one of"),
    (lambda f: f["groups"][0]["rules"][2]["annotations"].update(dashboard_url=f"{GRAFANA}/d/logs-dashboard"),
     "does not point to a known dashboard"),
    (lambda f: f.update(rules=[]), "unknown key 'rules'"),
])
def test_a_malformed_rule_file_is_caught(rule_file, mutate, expected):
    mutate(rule_file)
    problems = validate.check_loki_rules(rule_file, dashboards.UIDS)
    assert any(expected in p for p in problems), problems


def test_the_log_alerts_are_read_from_their_data_file(tmp_path):
    """alertstack/logs/alerts.yml: `for` becomes for_, the PII regex is the alternatives joined, and the placeholder
    in an expression is replaced by it (a changed file gives changed alerts: nothing is hard-coded besides)."""
    from alertstack.logs import alerts as log_alerts
    pii = next(a for a in log_alerts.LOG_ALERTS if a.name == "PIIInLogs")
    assert pii.expr == 'sum(count_over_time({service=~".+"} |~ `' + log_alerts.PII_LINE_REGEX + '` [10m]))'
    assert log_alerts.PII_LINE_REGEX.startswith(r"\[REDACTED-[A-Z]+\]|\b\d{3}-\d{2}-\d{4}\b|")
    assert not any(log_alerts.PII_PLACEHOLDER in a.expr for a in log_alerts.LOG_ALERTS)
    assert {a.name: a.for_ for a in log_alerts.LOG_ALERTS} == {
        "FeatureNotFoundErrors": "5m", "ErrorLogRateSpike": "10m", "PIIInLogs": "0m", "LogIngestionOutage": "5m"}
    data = tmp_path / "alerts.yml"
    data.write_text("pii_line_regex: [a, b]\nalerts:\n- {name: X, expr: 'count({s=\"x\"} |~ `PII_LINE_REGEX`)', op: lt,"
                    " threshold: 1, for: 1m, severity: high, team: data, service: s, summary: S, description: D,"
                    " dashboard_uid: u, extra_labels: {k: v}}\n")
    regex, (x,) = log_alerts.load(data)
    assert regex == "a|b" and x.expr == 'count({s="x"} |~ `a|b`)' and (x.for_, x.promql_op) == ("1m", "<")
    assert x.extra_labels == {"k": "v"} and x.no_data_alerts is False
