"""The four dashboards, built with grafana-foundation-sdk (fixed uids, which the alerts'
dashboard_url annotations link to).

`dashboards()` returns {uid: dashboard JSON model}. Queries use only the demo platform's own metrics,
Alertmanager's and Prometheus's self-metrics, and the log labels the shipper writes (`job`, `service`, `level`).
"""
from __future__ import annotations

import json

from grafana_foundation_sdk.builders import (alertgroups, dashboard as dash, logs, loki, prometheus, stat,
                                             timeseries)
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (DashboardLinkType, DataSourceRef, GridPos, VariableOption,
                                                     VariableRefresh)

from alertstack import slo
from alertstack.defaults import default_burn_rate_tiers
from alertstack.grafana.datasources import ALERTMANAGER_UID, LOKI_UID, PROMETHEUS_UID

SLO_OVERVIEW = "slo-overview"
INFERENCE_SERVICE = "inference-service"
ML_MONITORING = "ml-monitoring"
ONCALL_OVERVIEW = "oncall-overview"
UIDS = (SLO_OVERVIEW, INFERENCE_SERVICE, ML_MONITORING, ONCALL_OVERVIEW)
TITLES = {SLO_OVERVIEW: "SLO overview", INFERENCE_SERVICE: "Inference service", ML_MONITORING: "ML monitoring",
          ONCALL_OVERVIEW: "On-call overview"}

# The SLO dashboard reads the recording rules generated from `prometheus_slos` (alertstack/slo.py): one series per
# SLO, chosen with the variable $slo; nothing on it is written per service. The inference dashboard's latency panel
# uses the default latency SLO's threshold.
LATENCY_THRESHOLD = "0.3"               # seconds; a bucket boundary of inference_request_duration_seconds
BURN_WINDOWS = slo.WINDOWS
BURN_DOWN_RANGE = "30d"                 # the default compliance window (slo.py validate_slo)
ERROR_MATCHER = 'status=~"5.."'         # a failed request (HTTP 5xx)

_PROM = DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)
_LOKI = DataSourceRef(type_val="loki", uid=LOKI_UID)
_AM = DataSourceRef(type_val="alertmanager", uid=ALERTMANAGER_UID)
_SEL = 'model=~"$model", endpoint=~"$endpoint"'


class _Layout:
    """Places panels left to right on Grafana's 24-column grid."""

    def __init__(self) -> None:
        self.x = self.y = self.row_h = 0

    def __call__(self, w: int, h: int) -> GridPos:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        pos = GridPos(h=h, w=w, x=self.x, y=self.y)
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos

    def new_row(self) -> int:
        self.y += self.row_h
        self.x, self.row_h = 0, 0
        y, self.y = self.y, self.y + 1
        return y


def _prom(expr: str, legend: str = "__auto", ref: str = "A", instant: bool = False):
    q = prometheus.Dataquery().expr(expr).ref_id(ref).legend_format(legend).datasource(_PROM)
    return q.instant() if instant else q.range()


def _logql(expr: str, ref: str = "A"):
    return loki.Dataquery().expr(expr).ref_id(ref).datasource(_LOKI)


def _ts(title, pos, targets, unit="short", description=""):
    p = timeseries.Panel().title(title).grid_pos(pos).datasource(targets[0]._internal.datasource).unit(unit)
    return p.targets(targets).description(description)


def _prom_ts(title, pos, expr, legend, unit="short", description=""):
    """A time series panel of one Prometheus query."""
    return _ts(title, pos, [_prom(expr, legend)], unit, description)


def _stat(title, pos, target, unit="short", description="", decimals=None):
    p = stat.Panel().title(title).grid_pos(pos).datasource(_PROM).unit(unit).with_target(target)
    if decimals is not None:
        p = p.decimals(decimals)
    return p.description(description)


def _row(builder, layout: _Layout, title: str):
    return builder.with_row(dash.Row(title).grid_pos(GridPos(h=1, w=24, x=0, y=layout.new_row())))


def _links(uid: str) -> list:
    return [dash.DashboardLink(TITLES[other]).type(DashboardLinkType.LINK).url(f"/d/{other}")
            .icon("dashboard").tooltip(f"Open {TITLES[other]}").target_blank(False)
            for other in UIDS if other != uid]


def _base(uid: str, description: str, tags: list[str]):
    return (dash.Dashboard(TITLES[uid]).uid(uid).description(description).tags(["ai-alerting", *tags])
            .timezone("utc").refresh("30s").time("now-6h", "now").readonly().links(_links(uid)))


def _label_var(name: str, metric: str):
    return (dash.QueryVariable(name).label(name).datasource(_PROM)
            .query({"qryType": 1, "query": f"label_values({metric}, {name})", "refId": "PrometheusVariableQueryEditor-VariableQuery"})
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).include_all(True).all_value(".*").multi(True)
            .current(VariableOption(selected=True, text=["All"], value=["$__all"])))


# --- SLO expressions -----------------------------------------------------------------------------------------------

def latency_bad_ratio(window: str) -> str:
    return (f'1 - sum(rate(inference_request_duration_seconds_bucket{{le="{LATENCY_THRESHOLD}"}}[{window}]))'
            f' / sum(rate(inference_request_duration_seconds_count[{window}]))')


def _tiers_text() -> str:
    """The policy's default alerts and their burn-rate tiers, as the burn rate panel describes them
    (slo.DEFAULT_ALERTS, the role's prometheus_slo_burn_rate_tiers)."""
    tiers = slo.validate_tiers(default_burn_rate_tiers())
    return "; ".join(f"{severity}: " + " or ".join(f"{b.factor:g}x over {b.long} and {b.short}" for b in tiers[tier])
                     for _, severity, _, tier in slo.DEFAULT_ALERTS)


def slo_overview():
    """Every SLO of prometheus_slos (variable $slo, from the info series), read from the generated recording rules:
    SLI and objective, error budget remaining, projected exhaustion date at the last day's burn, burn-down over
    the compliance window, burn rate per window."""
    layout = _Layout()
    sel = '{slo=~"$slo"}'
    b = (_base(SLO_OVERVIEW, "Every SLO of prometheus_slos, from the generated recording rules: SLI, objective, "
               "error budget remaining, burn-down, burn rates and the projected exhaustion date.", ["slo"])
         .with_variable(_label_var("slo", slo.RECORD_INFO)))
    b = _row(b, layout, "Error budgets (one series per SLO)")
    b = b.with_panel(_stat("SLI over the compliance window", layout(5, 5), _prom(
        f"1 - (1 - {slo.RECORD_BUDGET}{sel}) * on (slo) (1 - {slo.RECORD_OBJECTIVE}{sel})", "{{slo}}",
        instant=True), "percentunit", "Share of good events over each SLO's window (30d unless the SLO says "
        "otherwise).", decimals=3))
    b = b.with_panel(_stat("Objective", layout(4, 5), _prom(f"{slo.RECORD_OBJECTIVE}{sel}", "{{slo}}", instant=True),
                           "percentunit", decimals=2))
    b = b.with_panel(_stat("Error budget remaining", layout(5, 5),
                           _prom(f"{slo.RECORD_BUDGET}{sel}", "{{slo}}", instant=True), "percentunit",
                           "1 = untouched, 0 = spent, below 0 the SLO is broken for the window.", decimals=1))
    b = b.with_panel(_stat(
        "Projected budget exhaustion (at the last day's burn)", layout(10, 5),
        _prom(f"(time() + {slo.RECORD_EXHAUSTION}{sel}) * 1000", "{{slo}}", instant=True), "dateTimeAsIso",
        f"When the budget runs out if the error ratio of the last {slo.FORECAST_BURN_WINDOW} continues "
        f"({slo.RECORD_EXHAUSTION}); the ticket {slo.FORECAST_ALERT} fires when this is less than "
        f"{slo.FORECAST_HORIZON} away. No value: nothing burns.").no_value("not burning"))
    b = b.with_panel(_prom_ts(f"Error budget burn-down ({BURN_DOWN_RANGE})", layout(12, 8),
                              f"{slo.RECORD_BUDGET}{sel}", "{{slo}}", "percentunit",
                              "Remaining error budget of each SLO over the rolling compliance window: the slope is "
                              "the burn.").time_from(BURN_DOWN_RANGE))
    burn = [_prom(f"{slo.RECORD_PREFIX}{w}{sel} / on (slo) (1 - {slo.RECORD_OBJECTIVE}{sel})", f"{{{{slo}}}} {w}",
                  ref=chr(ord("A") + i)) for i, w in enumerate(BURN_WINDOWS)]
    b = b.with_panel(_ts("Burn rate per window", layout(12, 8), burn, "x",
                         "Error ratio / error budget; 1 = the budget lasts exactly the window. Default tiers: "
                         + _tiers_text() + "."))
    return b


def inference_service():
    layout = _Layout()
    b = (_base(INFERENCE_SERVICE, "Inference gateway: rate, errors and latency by endpoint and model; GPU.",
               ["inference"])
         .with_variable(_label_var("model", "inference_requests_total"))
         .with_variable(_label_var("endpoint", "inference_requests_total")))
    b = _row(b, layout, "Requests")
    b = b.with_panel(_prom_ts(
        "Request rate by endpoint and model", layout(12, 8),
        f'sum by (endpoint, model) (rate(inference_requests_total{{{_SEL}}}[$__rate_interval]))',
        "{{endpoint}} {{model}}", "reqps"))
    b = b.with_panel(_prom_ts(
        "Error ratio by endpoint and model", layout(12, 8),
        f'sum by (endpoint, model) (rate(inference_requests_total{{{_SEL}, {ERROR_MATCHER}}}[$__rate_interval]))'
        f' / sum by (endpoint, model) (rate(inference_requests_total{{{_SEL}}}[$__rate_interval]))',
        "{{endpoint}} {{model}}", "percentunit"))
    b = _row(b, layout, "Latency")
    b = b.with_panel(_ts("Latency quantiles", layout(12, 8), [
        _prom(f'histogram_quantile({q}, sum by (le) (rate(inference_request_duration_seconds_bucket{{{_SEL}}}[$__rate_interval])))',
              f"p{int(q * 100)}", ref=chr(ord("A") + i)) for i, q in enumerate((0.5, 0.95, 0.99))], "s"))
    b = b.with_panel(_prom_ts(f"Requests slower than {LATENCY_THRESHOLD}s", layout(12, 8),
                              latency_bad_ratio("$__rate_interval"), "slow ratio", "percentunit"))
    b = b.with_panel(_prom_ts(
        "Model load errors", layout(12, 8),
        f'sum by (model) (increase(model_load_errors_total{{model=~"$model"}}[$__rate_interval]))', "{{model}}"))
    b = b.with_panel(_ts("Error log lines by level", layout(12, 8), [_logql(
        'sum by (level) (count_over_time({service="inference-gateway"}[$__auto]))')]))
    b = _row(b, layout, "GPU")
    b = b.with_panel(_prom_ts("GPU utilization", layout(12, 8), "max by (host, gpu) (DCGM_FI_DEV_GPU_UTIL)",
                              "{{host}} gpu {{gpu}}", "percent"))
    b = b.with_panel(_prom_ts(
        "GPU memory used", layout(12, 8),
        "max by (host, gpu) (DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE))",
        "{{host}} gpu {{gpu}}", "percentunit"))
    b = _row(b, layout, "Logs")
    b = b.with_panel(logs.Panel().title("Gateway errors").grid_pos(layout(24, 10)).datasource(_LOKI)
                     .with_target(_logql('{service="inference-gateway", level="error"}'))
                     .show_time(True).wrap_log_message(True))
    return b


def ml_monitoring():
    layout = _Layout()
    b = _base(ML_MONITORING, "Feature and prediction drift, missing features, input validation, model quality.",
              ["ml"])
    b = _row(b, layout, "Drift")
    b = b.with_panel(_prom_ts(
        "Feature drift (PSI) per feature", layout(12, 8),
        'max by (model_name, feature_name) (model_drift_psi{metric_type="feature"})', "{{model_name}} {{feature_name}}",
        description="PSI below 0.1: stable; 0.1-0.25: moderate shift; above 0.25: significant drift."))
    b = b.with_panel(_prom_ts("Prediction drift (PSI)", layout(12, 8),
                              'max by (model_name) (model_drift_psi{metric_type="prediction"})', "{{model_name}}"))
    b = _row(b, layout, "Features and inputs")
    b = b.with_panel(_prom_ts("Missing features", layout(8, 8),
                              "sum by (feature) (rate(feature_missing_total[$__rate_interval]))", "{{feature}}", "ops"))
    b = b.with_panel(_prom_ts(
        "Feature fetch error ratio", layout(8, 8),
        "sum(rate(feature_fetch_errors_total[$__rate_interval])) / sum(rate(feature_fetch_total[$__rate_interval]))",
        "error ratio", "percentunit"))
    b = b.with_panel(_prom_ts(
        "Input validation failures", layout(8, 8),
        "sum by (reason) (rate(inference_input_validation_failures_total[$__rate_interval]))", "{{reason}}", "ops"))
    b = _row(b, layout, "Model quality")
    b = b.with_panel(_prom_ts("Model performance", layout(12, 8),
                              "max by (model_name, metric) (model_performance_metric)", "{{model_name}} {{metric}}"))
    b = b.with_panel(_prom_ts("Fairness by group", layout(12, 8),
                              "max by (model_name, metric, group) (model_fairness_metric)",
                              "{{model_name}} {{metric}} {{group}}"))
    b = b.with_panel(logs.Panel().title("FeatureNotFound log lines").grid_pos(layout(24, 8)).datasource(_LOKI)
                     .with_target(_logql('{service="inference-gateway"} |= "FeatureNotFound"'))
                     .show_time(True))
    return b


def oncall_overview():
    layout = _Layout()
    b = _base(ONCALL_OVERVIEW, "What is firing, what is silenced, what was sent.", ["oncall"])
    b = _row(b, layout, "Alerts")
    for i, sev in enumerate(("critical", "high", "warning", "info")):
        b = b.with_panel(_stat(f"Firing: {sev}", layout(6, 4), _prom(
            f'count(ALERTS{{alertstate="firing", severity="{sev}"}}) or vector(0)', sev, instant=True)))
    b = b.with_panel(alertgroups.Panel().title("Alert groups in Alertmanager").grid_pos(layout(12, 10))
                     .datasource(_AM).alertmanager(ALERTMANAGER_UID).expand_all(False))
    b = b.with_panel(_prom_ts("Alerts in Alertmanager by state", layout(12, 10),
                              "sum by (state) (alertmanager_alerts)", "{{state}}"))
    b = _row(b, layout, "Silences and notifications")
    b = b.with_panel(_stat("Active silences", layout(6, 5), _prom(
        'sum(alertmanager_silences{state="active"})', "active", instant=True)))
    b = b.with_panel(_stat("Failed notifications (1h)", layout(6, 5), _prom(
        "sum(increase(alertmanager_notifications_failed_total[1h]))", "failed", instant=True)))
    b = b.with_panel(_prom_ts(
        "Notifications sent by integration", layout(12, 5),
        "sum by (integration) (increase(alertmanager_notifications_total[$__rate_interval]))", "{{integration}}"))
    b = b.with_panel(logs.Panel().title("Recent notifications (notification sink log)").grid_pos(layout(24, 10))
                     .datasource(_LOKI).with_target(_logql('{service="notification-sink"}'))
                     .show_time(True).sort_order("Descending"))
    b = _row(b, layout, "Monitoring health")
    b = b.with_panel(_prom_ts("Scrape targets down", layout(12, 6), "sum by (job) (1 - up)", "{{job}}"))
    b = b.with_panel(_ts("Log lines shipped by service", layout(12, 6), [_logql(
        'sum by (service) (count_over_time({service=~".+"}[$__auto]))')]))
    return b


BUILDERS = {SLO_OVERVIEW: slo_overview, INFERENCE_SERVICE: inference_service, ML_MONITORING: ml_monitoring,
            ONCALL_OVERVIEW: oncall_overview}


def _drop_none(value):
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def to_json(builder) -> dict:
    """The dashboard JSON model: the SDK's output with unique panel ids and explicit (possibly empty) lists."""
    model = _drop_none(json.loads(json.dumps(builder.build(), cls=JSONEncoder)))
    next_id = 1
    for panel in model.get("panels", []):
        for p in [panel, *panel.get("panels", [])]:
            p["id"] = next_id
            next_id += 1
    for variable in model.setdefault("templating", {}).setdefault("list", []):
        variable.pop("id", None)  # the SDK's placeholder uuid; Grafana keys variables by name
    model.setdefault("annotations", {}).setdefault("list", [])
    return model


def dashboards() -> dict[str, dict]:
    """uid -> dashboard JSON model, for every dashboard of the stack."""
    return {uid: to_json(build()) for uid, build in BUILDERS.items()}


def files(prefix: str = "") -> dict[str, str]:
    """{<prefix><uid>.json: the dashboard's JSON text} for every dashboard, ready for the stack_files module."""
    return {f"{prefix}{uid}.json": json.dumps(model, indent=2, sort_keys=True) + "\n"
            for uid, model in dashboards().items()}


def provider(path: str = "/var/lib/grafana/dashboards", folder: str = "AI Alerting") -> dict:
    """The dashboard provider provisioning file: load the dashboards from files, not editable in the UI."""
    return {"apiVersion": 1, "providers": [{
        "name": "ai-alerting", "orgId": 1, "folder": folder, "type": "file", "disableDeletion": True,
        "allowUiUpdates": False, "updateIntervalSeconds": 30,
        "options": {"path": path, "foldersFromFilesStructure": False},
    }]}
