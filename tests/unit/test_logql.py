"""The LogQL checker (alertstack.logs.logql): accepts the LogQL the stack writes, rejects broken queries."""
from __future__ import annotations

import pytest

from alertstack.logs import alerts as log_alerts
from alertstack.logs import logql

VALID_METRIC = [
    'sum(count_over_time({job="docker", service="inference-gateway", level="error"} |= "FeatureNotFound" [5m])) > 20',
    'sum(rate({job="docker"}[5m])) by (service)',
    'sum by (level) (count_over_time({job="docker", service="x"}[1m]))',
    'absent_over_time({job="docker", service="inference-gateway"}[10m])',
    'topk(5, sum by (service) (rate({job="docker"} |~ `(?i)timeout` [5m])))',
    'rate({a="b"} | json | level="error" and status >= 500 [5m]) > bool 3',
    'sum_over_time({a="b"} | logfmt | unwrap latency [5m])',
    'count_over_time({a="b"}[5m] |= "x")',
    'sum(rate({a="b"} != "health" or "ready" [1m])) / sum(rate({a="b"}[1m]))',
    'count_over_time({a="b"} | json msg="message" [5m] offset 1h)',
]
VALID_LOG = [
    '{job="docker", service="inference-gateway", level="error"}',
    '{a="b"} |= "x" or "y" | json | line_format "{{.message}}"',
    '{a=~"gate.*"} | regexp `(?P<code>\\d{3})` | code="500"',
    '{a="b"} | label_format lvl=level | drop container, host',
]
INVALID_METRIC = [
    ('sum(rate({job="x"}[5m]', "expected ')'"),
    ('{job="docker"} |= "x"', "a log query"),
    ('rate({job=~".*"}[5m])', "does not match the empty value"),
    ('rate({job=""}[5m])', "does not match the empty value"),
    ('count_over_time({a="b"} |~ "(unclosed" [5m])', "invalid regular expression"),
    ('count_over_time({a="b"} |~ "(?=x)" [5m])', "look-around"),
    ('count_over_time({a="b"}[5x])', "duration"),
    ('count_over_time({a="b"})', "duration"),
    ('sum_over_time({a="b"}[5m])', "unwrap"),
    ('rate({a="b"} | logfmt | unwrap x [5m])', "does not take an unwrapped range"),
    ('sum(rate({a="b"}[5m])) >', "expected a number"),
    ('rate({a="b"} |= x [5m])', "expected 'string'"),
    ('rate({a~"b"}[5m])', "unexpected character"),
    ('', "empty"),
]


@pytest.mark.parametrize("expr", VALID_METRIC)
def test_valid_metric_queries_pass(expr):
    assert logql.check(expr, metric=True) == []


@pytest.mark.parametrize("expr", VALID_LOG)
def test_valid_log_queries_pass(expr):
    assert logql.check(expr, metric=False) == []


@pytest.mark.parametrize("expr,expected", INVALID_METRIC)
def test_broken_queries_are_rejected_with_the_reason(expr, expected):
    problems = logql.check(expr, metric=True)
    assert len(problems) == 1 and expected in problems[0], problems


def test_every_log_alert_expression_and_its_comparison_parse():
    for alert in log_alerts.LOG_ALERTS:
        assert logql.check(alert.expr) == []
        assert logql.check(f"{alert.expr} {alert.promql_op} {alert.threshold:g}") == []
