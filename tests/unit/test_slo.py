"""SLOs as data: validation errors name the SLO and the field; generated rules follow the policy's numbers."""
from __future__ import annotations

import copy
import math

import pytest
import yaml

from alertstack import slo
from alertstack.catalog import LOG_ALERTS, RUNBOOK_SLUGS, alert_names, alert_rules
from alertstack.defaults import default_burn_rate_tiers, default_slos
from alertstack.rules import RuleError, rule_files


def _default(name: str) -> dict:
    return copy.deepcopy(next(s for s in default_slos() if s["name"] == name))


def _rates(s: dict, i: int) -> dict:
    """SLO `s`'s alert i with its tier written out as its own burn_rates; returns the first burn rate (to mutate)."""
    alert = s["alerts"][i]
    alert["burn_rates"] = copy.deepcopy(default_burn_rate_tiers()[alert.pop("tier")])
    return alert["burn_rates"][0]


def test_default_slos_are_valid():
    validated = slo.validate_slos(default_slos())
    assert [s.name for s in validated] == ["inference-availability", "inference-latency"]
    assert all(s.objective == 0.999 and s.window == "30d" and s.budget == 0.001 for s in validated)
    assert validated[1].sli == slo.SLI("latency", histogram="inference_request_duration_seconds",
                                       selector='job="inference-gateway",endpoint="/predict"', threshold=0.3)
    critical, high, ticket = validated[0].alerts
    assert critical == slo.BurnRateAlert("InferenceErrorRateCritical", "critical", "0m",
                                         (slo.BurnRate(14.4, "30m", "5m"),), tier="page-quick")
    assert (high.tier, high.for_, high.burn_rates) == ("page-slow", "5m", (slo.BurnRate(3, "6h", "30m"),))
    assert ticket.windows() == ("1d", "2h", "3d", "6h") and ticket.severity == "warning"


def test_every_default_slo_alert_refers_to_a_named_tier():
    """The windows are data in one place (prometheus_slo_burn_rate_tiers); the SLOs only name them."""
    assert list(default_burn_rate_tiers()) == ["page-quick", "page-slow", "ticket"]
    assert all(set(a) == {"name", "severity", "for", "tier"} for s in default_slos() for a in s["alerts"])
    assert [t for _, _, _, t in slo.DEFAULT_ALERTS] == list(default_burn_rate_tiers())


def test_explicit_burn_rates_give_the_same_rules_as_the_tier_they_spell_out():
    tiered = _default("inference-availability")
    explicit = copy.deepcopy(tiered)
    for i in range(3):
        _rates(explicit, i)
    assert slo.rule_groups(slo.validate_slos([explicit])) == slo.rule_groups(slo.validate_slos([tiered]))
    assert [a.tier for a in slo.validate_slos([explicit])[0].alerts] == [None, None, None]


def test_a_tier_table_of_the_inventory_replaces_the_roles():
    s = _default("inference-availability")
    tiers = {**default_burn_rate_tiers(), "page-quick": [{"factor": 10, "long": "1h", "short": "5m"}]}
    critical = slo.validate_slos([s], tiers)[0].alerts[0]
    assert critical.burn_rates == (slo.BurnRate(10.0, "1h", "5m"),)
    text = rule_files([s], "http://r", "http://g/d", burn_rate_tiers=tiers)["slos.yml"]
    assert 'slo:sli_error:ratio_rate1h{slo="inference-availability"} > 0.01' in text


@pytest.mark.parametrize("mutate,needle", [
    (lambda s, t: s["alerts"][0].update(tier="pager"),
     "SLO 'inference-availability': alert InferenceErrorRateCritical: tier 'pager' is not one of the burn-rate "
     "tiers page-quick, page-slow, ticket (prometheus_slo_burn_rate_tiers)"),
    (lambda s, t: s["alerts"][0].update(burn_rates=[{"factor": 2, "long": "1h", "short": "5m"}]),
     "alert InferenceErrorRateCritical: has both tier and burn_rates; give one of them"),
    (lambda s, t: s["alerts"][0].pop("tier"),
     "alert InferenceErrorRateCritical: needs a tier (one of page-quick, page-slow, ticket, from "
     "prometheus_slo_burn_rate_tiers) or its own burn_rates"),
    (lambda s, t: s["alerts"][0].update(window="1h"), "alert InferenceErrorRateCritical: unknown field(s) window"),
    (lambda s, t: t["page-quick"][0].update(long="4h"),
     "prometheus_slo_burn_rate_tiers.page-quick[0].long window '4h' is not one of the recorded windows"),
    (lambda s, t: t.update(ticket=[]), "prometheus_slo_burn_rate_tiers.ticket must be a non-empty list"),
    (lambda s, t: t.update({"Page": t.pop("page-quick")}), "tier name 'Page' is invalid"),
    (lambda s, t: t["page-quick"][0].update(factor=1000),
     "SLO 'inference-availability': alert InferenceErrorRateCritical: tier page-quick[0].factor 1000 can never fire"),
])
def test_malformed_tier_references_and_tiers_are_rejected_by_name(mutate, needle):
    bad, tiers = _default("inference-availability"), copy.deepcopy(default_burn_rate_tiers())
    mutate(bad, tiers)
    with pytest.raises(slo.SLOError) as exc:
        slo.validate_slos([bad], tiers)
    assert needle in str(exc.value)


def test_to_dict_reads_back_without_the_tier_table():
    """How a drill timeline keeps the deployed SLOs (JSON): the same rules from the written-out burn rates."""
    parsed = slo.validate_slos(default_slos())
    back = [slo.validate_slo(s.to_dict(), tiers={}) for s in parsed]
    assert slo.rule_groups(back) == slo.rule_groups(parsed)


@pytest.mark.parametrize("mutate,needle", [
    (lambda s: s.update(objective=1), "objective 1 must be > 0 and < 1"),
    (lambda s: s.update(objective=1.5), "objective 1.5 must be > 0 and < 1"),
    (lambda s: s.update(objective=0), "objective 0 must be > 0 and < 1"),
    (lambda s: s.update(objective="99.9%"), "objective '99.9%' must be a number"),
    (lambda s: s["sli"].pop("total"), "sli.total is missing"),
    (lambda s: s["sli"].update(errors=""), "sli.errors is missing"),
    (lambda s: s["sli"].update(errors='inference_requests_total{status=~"5.."'), "is not a metric selector"),
    (lambda s: s["sli"].update(type="throughput"), "sli.type 'throughput' must be one of availability, latency"),
    (lambda s: _rates(s, 0).update(long="4h"), "burn_rates[0].long window '4h' is not one of the recorded"),
    (lambda s: _rates(s, 1).update(short="10m"), "short window '10m' is not one of"),
    (lambda s: _rates(s, 0).update(short="1h", long="5m"), "must be shorter than long"),
    (lambda s: s["alerts"][0].update(severity="page"), "severity 'page' must be one of"),
    (lambda s: _rates(s, 0).update(factor=1000), "burn_rates[0].factor 1000 can never fire"),
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
    assert 'slo:sli_error:ratio_rate30m{slo="inference-availability"} > 0.0144' in crit
    assert 'slo:sli_error:ratio_rate5m{slo="inference-availability"} > 0.0144' in crit
    high = alerts["InferenceErrorBudgetBurnHigh"]["expr"]
    assert "ratio_rate6h" in high and "ratio_rate30m" in high and "> 0.003" in high
    slow = alerts["InferenceErrorBudgetBurnSlow"]["expr"]
    assert "ratio_rate1d" in slow and "ratio_rate2h" in slow and "> 0.003" in slow
    assert "ratio_rate3d" in slow and "ratio_rate6h" in slow and "> 0.001" in slow
    assert [alerts[n]["labels"]["severity"] for n in alerts] == ["critical", "high", "warning", "warning"]
    assert list(alerts)[-1] == slo.FORECAST_ALERT
    # the value is an error ratio (a percentage), the burn rate is printed as a factor
    assert "$value | humanizePercentage" in alerts["InferenceErrorRateCritical"]["annotations"]["description"]
    assert "burn rate is" in alerts["InferenceErrorRateCritical"]["annotations"]["description"]


def test_default_alert_names_are_derived_when_alerts_are_omitted():
    s = _default("inference-availability")
    s.pop("alerts")
    s["name"] = "search-api-availability"
    alerts = slo.validate_slos([s])[0].alerts
    assert [a.name for a in alerts] == ["SearchApiAvailabilityBurnRateCritical", "SearchApiAvailabilityBurnRateHigh",
                                        "SearchApiAvailabilityBurnRateSlow"]
    assert [a.tier for a in alerts] == ["page-quick", "page-slow", "ticket"]


def test_detection_time_numbers_of_the_policy():
    # 100 % errors against 99.9 %: the 14.4x/1h window crosses its threshold after 52 s
    assert round(slo.detection_time_seconds(0.999, 14.4, "1h", 1.0)) == 52
    # against a 95 % target, a total slowdown needs 43 minutes, and 70 % slow requests never page
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


def _groups(slos):
    return {g["name"]: g for g in slo.rule_groups(slo.validate_slos(slos))}


def _service_slos(n: int) -> list[dict]:
    """n services with an availability and a latency SLO each, selectors differing only in job (default tiers)."""
    out = []
    for i in range(n):
        sel = f'job="svc-{i:03d}",endpoint="/predict"'
        common = {"service": f"svc-{i:03d}", "team": "ml-platform", "objective": 0.999}
        out.append({"name": f"svc-{i:03d}-availability", **common,
                    "sli": {"type": "availability", "errors": f'inference_requests_total{{{sel},status=~"5.."}}',
                            "total": f"inference_requests_total{{{sel}}}"}})
        out.append({"name": f"svc-{i:03d}-latency", **common,
                    "sli": {"type": "latency", "histogram": "inference_request_duration_seconds",
                            "selector": sel, "threshold": 0.3}})
    return out


def test_only_the_windows_the_page_tiers_read_are_computed_every_30_seconds():
    """Cost shape (docs/alerting-policy.md): the raw windows the 30 s and 1m alerts read (5m, 30m) every 30 s, the
    high tier every minute, everything else every 4 minutes, long windows from recorded rates."""
    groups = _groups([_default("inference-availability")])
    fast, sustained, long = groups[slo.GROUP_FAST], groups[slo.GROUP_SUSTAINED], groups[slo.GROUP_LONG]
    assert fast["interval"] == "30s" and sustained["interval"] == "1m" and long["interval"] == slo.LONG_INTERVAL == "4m"
    fast_records = {r["record"]: r["expr"] for r in fast["rules"] if "record" in r}
    assert list(fast_records) == ["slo:sli_error:ratio_rate5m", "slo:sli_error:ratio_rate30m"]
    assert [r["record"] for r in groups[slo.GROUP_INFO]["rules"]] == [slo.RECORD_INFO]
    assert groups[slo.GROUP_INFO]["interval"] == slo.INFO_INTERVAL == "1m"
    for w in ("5m", "30m"):
        assert "rate(inference_requests_total{" in fast_records[f"slo:sli_error:ratio_rate{w}"]
        assert f"[{w}]" in fast_records[f"slo:sli_error:ratio_rate{w}"]
    long_records = {r["record"]: r["expr"] for r in long["rules"] if "record" in r}
    for w in ("6h", "1d", "3d", "30d"):
        expr = long_records[f"slo:sli_error:ratio_rate{w}"]
        assert expr.startswith(f"sum_over_time(slo:sli_bad:rate5m[{w}])\n/\n"
                               f"sum_over_time(slo:sli_total:rate5m[{w}])")
        assert "rate(" not in expr.replace("rate5m", "")
    # the recorded rates come first in their group, so the derived windows read this evaluation's sample
    assert [r.get("record") for r in long["rules"]][:2] == ["slo:sli_bad:rate5m", "slo:sli_total:rate5m"]
    # 1h (no alert of the policy reads it) and 2h from the raw counters every 4 minutes
    assert "[1h]" in long_records["slo:sli_error:ratio_rate1h"] and "[2h]" in long_records["slo:sli_error:ratio_rate2h"]
    # the critical tier (no `for`) in the 30 s group after the ratios; the high tier (`for: 5m`) every minute; the
    # ticket tier (1d/2h, 3d/6h) and the forecast read only long windows and are evaluated with them
    assert [r["alert"] for r in fast["rules"] if "alert" in r] == ["InferenceErrorRateCritical"]
    assert [r["alert"] for r in sustained["rules"]] == ["InferenceErrorBudgetBurnHigh"]
    assert [r["alert"] for r in long["rules"] if "alert" in r] == ["InferenceErrorBudgetBurnSlow", slo.FORECAST_ALERT]
    assert all("record" in r for r in fast["rules"][:2]) and "alert" in long["rules"][-1]


def test_an_alert_that_reads_1h_without_a_long_wait_gets_1h_every_30_seconds():
    s = _default("inference-availability")
    _rates(s, 0).update(long="1h")
    groups = _groups([s])
    assert [r.get("record") for r in groups[slo.GROUP_FAST]["rules"] if "record" in r] == [
        "slo:sli_error:ratio_rate5m", "slo:sli_error:ratio_rate30m", "slo:sli_error:ratio_rate1h"]
    assert "slo:sli_error:ratio_rate1h" not in [r.get("record") for r in groups[slo.GROUP_LONG]["rules"]]
    # without a sustained alert (every page `for: 0m`) there is no sustained group
    for a in s["alerts"][:2]:
        a["for"] = "0m"
    assert slo.GROUP_SUSTAINED not in _groups([s])


def test_the_interval_override_applies_to_the_burn_rate_groups_only():
    groups = yaml.safe_load(rule_files(default_slos(), "http://r/", "http://g/d/", slo_interval="5s")["slos.yml"])
    intervals = {g["name"]: g["interval"] for g in groups["groups"]}
    assert intervals == {slo.GROUP_INFO: "1m", slo.GROUP_FAST: "5s", slo.GROUP_SUSTAINED: "10s",
                         slo.GROUP_LONG: "4m"}


def test_the_number_of_recording_rules_does_not_grow_with_the_number_of_slos():
    """One rule per window for every SLO (per metric family inside the rule); alerts stay one per SLO and tier."""
    def counts(n):
        groups = slo.rule_groups(slo.validate_slos(_service_slos(n)))
        rules = [r for g in groups for r in g["rules"]]
        return sum("record" in r for r in rules), sum("alert" in r for r in rules)
    # info, 5m and 30m, rates, 1h and 2h, derived, 30d, objective, budget, exhaustion
    assert counts(1)[0] == counts(100)[0] == 1 + 2 + 2 + 2 + 3 + 1 + 3
    assert counts(100)[1] == 100 * 2 * 3 + 100   # three tiers per SLO, one forecast rule per service


def test_every_record_name_is_written_by_one_rule():
    """promtool's duplicate-rule lint: two rules must not record the same name with the same labels."""
    mixed = _service_slos(3)
    mixed[0]["objective"], mixed[1]["window"] = 0.99, "28d"
    for g in slo.rule_groups(slo.validate_slos(mixed)):
        records = [r["record"] for r in g["rules"] if "record" in r]
        assert len(records) == len(set(records)), records


def test_a_family_reads_its_slos_counters_once_by_their_key_labels():
    groups = _groups(_service_slos(3))
    rules = {r["record"]: r["expr"] for g in groups.values() for r in g["rules"] if "record" in r}
    five = rules["slo:sli_error:ratio_rate5m"]
    # availability and latency are two families; each reads every service's series in one selector
    assert five.count('job=~"svc-000|svc-001|svc-002"') == 5      # errors and total; count twice, bucket once
    assert "sum by (endpoint, job) (rate(inference_requests_total{" in five
    assert 'le="0.3"' in five and 'slo:sli:info{slo_family="availability-1"}' in five
    # the info series maps each key to its SLO
    info = rules[slo.RECORD_INFO]
    for i in range(3):
        for kind in ("availability", "latency"):
            assert (f'absent(alertstack_slo_info_placeholder{{slo="svc-00{i}-{kind}",sli="{kind}",'
                    f'service="svc-00{i}",slo_family="{kind}-1",job="svc-00{i}",endpoint="/predict"}})') in info


def test_family_keys_escape_regex_values_and_skip_reserved_labels():
    a, b = _service_slos(2)[0], _service_slos(2)[2]
    b["sli"] = {"type": "availability",
                "errors": 'inference_requests_total{job="a.b+c",endpoint="/predict",status=~"5.."}',
                "total": 'inference_requests_total{job="a.b+c",endpoint="/predict"}'}
    expr = _groups([a, b])[slo.GROUP_FAST]["rules"][0]["expr"]
    assert 'job=~"a\\\\.b\\\\+c|svc-000"' in expr
    # a selector on `service` (a label of the records) is not a family key: one family per value
    c, d = copy.deepcopy(a), copy.deepcopy(a)
    for x, v in ((c, "x"), (d, "y")):
        x["name"] = f"svc-{v}"
        x["sli"] = {"type": "availability", "errors": f'req_total{{service="{v}",code=~"5.."}}',
                    "total": f'req_total{{service="{v}"}}'}
    fams = slo.families(slo.validate_slos([c, d]))
    assert [len(f["slos"]) for f in fams] == [1, 1] and all(f["keys"] == [] for f in fams)
    # a selector that is not a plain list of matchers makes a family of its own and is used as written
    e = copy.deepcopy(a)
    e["name"], e["sli"]["errors"] = "odd", 'inference_requests_total{job="svc-000",status=~"5..",}'
    assert len(slo.families(slo.validate_slos([a, e]))) == 2


def test_slos_with_other_objectives_and_windows_get_their_own_budget():
    mixed = _service_slos(2)
    mixed[0]["objective"], mixed[3]["window"] = 0.99, "28d"
    long = _groups(mixed)[slo.GROUP_LONG]
    rules = {r["record"]: r["expr"] for r in long["rules"] if "record" in r}
    assert "slo:sli_error:ratio_rate28d" in rules and 'slo=~"svc-001-latency"' in rules["slo:sli_error:ratio_rate28d"]
    objective = rules[slo.RECORD_OBJECTIVE]
    assert '0.99 * sum by (slo, sli, service) (slo:sli:info{slo=~"svc-000-availability"})' in objective
    assert '1 - slo:sli_error:ratio_rate30d{slo=~"svc-000-availability"} / 0.01' in rules[slo.RECORD_BUDGET]
    assert '1 - slo:sli_error:ratio_rate28d{slo=~"svc-001-latency"} / 0.001' in rules[slo.RECORD_BUDGET]


def test_the_forecast_is_one_record_for_all_slos_and_one_ticket_rule_per_service():
    slos = _service_slos(2)
    slos[3]["objective"] = 0.99                                  # svc-001-latency: another budget
    groups = _groups(slos)
    long = groups[slo.GROUP_LONG]["rules"]
    record = next(r["expr"] for r in long if r.get("record") == slo.RECORD_EXHAUSTION)
    # remaining x window x budget / bad ratio of the last day (30 d x 0.001 = 2592 s; x 0.01 = 25920 s)
    assert ('clamp_min(slo:error_budget:remaining_ratio{slo=~"svc-000-availability|svc-000-latency|'
            'svc-001-availability"}, 0) * 2592.0') in record
    assert 'clamp_min(slo:error_budget:remaining_ratio{slo=~"svc-001-latency"}, 0) * 25920.0' in record
    assert "(slo:sli_error:ratio_rate1d{" in record and "<= 0, 0)" in record
    tickets = [r for r in long if r.get("alert") == slo.FORECAST_ALERT]
    assert [(t["labels"]["service"], t["expr"]) for t in tickets] == [
        ("svc-000", 'slo:error_budget:exhaustion_seconds{slo=~"svc-000-availability|svc-000-latency"} < 604800'),
        ("svc-001", 'slo:error_budget:exhaustion_seconds{slo=~"svc-001-availability|svc-001-latency"} < 604800')]
    assert all(t["labels"]["severity"] == "warning" and t["for"] == "30m" for t in tickets)
    assert all(t["annotations"]["runbook"] == "error-budget-forecast" for t in tickets)
    assert long[-2:] == tickets                                  # after the record they read


def test_durations_use_the_shared_parser():
    s = _default("inference-availability")
    s["alerts"][1]["for"] = "1h30m"
    assert slo.validate_slos([s])[0].alerts[1].for_ == "1h30m"
    assert slo.duration_seconds("1h30m") == 5400 and slo.duration_seconds("30d") == 2592000
    s["alerts"][1]["for"] = "5 m"
    with pytest.raises(slo.SLOError, match="for '5 m' must be a duration"):
        slo.validate_slos([s])
