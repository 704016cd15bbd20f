"""SLOs as data: validation errors name the SLO and the field; generated rules follow the policy's numbers."""
from __future__ import annotations

import copy
import math

import pytest
import yaml

from alertstack import slo
from alertstack.catalog import LOG_ALERTS, RUNBOOK_SLUGS, alert_names, alert_rules
from alertstack.defaults import default_slos
from alertstack.rules import RuleError, rule_files


def _default(name: str) -> dict:
    return copy.deepcopy(next(s for s in default_slos() if s["name"] == name))


def test_default_slos_are_valid():
    validated = slo.validate_slos(default_slos())
    assert [s["name"] for s in validated] == ["inference-availability", "inference-latency"]
    assert all(s["objective"] == 0.999 and s["window"] == "30d" for s in validated)
    assert validated[1]["sli"]["threshold"] == 0.3


@pytest.mark.parametrize("mutate,needle", [
    (lambda s: s.update(objective=1), "objective 1 must be > 0 and < 1"),
    (lambda s: s.update(objective=1.5), "objective 1.5 must be > 0 and < 1"),
    (lambda s: s.update(objective=0), "objective 0 must be > 0 and < 1"),
    (lambda s: s.update(objective="99.9%"), "objective '99.9%' must be a number"),
    (lambda s: s["sli"].pop("total"), "sli.total is missing"),
    (lambda s: s["sli"].update(errors=""), "sli.errors is missing"),
    (lambda s: s["sli"].update(errors='inference_requests_total{status=~"5.."'), "is not a metric selector"),
    (lambda s: s["sli"].update(type="throughput"), "sli.type 'throughput' must be one of availability, latency"),
    (lambda s: s["alerts"][0]["burn_rates"][0].update(long="4h"), "long window '4h' is not one of the recorded"),
    (lambda s: s["alerts"][1]["burn_rates"][0].update(short="10m"), "short window '10m' is not one of"),
    (lambda s: s["alerts"][0]["burn_rates"][0].update(short="1h", long="5m"), "must be shorter than long"),
    (lambda s: s["alerts"][0].update(severity="page"), "severity 'page' must be one of"),
    (lambda s: s["alerts"][0]["burn_rates"][0].update(factor=1000), "can never fire"),
    (lambda s: s.update(window="1y"), "window '1y' must be a number of days"),
    (lambda s: s.update(team="ml"), "team 'ml' is not one of"),
    (lambda s: s.pop("service"), "service is missing"),
    (lambda s: s.update(objectve=0.99), "unknown field(s) objectve"),
])
def test_malformed_availability_slo_is_rejected_naming_slo_and_field(mutate, needle):
    bad = _default("inference-availability")
    mutate(bad)
    with pytest.raises(slo.SLOError) as exc:
        slo.validate_slos([bad])
    assert "inference-availability" in str(exc.value)
    assert needle in str(exc.value)


@pytest.mark.parametrize("mutate,needle", [
    (lambda s: s["sli"].pop("threshold"), "sli.threshold is missing"),
    (lambda s: s["sli"].update(threshold=-1), "sli.threshold -1 must be a positive number"),
    (lambda s: s["sli"].pop("histogram"), "sli.histogram None must be"),
    (lambda s: s["sli"].update(histogram="inference_request_duration_seconds_bucket"), "without _bucket"),
    (lambda s: s["sli"].update(selector='le="0.3"'), "must not match on le"),
    (lambda s: s["sli"].update(errors="x"), "do not apply to type latency"),
])
def test_malformed_latency_slo_is_rejected(mutate, needle):
    bad = _default("inference-latency")
    mutate(bad)
    with pytest.raises(slo.SLOError, match="inference-latency") as exc:
        slo.validate_slos([bad])
    assert needle in str(exc.value)


def test_duplicate_slo_names_and_non_list_are_rejected():
    with pytest.raises(slo.SLOError, match="name is used twice"):
        slo.validate_slos([_default("inference-latency"), _default("inference-latency")])
    with pytest.raises(slo.SLOError, match="must be a list"):
        slo.validate_slos({"name": "x"})


def test_rule_files_refuses_a_malformed_slo_before_writing_anything():
    bad = _default("inference-availability")
    bad["objective"] = 1
    with pytest.raises(slo.SLOError, match="inference-availability"):
        rule_files([bad], "http://r", "http://g")


@pytest.mark.parametrize("value,label", [(0.3, "0.3"), (1, "1.0"), (10, "10.0"), (0.25, "0.25"), (2.5, "2.5"),
                                         (0.005, "0.005"), (1e-05, "1e-05"), (math.inf, "+Inf")])
def test_le_label_is_formatted_like_prometheus_3(value, label):
    assert slo.format_le(value) == label


def test_latency_ratio_uses_the_bucket_at_the_threshold():
    latency = slo.validate_slos([_default("inference-latency")])[0]
    expr = slo.bad_ratio_expr(latency, "5m")
    assert 'inference_request_duration_seconds_bucket{job="inference-gateway",endpoint="/predict",le="0.3"}[5m]' in expr
    assert 'inference_request_duration_seconds_count{job="inference-gateway",endpoint="/predict"}[5m]' in expr
    assert "histogram_quantile" not in expr
    one_second = _default("inference-latency")
    one_second["sli"]["threshold"] = 1
    assert 'le="1.0"' in slo.bad_ratio_expr(slo.validate_slos([one_second])[0], "5m")


def test_recording_rules_cover_every_window_and_the_budget():
    groups = slo.slo_rule_groups(slo.validate_slos([_default("inference-availability")])[0])
    records = [r["record"] for g in groups for r in g["rules"] if "record" in r]
    for w in slo.WINDOWS:
        assert f"slo:sli_error:ratio_rate{w}" in records
    assert "slo:error_budget:remaining_ratio" in records
    assert "slo:sli_error:ratio_rate30d" in records


def test_burn_rate_alerts_use_the_policy_tiers():
    groups = slo.slo_rule_groups(slo.validate_slos([_default("inference-availability")])[0])
    alerts = {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}
    crit = alerts["InferenceErrorRateCritical"]["expr"]
    assert 'slo:sli_error:ratio_rate1h{slo="inference-availability"} > 0.0144' in crit
    assert 'slo:sli_error:ratio_rate5m{slo="inference-availability"} > 0.0144' in crit
    high = alerts["InferenceErrorBudgetBurnHigh"]["expr"]
    assert "ratio_rate6h" in high and "ratio_rate30m" in high and "> 0.006" in high
    slow = alerts["InferenceErrorBudgetBurnSlow"]["expr"]
    assert "ratio_rate1d" in slow and "ratio_rate2h" in slow and "> 0.003" in slow
    assert "ratio_rate3d" in slow and "ratio_rate6h" in slow and "> 0.001" in slow
    assert [alerts[n]["labels"]["severity"] for n in alerts] == ["critical", "high", "warning"]
    # defect 9: the value is an error ratio (a percentage), the burn rate is printed as a factor
    assert "$value | humanizePercentage" in alerts["InferenceErrorRateCritical"]["annotations"]["description"]
    assert "burn rate is" in alerts["InferenceErrorRateCritical"]["annotations"]["description"]


def test_default_alert_names_are_derived_when_alerts_are_omitted():
    s = _default("inference-availability")
    s.pop("alerts")
    s["name"] = "search-api-availability"
    names = [a["name"] for a in slo.validate_slos([s])[0]["alerts"]]
    assert names == ["SearchApiAvailabilityBurnRateCritical", "SearchApiAvailabilityBurnRateHigh",
                     "SearchApiAvailabilityBurnRateSlow"]


def test_detection_time_numbers_of_the_policy():
    # 100 % errors against 99.9 %: the 14.4x/1h window crosses its threshold after 52 s
    assert round(slo.detection_time_seconds(0.999, 14.4, "1h", 1.0)) == 52
    # defect 4: against a 95 % target, a total slowdown needs 43 minutes, and 70 % slow requests never page
    assert round(slo.detection_time_seconds(0.95, 14.4, "1h", 1.0) / 60, 1) == 43.2
    assert slo.detection_time_seconds(0.95, 14.4, "1h", 0.70) == math.inf


def test_every_alert_has_policy_labels_and_annotations():
    for rule in alert_rules():
        assert rule["labels"]["severity"] in ("critical", "high", "warning", "info"), rule["alert"]
        assert rule["labels"]["team"] in ("ml-platform", "ai-infra", "platform", "data"), rule["alert"]
        assert rule["labels"]["service"], rule["alert"]
        assert rule["labels"]["family"] == RUNBOOK_SLUGS[rule["alert"]], rule["alert"]
        ann = rule["annotations"]
        assert set(ann) == {"summary", "description", "runbook_url", "dashboard_url"}, rule["alert"]
        assert "{{" in ann["description"], f"{rule['alert']}: description shows no value"
        assert ann["runbook_url"] == f"http://runbooks.invalid/{RUNBOOK_SLUGS[rule['alert']]}.html"
        assert ann["dashboard_url"].rsplit("/d/", 1)[1] in ("slo-overview", "inference-service", "ml-monitoring",
                                                             "oncall-overview")


def test_catalog_matches_the_rules():
    assert set(alert_names()) | set(LOG_ALERTS) == set(RUNBOOK_SLUGS)
    assert not set(alert_names()) & set(LOG_ALERTS)


def test_rule_files_are_yaml_with_groups():
    files = rule_files(default_slos(), "http://r/", "http://g/d/")
    assert set(files) == {"gpu.yml", "host.yml", "inference.yml", "ml.yml", "monitoring.yml", "slos.yml"}
    for text in files.values():
        assert yaml.safe_load(text)["groups"]
    assert "http://r/inference-errors.html" in files["slos.yml"]
    assert "dashboard_url: http://g/d/slo-overview" in files["slos.yml"]


def _extra(**labels):
    return {"extra.yml": {"groups": [{"name": "x", "rules": [{
        "alert": "ExtraAlert", "expr": "vector(1)", "labels": labels,
        "annotations": {"summary": "s", "description": "{{ $value }}", "runbook": "watchdog",
                        "dashboard": "oncall-overview"}}]}]}}


def test_rule_files_rejects_alerts_without_policy_labels():
    with pytest.raises(RuleError, match="ExtraAlert has no label 'team'"):
        rule_files(default_slos(), "http://r", "http://g", _extra(severity="info", service="x"))
    with pytest.raises(RuleError, match="severity 'page'"):
        rule_files(default_slos(), "http://r", "http://g", _extra(severity="page", team="platform", service="x"))
    files = rule_files(default_slos(), "http://r", "http://g", _extra(severity="info", team="platform", service="x"))
    assert "runbook_url: http://r/watchdog.html" in files["extra.yml"]
    with pytest.raises(RuleError, match="replace a built-in"):
        rule_files(default_slos(), "http://r", "http://g", {"ml.yml": {"groups": []}})


def test_extra_files_may_be_a_list_of_groups_with_explicit_urls():
    extra = {"team.yml": [{"name": "team", "rules": [{
        "alert": "TeamAlert", "expr": "vector(1)", "labels": {"severity": "info", "team": "data", "service": "etl"},
        "annotations": {"summary": "s", "description": "{{ $value }}", "runbook_url": "http://r/etl-lag.html",
                        "dashboard_url": "http://g/d/etl"}}]}]}
    text = rule_files(default_slos(), "http://r", "http://g/d", extra)["team.yml"]
    rule = yaml.safe_load(text)["groups"][0]["rules"][0]
    assert rule["labels"]["family"] == "etl-lag"
    assert rule["annotations"]["dashboard_url"] == "http://g/d/etl"


def test_only_the_short_windows_read_raw_counters_every_30_seconds():
    """Cost shape (docs/alerting-policy.md): raw windows of at most 1h at 30 s, long windows from recorded rates."""
    fast, long = slo.slo_rule_groups(slo.validate_slos([_default("inference-availability")])[0])
    assert fast["interval"] == "30s" and long["interval"] == slo.LONG_INTERVAL == "4m"
    fast_records = {r["record"]: r["expr"] for r in fast["rules"] if "record" in r}
    assert set(fast_records) == {f"slo:sli_error:ratio_rate{w}" for w in ("5m", "30m", "1h")}
    assert all("rate(" in e for e in fast_records.values())
    long_records = {r["record"]: r["expr"] for r in long["rules"] if "record" in r}
    for w in ("6h", "1d", "3d", "30d"):
        expr = long_records[f"slo:sli_error:ratio_rate{w}"]
        assert expr == (f'sum_over_time(slo:sli_bad:rate5m{{slo="inference-availability"}}[{w}])\n/\n'
                        f'sum_over_time(slo:sli_total:rate5m{{slo="inference-availability"}}[{w}])')
    # the recorded rates come first in their group, so the derived windows read this evaluation's sample
    assert [r["record"] for r in long["rules"]][:2] == ["slo:sli_bad:rate5m", "slo:sli_total:rate5m"]
    assert long_records["slo:sli_bad:rate5m"].endswith(" or vector(0)")
    two_hours = long_records["slo:sli_error:ratio_rate2h"]
    assert "[2h]" in two_hours and "rate(inference_requests_total" in two_hours
    # every alert is in the 30 s group, after the ratios it reads
    assert [r["alert"] for r in fast["rules"] if "alert" in r] == [
        "InferenceErrorRateCritical", "InferenceErrorBudgetBurnHigh", "InferenceErrorBudgetBurnSlow"]
    assert not any("alert" in r for r in long["rules"])


def test_the_interval_override_applies_to_the_burn_rate_groups_only():
    groups = yaml.safe_load(rule_files(default_slos(), "http://r/", "http://g/d/", slo_interval="5s")["slos.yml"])
    intervals = {g["name"]: g["interval"] for g in groups["groups"]}
    assert intervals["slo:inference-availability"] == "5s"
    assert intervals["slo:inference-availability:long"] == "4m"
