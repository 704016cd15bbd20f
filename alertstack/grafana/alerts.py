"""The log alerts as Grafana-managed alert rules, in Grafana's alert-rule file-provisioning format.

Each rule is built with grafana-foundation-sdk's typed builders (rule, Loki query, reduce and threshold
expressions), then placed in the provisioning file shape that Grafana reads from provisioning/alerting/:

    apiVersion: 1
    groups: [{orgId, name, folder, interval, rules: [{uid, title, condition, data: [{refId, relativeTimeRange,
              datasourceUid, model}], noDataState, execErrState, for, annotations, labels, isPaused}]}]

(the SDK's rule model is the HTTP API's, with folderUID/ruleGroup/orgID on each rule; the file format carries those
on the group instead). Expressions use the datasource uid `__expr__`.
"""
from __future__ import annotations

import json
import re

from grafana_foundation_sdk.builders import alerting, expr as expr_builders, loki
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.alerting import RelativeTimeRange
from grafana_foundation_sdk.models.dashboard import DataSourceRef

from alertstack.grafana.datasources import EXPRESSION_UID, LOKI_UID
from alertstack.logs import alerts as log_alerts
from alertstack.vocabulary import longest_range_s

FOLDER = "AI Alerting - logs"
GROUP = "log-alerts"
INTERVAL = "1m"
_EXPR_REF = DataSourceRef(type_val=EXPRESSION_UID, uid=EXPRESSION_UID)


def rule_uid(name: str) -> str:
    """Stable rule uid from the alert name: FeatureNotFoundErrors -> log-feature-not-found-errors."""
    return "log-" + re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower().replace("p-i-i", "pii")


def _lookback_seconds(logql: str) -> int:
    """The longest range selector in the expression: how far back the query must look."""
    return int(longest_range_s(logql)) or 300


def _rule(alert: log_alerts.LogAlert, runbooks_base_url: str, grafana_external_url: str) -> dict:
    query = (alerting.Query("A")
             .datasource_uid(LOKI_UID)
             .relative_time_range(RelativeTimeRange(from_val=_lookback_seconds(alert.expr), to=0))
             .model(loki.Dataquery().ref_id("A").expr(alert.expr).query_type("instant").instant(True)
                    .datasource(DataSourceRef(type_val="loki", uid=LOKI_UID))))
    reduce = (alerting.Query("B").datasource_uid(EXPRESSION_UID)
              .relative_time_range(RelativeTimeRange(from_val=0, to=0))
              .model(expr_builders.TypeReduce().ref_id("B").expression("A").reducer("last")
                     .datasource(_EXPR_REF)))
    threshold = (alerting.Query("C").datasource_uid(EXPRESSION_UID)
                 .relative_time_range(RelativeTimeRange(from_val=0, to=0))
                 .model(expr_builders.TypeThreshold().ref_id("C").expression("B").datasource(_EXPR_REF)
                        .conditions([expr_builders.ExprTypeThresholdConditions().evaluator(
                            expr_builders.ExprTypeThresholdConditionsEvaluator()
                            .type(alert.op).params([float(alert.threshold)]))])))
    rule = (alerting.Rule(alert.name)
            .uid(rule_uid(alert.name))
            .condition("C")
            .queries([query, reduce, threshold])
            # An empty LogQL result means "nothing matched": OK, except where absence is the alert itself.
            .no_data_state("Alerting" if alert.no_data_alerts else "OK")
            # Loki unreachable: an ingestion outage alerts; the others raise Grafana's DatasourceError alert.
            .exec_err_state("Alerting" if alert.name == "LogIngestionOutage" else "Error")
            .for_val(alert.for_)
            .is_paused(False)
            .labels(log_alerts.labels(alert, "grafana"))
            .annotations(log_alerts.annotations(alert, runbooks_base_url, grafana_external_url,
                                                "{{ $values.B.Value }}")))
    built = json.loads(json.dumps(rule.build(), cls=JSONEncoder))
    # API-only fields: the file format puts folder, group and org on the group.
    for api_only in ("folderUID", "ruleGroup", "orgID", "id", "provenance", "updated"):
        built.pop(api_only, None)
    for item in built["data"]:
        rtr = item.get("relativeTimeRange", {})
        item["relativeTimeRange"] = {"from": int(rtr.get("from", 0)), "to": int(rtr.get("to", 0))}
    return built


def provisioning(runbooks_base_url: str, grafana_external_url: str, org_id: int = 1,
                 folder: str = FOLDER, interval: str = INTERVAL) -> dict:
    """The alert-rule provisioning file (provisioning/alerting/log-alerts.yml) as a dict."""
    return {
        "apiVersion": 1,
        "groups": [{
            "orgId": org_id,
            "name": GROUP,
            "folder": folder,
            "interval": interval,
            "rules": [_rule(a, runbooks_base_url, grafana_external_url) for a in log_alerts.LOG_ALERTS],
        }],
    }
