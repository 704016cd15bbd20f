"""The log-based alerts, defined once as data (alertstack/logs/alerts.yml); `alertstack.grafana.alerts` (Grafana) and
`loki_rules` (Loki ruler) render them.

Both evaluators run the same LogQL expression against the same labels (written by the log shipper for every source
declared in `log_collection`, Docker, journald or file: `service`, `host`, `env`, `level`, see
alertstack/logs/sources.py). The selectors never depend on how a line was collected (no `job`). Each copy
carries `evaluator` (grafana | loki-ruler), so Alertmanager can inhibit the Grafana copy while the Loki ruler copy
fires (the other labels are equal); either keeps alerting if the other evaluator is down.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from alertstack import catalog

ALERTS_FILE = Path(__file__).with_name("alerts.yml")
PII_PLACEHOLDER = "PII_LINE_REGEX"
"""The word in an alert's expr that stands for PII_LINE_REGEX."""


@dataclass(frozen=True)
class LogAlert:
    name: str
    expr: str             # LogQL metric query returning one series per alert instance
    op: str               # comparison applied to expr: gt | lt
    threshold: float
    for_: str             # how long the condition must hold
    severity: str
    team: str
    service: str
    summary: str
    description: str      # Prometheus-style template; `{{ $value }}` is the query result
    dashboard_uid: str
    no_data_alerts: bool = False   # does an empty result mean "alert" (Grafana noDataState)?
    extra_labels: dict = field(default_factory=dict)

    @property
    def promql_op(self) -> str:
        return {"gt": ">", "lt": "<"}[self.op]


def load(path: Path = ALERTS_FILE) -> tuple[str, tuple[LogAlert, ...]]:
    """(PII_LINE_REGEX, LOG_ALERTS) from the data file: its `pii_line_regex` alternatives joined with |, and its
    `alerts` (key `for` is LogAlert.for_) with PII_PLACEHOLDER in an expr replaced by the regex."""
    data = yaml.safe_load(path.read_text())
    pii = "|".join(data["pii_line_regex"])

    def alert(fields: dict) -> LogAlert:
        fields = {("for_" if k == "for" else k): v for k, v in fields.items()}
        return LogAlert(**{**fields, "expr": fields["expr"].replace(PII_PLACEHOLDER, pii)})
    return pii, tuple(alert(a) for a in data["alerts"])


PII_LINE_REGEX, LOG_ALERTS = load()
"""PII or secrets that reached Loki unredacted, or any marker the shipper's redaction rules write in their place
(alertstack/logs/redaction.yml; both mean: the application logs personal data or credentials); and the alerts."""


def runbook_slugs() -> dict[str, str]:
    """alertname -> runbook slug of every log alert (alertstack.catalog, the one runbook table)."""
    return {name: catalog.RUNBOOK_SLUGS[name] for name in catalog.LOG_ALERTS}


def labels(alert: LogAlert, evaluator: str) -> dict[str, str]:
    """The policy's labels, plus `family` (= runbook slug, what Alertmanager's inhibitions compare, as on the
    Prometheus rules) and `evaluator`."""
    return {"severity": alert.severity, "team": alert.team, "service": alert.service,
            "family": runbook_slugs()[alert.name], "evaluator": evaluator, **alert.extra_labels}


def annotations(alert: LogAlert, runbooks_base_url: str, grafana_external_url: str,
                value_template: str) -> dict[str, str]:
    """Annotations with the runbook_url and dashboard_url; value_template replaces `{{ $value }}`."""
    slug = runbook_slugs()[alert.name]
    return {
        "summary": alert.summary,
        "description": alert.description.replace("{{ $value }}", value_template),
        "runbook_url": f"{runbooks_base_url.rstrip('/')}/{slug}.html",
        "dashboard_url": f"{grafana_external_url.rstrip('/')}/d/{alert.dashboard_uid}",
    }
