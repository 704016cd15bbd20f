"""The log alerts as a Loki ruler rule file: Prometheus rule-file structure with LogQL expressions.

Loki's local ruler storage reads <directory>/<tenant>/<file>.yml; with auth disabled the tenant is `fake`.
"""
from __future__ import annotations

from alertstack.logs import alerts as log_alerts

GROUP = "log-alerts"


def rule_file(runbooks_base_url: str, grafana_external_url: str, interval: str = "1m") -> dict:
    rules = []
    for alert in log_alerts.LOG_ALERTS:
        rules.append({
            "alert": alert.name,
            "expr": f"{alert.expr} {alert.promql_op} {alert.threshold:g}",
            "for": alert.for_,
            "labels": log_alerts.labels(alert, "loki-ruler"),
            "annotations": log_alerts.annotations(alert, runbooks_base_url, grafana_external_url,
                                                  "{{ $value | humanize }}"),
        })
    return {"groups": [{"name": GROUP, "interval": interval, "rules": rules}]}
