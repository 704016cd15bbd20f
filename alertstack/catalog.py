"""The runbook catalogue: every alert of the stack and the slug of its runbook page.

runbook_url = "<runbooks_base_url>/<slug>.html". Log alerts (Grafana/Loki) are listed too; they are not
Prometheus rules, so `alert_names()` (what rule_files() defines) is a subset of RUNBOOK_SLUGS.
"""
from __future__ import annotations

RUNBOOK_SLUGS: dict[str, str] = {
    # inference-errors
    "InferenceErrorRateCritical": "inference-errors",
    "InferenceErrorBudgetBurnHigh": "inference-errors",
    "InferenceErrorBudgetBurnSlow": "inference-errors",
    "InferenceErrorRateHigh": "inference-errors",
    "ErrorLogRateSpike": "inference-errors",
    # inference-latency
    "InferenceLatencyBurnRateCritical": "inference-latency",
    "InferenceLatencyBurnRateHigh": "inference-latency",
    "InferenceLatencyBudgetBurnSlow": "inference-latency",
    "InferenceLatencyElevated": "inference-latency",
    # every SLO (alertstack/slo.py FORECAST_ALERT): budget projected to run out within 7 days
    "ErrorBudgetExhaustionProjected": "error-budget-forecast",
    "InferenceRequestRateAnomalous": "inference-traffic",
    "ModelLoadFailure": "model-loading",
    # feature-store
    "FeatureStoreErrorsHigh": "feature-store",
    "FeatureStoreDown": "feature-store",
    "MissingFeaturesHigh": "feature-store",
    "FeatureNotFoundErrors": "feature-store",
    # GPUs (DCGM exporter)
    "GPUMemoryHigh": "gpu-memory",
    "GPUUtilizationLow": "gpu-underuse",
    "GPUXidError": "gpu-xid",
    "GPUEccDoubleBitErrors": "gpu-memory-errors",
    "GPURowRemapFailure": "gpu-memory-errors",
    "GPUTemperatureHigh": "gpu-thermal",
    "GPUThrottling": "gpu-thermal",
    "GPUNVLinkErrors": "gpu-nvlink",
    "GPUMissing": "gpu-missing",
    # hosts (node_exporter)
    "HostDown": "host-down",
    "HostFilesystemFillingUp": "host-filesystem",
    "HostFilesystemAlmostFull": "host-filesystem",
    "HostFilesystemReadOnly": "host-filesystem",
    "HostMemoryMajorPageFaults": "host-memory",
    "HostOOMKill": "host-memory",
    "HostClockSkew": "host-clock",
    "HostClockNotSynchronising": "host-clock",
    "HostNetworkReceiveErrors": "host-network",
    "HostNetworkTransmitErrors": "host-network",
    "FeatureDriftDetected": "feature-drift",
    "PredictionDriftDetected": "prediction-drift",
    "ModelPerformanceDegraded": "model-performance",
    "ModelFairnessViolation": "fairness",
    "InputValidationFailuresHigh": "input-validation",
    "LogIngestionOutage": "log-ingestion-outage",
    "PIIInLogs": "pii-in-logs",
    "PrometheusScrapeFailure": "scrape-failure",
    # monitoring-self
    "PrometheusRuleEvaluationFailures": "monitoring-self",
    "PrometheusNotConnectedToAlertmanagers": "monitoring-self",
    "AlertmanagerNotificationsFailing": "monitoring-self",
    "AlertmanagerClusterMembersMissing": "monitoring-self",
    "Watchdog": "watchdog",
}

LOG_ALERTS = ("ErrorLogRateSpike", "FeatureNotFoundErrors", "LogIngestionOutage", "PIIInLogs")
"""Alerts evaluated by Grafana on Loki logs, not by Prometheus."""


def runbook_slugs() -> list[str]:
    """Every distinct runbook slug, sorted."""
    return sorted(set(RUNBOOK_SLUGS.values()))


def alert_rules(slos: list[dict] | None = None, extra: dict | None = None) -> list[dict]:
    """Every alerting rule rule_files() defines (parsed, with final labels and annotations), in file order."""
    import yaml

    from alertstack.defaults import default_slos
    from alertstack.rules import rule_files

    files = rule_files(default_slos() if slos is None else slos, "http://runbooks.invalid", "http://grafana.invalid/d",
                       extra)
    out = []
    for text in files.values():
        for group in yaml.safe_load(text)["groups"]:
            out += [r for r in group["rules"] if "alert" in r]
    return out


def alert_names(slos: list[dict] | None = None, extra: dict | None = None) -> list[str]:
    """Names of every alert rule_files() defines (default SLOs unless `slos` is given), sorted, unique."""
    return sorted({r["alert"] for r in alert_rules(slos, extra)})
