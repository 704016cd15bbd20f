"""Dashboards and Grafana provisioning as generated, checked by alertstack.grafana.validate (no Docker)."""
from __future__ import annotations

import copy

import pytest
import yaml

from alertstack import slo
from alertstack.grafana import alerts, dashboards, datasources, validate

RUNBOOKS = "https://runbooks.test"
GRAFANA = "https://grafana.test"


@pytest.fixture(scope="module")
def models():
    return dashboards.dashboards()


@pytest.fixture(scope="module")
def ds():
    return datasources.provisioned_uids(datasources.datasources())


def _panel(model, title):
    return next(p for p in model["panels"] if p.get("title") == title)


def test_the_four_contract_dashboards_are_generated(models):
    assert set(models) == {"slo-overview", "inference-service", "ml-monitoring", "oncall-overview"}
    for uid, model in models.items():
        assert model["uid"] == uid
        assert [p for p in model["panels"] if p["type"] != "row"], uid


def test_every_dashboard_passes_the_format_checks(models, ds):
    for model in models.values():
        assert validate.check_dashboard(model, ds, models) == []


def test_datasources_are_provisioned_with_fixed_uids_and_alertmanager_handles_grafana_alerts():
    prov = datasources.datasources()
    assert validate.check_datasources(prov) == []
    by_uid = {d["uid"]: d for d in prov["datasources"]}
    assert set(by_uid) == {"prometheus", "loki", "alertmanager"}
    assert by_uid["alertmanager"]["jsonData"] == {"implementation": "prometheus", "handleGrafanaManagedAlerts": True}


def test_datasource_secrets_must_be_file_references():
    prov = datasources.datasources(basic_auth_user="ops")
    assert validate.check_datasources(prov) == []
    assert prov["datasources"][0]["secureJsonData"] == {
        "basicAuthPassword": "$__file{/etc/grafana/secrets/api_password}"}
    prov["datasources"][2]["secureJsonData"]["basicAuthPassword"] = "clear-text-password"
    assert validate.check_datasources(prov) == [
        "datasources: datasource 'Alertmanager': secureJsonData.basicAuthPassword must be a $__file{…} or "
        "$__env{…} reference, never a clear-text secret"]


def test_dashboard_provider_passes():
    assert validate.check_dashboard_provider(dashboards.provider()) == []


def test_slo_dashboard_shows_sli_objective_budget_burn_rates_and_exhaustion(models):
    """Generated from the SLO data: every panel reads the recording rules of all SLOs (variable $slo from the info
    series), none is written per service or repeats a threshold."""
    model = models["slo-overview"]
    titles = [p["title"] for p in model["panels"]]
    for wanted in ("SLI over the compliance window", "Objective", "Error budget remaining", "Burn rate per window",
                   "Error budget burn-down (30d)", "Projected budget exhaustion (at the last day's burn)"):
        assert wanted in titles
    variable = next(v for v in model["templating"]["list"] if v["name"] == "slo")
    assert "slo:sli:info" in variable["query"]["query"]
    burn = _panel(model, "Burn rate per window")
    assert [t["legendFormat"] for t in burn["targets"]] == [f"{{{{slo}}}} {w}" for w in slo.WINDOWS]
    assert all(t["expr"].startswith(f"slo:sli_error:ratio_rate{w}{{") for t, w in zip(burn["targets"], slo.WINDOWS))
    exhaustion = _panel(model, "Projected budget exhaustion (at the last day's burn)")
    assert exhaustion["targets"][0]["expr"] == '(time() + slo:error_budget:exhaustion_seconds{slo=~"$slo"}) * 1000'
    assert exhaustion["fieldConfig"]["defaults"]["unit"] == "dateTimeAsIso"
    burn_down = _panel(model, "Error budget burn-down (30d)")
    assert burn_down["timeFrom"] == "30d" and "slo:error_budget:remaining_ratio" in burn_down["targets"][0]["expr"]
    for panel in model["panels"]:
        for target in panel.get("targets", []):
            assert 'slo=~"$slo"' in target["expr"] and "rate(" not in target["expr"], panel["title"]
            assert "inference" not in target["expr"], f"{panel['title']}: written for one service"


def test_oncall_dashboard_reads_alertmanager_silences_and_notifications(models):
    model = models["oncall-overview"]
    groups = [p for p in model["panels"] if p["type"] == "alertGroups"]
    assert groups and groups[0]["datasource"]["uid"] == "alertmanager"
    exprs = " ".join(t["expr"] for p in model["panels"] for t in p.get("targets", []))
    assert "alertmanager_silences" in exprs and "alertmanager_notifications_total" in exprs
    assert 'service="notification-sink"' in exprs


# --- the validation catches what it must ------------------------------------------------------------------------

def test_a_broken_loki_panel_query_is_caught(models, ds):
    model = copy.deepcopy(models["inference-service"])
    _panel(model, "Gateway errors")["targets"][0]["expr"] = '{job="docker", service="inference-gateway"'
    problems = validate.check_dashboard(model, ds, models)
    assert len(problems) == 1 and "Gateway errors" in problems[0] and "expected" in problems[0]


def test_a_dangling_datasource_uid_is_caught(models, ds):
    model = copy.deepcopy(models["ml-monitoring"])
    panel = _panel(model, "Missing features")
    panel["targets"][0]["datasource"] = {"type": "prometheus", "uid": "prometheus-old"}
    problems = validate.check_dashboard(model, ds, models)
    assert len(problems) == 1
    assert "'prometheus-old' is not provisioned" in problems[0] and "Missing features" in problems[0]


def test_a_panel_datasource_of_the_wrong_type_is_caught(models, ds):
    model = copy.deepcopy(models["ml-monitoring"])
    _panel(model, "Missing features")["datasource"] = {"type": "prometheus", "uid": "loki"}
    assert any("of type 'loki', not 'prometheus'" in p for p in validate.check_dashboard(model, ds, models))


def test_a_dangling_dashboard_link_is_caught(models, ds):
    model = copy.deepcopy(models["slo-overview"])
    model["links"][0]["url"] = "/d/inference-slo"
    assert validate.check_dashboard(model, ds, models) == [
        "dashboard 'slo-overview': links[0] points to unknown dashboard uid 'inference-slo'"]


def test_an_undefined_template_variable_is_caught(models, ds):
    model = copy.deepcopy(models["inference-service"])
    target = _panel(model, "Request rate by endpoint and model")["targets"][0]
    target["expr"] = target["expr"].replace("$model", "$modle")
    assert any("undefined variable $modle" in p for p in validate.check_dashboard(model, ds, models))


def test_duplicate_panel_ids_and_overflowing_grid_are_caught(models, ds):
    model = copy.deepcopy(models["oncall-overview"])
    model["panels"][2]["id"] = model["panels"][1]["id"]
    model["panels"][3]["gridPos"]["x"] = 20
    problems = validate.check_dashboard(model, ds, models)
    assert any("duplicate panel id" in p for p in problems) and any("x + w <= 24" in p for p in problems)


@pytest.mark.parametrize("mutate,expected", [
    (lambda p: p.pop("apiVersion"), "missing required key 'apiVersion'"),
    (lambda p: p["datasources"][0].pop("uid"), "missing required key 'uid'"),
    (lambda p: p["datasources"][2]["jsonData"].update(handleGrafanaManagedAlerts=False),
     "handleGrafanaManagedAlerts must be true"),
    (lambda p: p["datasources"][1].update(isDefault=True), "exactly one datasource must be isDefault"),
    (lambda p: p["datasources"][1].update(uid="prometheus"), "duplicate uid or name"),
    (lambda p: p["datasources"][0].update(jsonDta={}), "unknown key 'jsonDta'"),
])
def test_a_malformed_datasources_file_is_caught(mutate, expected):
    prov = datasources.datasources()
    mutate(prov)
    assert any(expected in p for p in validate.check_datasources(prov)), validate.check_datasources(prov)


def test_promql_expressions_are_collected_with_variables_substituted(models, ds):
    exprs = validate.promql_expressions(models.values(), ds)
    targets = sum(1 for m in models.values() for p in m["panels"] for t in p.get("targets", [])
                  if t.get("datasource", p.get("datasource", {})).get("uid") == "prometheus")
    variables = sum(1 for m in models.values() for v in m["templating"]["list"] if v.get("type") == "query")
    assert len(exprs) == targets + variables > 30
    text = " ".join(e for _, e in exprs)
    assert "$" not in text and "[1m]" in text and 'model=~".*"' in text


# --- Grafana-managed log alert rules ----------------------------------------------------------------------------

@pytest.fixture()
def rules():
    return alerts.provisioning(RUNBOOKS, GRAFANA)


def test_log_alert_rules_pass_the_provisioning_format_checks(rules, ds, models):
    assert validate.check_alert_provisioning(rules, ds, models) == []
    assert [r["title"] for r in rules["groups"][0]["rules"]] == [
        "FeatureNotFoundErrors", "ErrorLogRateSpike", "PIIInLogs", "LogIngestionOutage"]


def test_log_alert_rules_have_the_file_provisioning_shape(rules):
    group = rules["groups"][0]
    assert rules["apiVersion"] == 1 and set(group) == {"orgId", "name", "folder", "interval", "rules"}
    for rule in group["rules"]:
        assert {"folderUID", "ruleGroup", "orgID"}.isdisjoint(rule)  # API fields, not file fields
        assert [d["datasourceUid"] for d in rule["data"]] == ["loki", "__expr__", "__expr__"]
        assert rule["data"][0]["relativeTimeRange"]["from"] > 0
        assert rule["condition"] == "C" and rule["data"][2]["model"]["type"] == "threshold"


def test_log_alerts_follow_the_label_and_runbook_contract(rules):
    from alertstack.catalog import LOG_ALERTS, RUNBOOK_SLUGS
    assert sorted(r["title"] for r in rules["groups"][0]["rules"]) == sorted(LOG_ALERTS)
    for rule in rules["groups"][0]["rules"]:
        assert rule["annotations"]["runbook_url"] == f"{RUNBOOKS}/{RUNBOOK_SLUGS[rule['title']]}.html"
        assert rule["annotations"]["dashboard_url"].startswith(f"{GRAFANA}/d/")
        assert rule["labels"]["family"] == RUNBOOK_SLUGS[rule["title"]]


@pytest.mark.parametrize("mutate,expected", [
    (lambda r: r["groups"][0]["rules"][0].update(condition="D"), "condition 'D' is not one of the data refIds"),
    (lambda r: r["groups"][0]["rules"][0]["data"][1]["model"].update(expression="Z"), "unknown refId 'Z'"),
    (lambda r: r["groups"][0]["rules"][1]["data"][0].update(datasourceUid="loki-uid"),
     "datasourceUid 'loki-uid' is not provisioned"),
    (lambda r: r["groups"][0]["rules"][1].update(noDataState="Nodata"), "noDataState 'Nodata'"),
    (lambda r: r["groups"][0]["rules"][2]["labels"].update(severity="page"), "label severity must be one of"),
    (lambda r: r["groups"][0].pop("folder"), "missing required key 'folder'"),
    (lambda r: r["groups"][0]["rules"][3].update(folderUID="x"), "unknown key 'folderUID'"),
    (lambda r: r["groups"][0]["rules"][0]["data"][0]["model"].update(expr='sum(rate({job="docker"} [5m])'),
     "expected ')'"),
    (lambda r: r["groups"][0]["rules"][0]["labels"].update(owner="$TEAM"), "unescaped '$'"),
    (lambda r: r["groups"][0]["rules"][0]["data"][0]["model"].update(
        expr='sum(count_over_time({job="docker"} |~ "failed$" [5m]))'), "unescaped '$'"),
])
def test_a_malformed_alert_rule_file_is_caught(rules, ds, models, mutate, expected):
    mutate(rules)
    problems = validate.check_alert_provisioning(rules, ds, models)
    assert any(expected in p for p in problems), problems


def test_the_specifications_log_alerts_json_is_rejected(ds, models):
    """Defect 8: the specification's rules/grafana/log-alerts.json is not Grafana's provisioning format."""
    spec_like = {"uid": "log-alerts-001", "title": "Log-Based Alerts", "folder": "AI Infrastructure",
                 "interval": 60, "rules": [{"uid": "x", "title": "t", "condition": "B", "data": [
                     {"refId": "A", "datasourceUid": "loki-uid", "expr": "sum(rate({a=\"b\"}[5m]))"}]}]}
    problems = validate.check_alert_provisioning(spec_like, ds, models)
    assert "alert rules: missing required key 'apiVersion'" in problems


def test_a_yaml_syntax_error_in_a_rendered_tree_is_reported(tmp_path):
    for sub in ("provisioning/datasources", "provisioning/dashboards", "provisioning/alerting", "dashboards"):
        (tmp_path / sub).mkdir(parents=True)
    (tmp_path / "provisioning/datasources/datasources.yml").write_text(
        yaml.safe_dump(datasources.datasources()))
    (tmp_path / "provisioning/dashboards/ai-alerting.yml").write_text(yaml.safe_dump(dashboards.provider()))
    (tmp_path / "provisioning/alerting/log-alerts.yml").write_text("apiVersion: 1\ngroups:\n  - name: [unclosed\n")
    problems, _ = validate.check_grafana_tree(tmp_path)
    assert len(problems) == 1 and "log-alerts.yml: cannot be read or parsed" in problems[0]
