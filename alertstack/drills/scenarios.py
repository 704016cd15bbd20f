"""The drill scenarios: the fault, the alert it must raise, load and deadlines.

The fault itself and its mitigation live in alertstack.faults (same scenario names); this module says what a drill
expects to observe. Where the alert must be notified is not stated here: it is what the Alertmanager configuration
Ansible rendered for the environment delivers it to (`policy_channels`, walking the routing tree with
alertstack.drills.channels as `amtool config routes test` does). At run time the drill reads the *deployed*
configuration and the clock, so an out-of-hours drill does not expect the business-hours Slack channel.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from alertstack.drills import channels as routes
from alertstack import faults
from alertstack.faults import BAD_RELEASES

# The moment a scenario's channels are stated for: a Wednesday, 10:00 UTC (inside business_hours).
BUSINESS_HOURS = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)


def policy_channels(am_config: dict, labels: dict, at: datetime = BUSINESS_HOURS) -> list[tuple]:
    """The human channels (kind, channel) `am_config` (a rendered alertmanager.yml) delivers an alert with `labels`
    to at `at`, besides the events webhook; in routing order."""
    return [c for c in routes.expected_channels(am_config, labels, at).required if c[0] != "webhook"]


@dataclass(frozen=True)
class LoadProfile:
    """Bounded healthy load sent to the gateway on 127.0.0.1 for the whole drill (alertstack.loadgen)."""
    rps: float
    warmup_s: float = 15.0   # load before the fault, so that the SLI has a denominator


@dataclass(frozen=True)
class Detection:
    """How the alert detects the fault, for the predicted bound (alertstack.drills.bounds).

    kind "slo": burn-rate alert of SLO `slo` under a steady `bad_ratio` of bad events.
    kind "threshold": the expression's window, or `detection_s` when the fault grows over time (a leak).
    """
    kind: str
    slo: str | None = None
    bad_ratio: float | None = None
    detection_s: float | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    fault: str                              # what happens, in words (faults.py does it)
    alertname: str                          # the alert the drill waits for
    detection: Detection
    key_metric: str                         # PromQL charted across the incident ("": the SLO's 1m bad ratio)
    key_metric_label: str
    severity: str = "critical"
    load: LoadProfile | None = LoadProfile(rps=5)
    evaluator: str = "prometheus"           # "grafana": a log alert, evaluated by Grafana from Loki
    # Deadlines in seconds: firing and first notification after injection (None: from the predicted bound),
    # alert resolved and resolved notification after mitigation.
    notify_deadline_s: float | None = None
    resolve_deadline_s: float = 600.0
    tolerated_alerts: tuple = ()            # other alerts the fault may legitimately raise
    # PromQL of the part of the alert's rule that is not about the fault: it returns a series while the alert can
    # fire (drills.baseline); the drill waits for it to hold until the notification deadline ("": nothing to wait for)
    precondition: str = ""
    note: str = ""
    budget_slos: tuple = ("inference-availability", "inference-latency")
    labels: dict = field(default_factory=dict)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario(
        name="latency", title="Inference latency spike",
        fault="a gateway release adds 600 ms to every request (ensemble re-ranking)",
        alertname="InferenceLatencyBurnRateCritical", severity="critical",
        detection=Detection("slo", slo="inference-latency", bad_ratio=1.0),
        key_metric="", key_metric_label="share of /predict requests slower than 300 ms (1m)",
        notify_deadline_s=300, resolve_deadline_s=600,
        tolerated_alerts=("InferenceLatencyElevated", "InferenceLatencyBurnRateHigh"),
        budget_slos=("inference-latency",)),
    Scenario(
        name="errors", title="Inference error-rate spike",
        fault=f"a gateway release fails {BAD_RELEASES['errors']['error_ratio'] * 100:g} % of requests with HTTP 500 "
              f"(preprocessing library upgrade)",
        alertname="InferenceErrorRateCritical", severity="critical",
        detection=Detection("slo", slo="inference-availability", bad_ratio=BAD_RELEASES["errors"]["error_ratio"]),
        key_metric="", key_metric_label="share of /predict requests answered 5xx (1m)",
        notify_deadline_s=300, resolve_deadline_s=600,
        tolerated_alerts=("InferenceErrorRateHigh", "InferenceErrorBudgetBurnHigh"),
        budget_slos=("inference-availability",)),
    Scenario(
        name="network-latency", title="Inference latency from a degraded network",
        fault=f"the feature store's network interface delays every packet {faults.NETWORK['delay_ms']} ms "
              f"(tc netem in its network namespace); the gateway's feature lookups wait for it",
        alertname="InferenceLatencyBurnRateCritical", severity="critical",
        detection=Detection("slo", slo="inference-latency", bad_ratio=1.0),
        key_metric="", key_metric_label="share of /predict requests slower than 300 ms (1m)",
        notify_deadline_s=300, resolve_deadline_s=600,
        tolerated_alerts=("InferenceLatencyElevated", "InferenceLatencyBurnRateHigh"),
        note="`invoke drill latency --fault network`: the same alert as the latency drill, from the network.",
        budget_slos=("inference-latency",)),
    Scenario(
        name="feature-store", title="Feature store outage",
        fault="the feature-store container is stopped",
        alertname="FeatureStoreDown", severity="high",
        detection=Detection("threshold"),
        key_metric='up{job="feature-store"}', key_metric_label="feature store scrape up (1 = up)",
        tolerated_alerts=("InferenceErrorRateCritical", "InferenceErrorRateHigh", "FeatureStoreErrorsHigh",
                          "PrometheusScrapeFailure", "MissingFeaturesHigh"),
        budget_slos=("inference-availability",)),
    Scenario(
        name="drift", title="Input feature drift",
        fault="traffic arrives with user_age ~ N(50, 15) instead of the training N(35, 10)",
        alertname="FeatureDriftDetected", severity="high",
        detection=Detection("threshold", detection_s=120),
        key_metric='max by (feature_name) (model_drift_psi{metric_type="feature"})',
        key_metric_label="feature PSI against the training reference",
        load=None,  # faults.inject("drift") runs the drifted load itself; healthy load would dilute it
        tolerated_alerts=("PredictionDriftDetected",), budget_slos=()),
    Scenario(
        name="gpu-oom", title="GPU memory leak ending in OOM errors",
        fault="a gateway release leaks 128 MB/s of GPU memory (embedding cache on the GPU)",
        alertname="GPUMemoryHigh", severity="high",
        detection=Detection("threshold", detection_s=180),
        key_metric="max(DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE))",
        key_metric_label="GPU framebuffer used / (used + free), DCGM fields of the simulated GPU",
        load=LoadProfile(rps=2),
        tolerated_alerts=("InferenceErrorRateCritical", "InferenceErrorRateHigh", "InferenceErrorBudgetBurnHigh"),
        note="GPUMemoryHigh waits 10m in production (rules_data/gpu.yml); the local environment shortens it with "
             "prometheus_alert_for_overrides (inventories/local), and the predicted bound reads the deployed `for` "
             "from Prometheus, so it follows the override.",
        budget_slos=("inference-availability",)),
    Scenario(
        name="logging-outage", title="Logging outage",
        fault="a gateway release switches its log output off",
        alertname="LogIngestionOutage", severity="high",
        detection=Detection("threshold", detection_s=600),
        key_metric='sum(rate(inference_requests_total{job="inference-gateway"}[1m]))',
        key_metric_label="gateway requests per second (still served while its logs are silent)",
        load=LoadProfile(rps=2), evaluator="grafana", resolve_deadline_s=900,
        note="LogIngestionOutage is a Grafana-managed log alert (absent_over_time over Loki, for 5m). It can only "
             "fire where Grafana and Loki run; offline mode (the local environment) deploys neither, so this drill "
             "reports the gap instead of a pass there.",
        budget_slos=()),
    Scenario(
        name="model-performance", title="Model performance degraded by concept drift",
        fault=f"outcomes labelled by a shifted concept (fraud among older users) arrive at "
              f"{faults.CONCEPT_SHIFT['rps']}/s next to the steady traffic's; same inputs, same model, same latency",
        alertname="ModelPerformanceDegraded", severity="high",
        detection=Detection("threshold", detection_s=30),
        key_metric='model_performance_metric{metric="auc_roc"}',
        key_metric_label="AUC-ROC on the last labelled outcomes",
        load=None,  # the steady traffic posts the healthy outcomes; the fault brings its own users
        tolerated_alerts=("InferenceRequestRateAnomalous",),
        precondition='model_performance_metric{metric="auc_roc"} offset 7d > 0.80',
        note="ModelPerformanceDegraded waits 24h in production (rules_data/ml.yml) and compares with 7 days ago; "
             "the local environment shortens the wait with prometheus_alert_for_overrides, and the history "
             "backfill gives model_performance_metric its healthy week.",
        budget_slos=()),
)}


FAULT_VARIANTS = {("latency", "network"): "network-latency"}
"""`invoke drill SCENARIO --fault KIND`: the scenario that injects KIND of fault for the same alert."""


def variant(name: str, fault: str | None) -> str:
    """The scenario name of `name` with fault kind `fault` (None or "release": `name` itself)."""
    if not fault or fault == "release":
        return name
    try:
        return FAULT_VARIANTS[(name, fault)]
    except KeyError:
        kinds = sorted(f for n, f in FAULT_VARIANTS if n == name)
        raise KeyError(f"drill {name!r} has no {fault!r} fault; it has: release"
                       + "".join(f", {k}" for k in kinds)) from None


def get(name: str) -> Scenario:
    """The scenario called `name`; KeyError names the known ones."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise KeyError(f"unknown drill scenario {name!r}; known: {', '.join(SCENARIOS)}") from None


def channel_name(ch) -> str:
    """('slack', 'ai-infra-incidents') -> 'slack #ai-infra-incidents'."""
    kind, channel = ch
    return f"slack #{channel}" if kind == "slack" else f"{kind} {channel}"
