"""The log-based alerts, defined once; `alertstack.grafana.alerts` (Grafana) and `loki_rules` (Loki ruler) render
them.

Both evaluators run the same LogQL expression against the same labels (written by the log shipper for every source
declared in `log_collection`, Docker, journald or file: `service`, `host`, `env`, `level`, see
alertstack/logs/sources.py). The selectors never depend on how a line was collected (no `job`). Each copy
carries `evaluator` (grafana | loki-ruler), so Alertmanager can inhibit the Grafana copy while the Loki ruler copy
fires (the other labels are equal); either keeps alerting if the other evaluator is down.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from alertstack import catalog

# PII or secrets that reached Loki unredacted, or any marker the shipper's redaction rules write in their place
# (alertstack/logs/redaction.yml; both mean: the application logs personal data or credentials).
PII_LINE_REGEX = (r"\[REDACTED-[A-Z]+\]"
                  r"|\b\d{3}-\d{2}-\d{4}\b"
                  r"|\b\d{4}[ -]\d{4}[ -]\d{4}[ -]\d{1,4}\b"
                  r"|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


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


LOG_ALERTS: tuple[LogAlert, ...] = (
    LogAlert(
        name="FeatureNotFoundErrors",
        expr='sum(count_over_time({service="inference-gateway", level=~"warning|error"} '
             '|= "FeatureNotFound" [5m]))',
        op="gt", threshold=20, for_="5m", severity="warning", team="data", service="feature-store",
        summary="FeatureNotFound errors in the inference gateway logs",
        description="The inference gateway logged {{ $value }} FeatureNotFound errors in the last 5 minutes "
                    "(threshold 20): features are missing from the feature store or their definitions changed.",
        dashboard_uid="ml-monitoring",
    ),
    LogAlert(
        name="ErrorLogRateSpike",
        expr='sum(rate({service="inference-gateway", level="error"}[5m]))',
        op="gt", threshold=1, for_="10m", severity="warning", team="ml-platform", service="inference-gateway",
        summary="Error log rate spike in the inference gateway",
        description="The inference gateway logs {{ $value }} error lines per second over 5 minutes "
                    "(threshold 1/s).",
        dashboard_uid="inference-service",
    ),
    LogAlert(
        name="PIIInLogs",
        expr='sum(count_over_time({service=~".+"} |~ `' + PII_LINE_REGEX + '` [10m]))',
        op="gt", threshold=0, for_="0m", severity="critical", team="platform", service="logging",
        summary="Personal data (PII) written to the logs",
        description="{{ $value }} log lines in the last 10 minutes contained PII or a redaction marker: an "
                    "application logs personal data or credentials (secret, card, IBAN, e-mail, national id, "
                    "phone). Redaction masked what it recognised; find and fix the log statement.",
        dashboard_uid="oncall-overview",
    ),
    LogAlert(
        name="LogIngestionOutage",
        expr='absent_over_time({service="inference-gateway"}[10m])',
        op="gt", threshold=0, for_="5m", severity="high", team="platform", service="logging",
        summary="No logs from the inference gateway reach Loki",
        description="Loki has received no log line from the inference gateway for 10 minutes: the log shipper, "
                    "Loki ingestion or the gateway itself is down.",
        dashboard_uid="oncall-overview",
    ),
)


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
