"""alertstack.drills.bounds: the predicted MTTD bound from the rule and the deployed intervals."""
import math

import pytest

from alertstack import slo
from alertstack.drills import bounds


@pytest.mark.parametrize("value, expected", [("5m", 300), ("1h30m", 5400), ("30s", 30), ("1d", 86400),
                                             ("500ms", 0.5), (12, 12.0), (2.5, 2.5)])
def test_seconds(value, expected):
    assert bounds.seconds(value) == expected


@pytest.mark.parametrize("value", ["", "5", "5 m", "m5", "-5m", -1, True, None])
def test_seconds_rejects(value):
    with pytest.raises(ValueError):
        bounds.seconds(value)


def test_total_outage_against_999_crosses_14_4x_1h_after_52s():
    # The reference's number: 0.001 x 14.4 x 3600 s / 1.0 = 51.84 s.
    assert bounds.burn_rate_detection_s(0.999, 14.4, "1h", 1.0) == pytest.approx(51.84)
    # Half the requests bad: twice as long.
    assert bounds.burn_rate_detection_s(0.999, 14.4, "1h", 0.5) == pytest.approx(103.68)


def test_95_percent_latency_target_cannot_page_in_time():
    # Defect 4: 72 % slow for the whole hour is needed; 50 % slow never crosses.
    assert bounds.burn_rate_detection_s(0.95, 14.4, "1h", 0.5) == math.inf
    assert bounds.burn_rate_detection_s(0.95, 14.4, "1h", 1.0) == pytest.approx(2592)


def test_multiwindow_takes_the_slower_window():
    assert bounds.multiwindow_detection_s(0.999, 14.4, "1h", "5m", 1.0) == pytest.approx(51.84)
    assert bounds.multiwindow_detection_s(0.999, 6, "6h", "30m", 1.0) == pytest.approx(129.6)


def test_predict_sums_every_delay():
    b = bounds.predict(51.84, scrape_interval="5s", evaluation_interval="30s", for_="2m", group_wait="5s",
                       recording_interval="30s")
    assert b.total_s == pytest.approx(51.84 + 5 + 30 + 30 + 120 + 5)
    assert b.describe().startswith("detection 52s + scrape 5s + recording 30s + evaluation 30s + for 120s")
    assert b.to_dict()["total_s"] == pytest.approx(b.total_s)


SLO = slo.validate_slo({
    "name": "inference-availability", "objective": 0.999, "service": "inference-gateway", "team": "ml-platform",
    "sli": {"type": "availability", "errors": 'inference_requests_total{status=~"5.."}',
            "total": "inference_requests_total"},
    "alerts": [{"name": "InferenceErrorRateCritical", "severity": "critical", "for": "2m",
                "burn_rates": [{"factor": 14.4, "long": "1h", "short": "5m"}]},
               {"name": "InferenceErrorBudgetBurnSlow", "severity": "warning", "for": "15m", "tier": "ticket"}]})


def test_slo_alert_bound_uses_the_rule_and_the_deployed_for():
    b = bounds.slo_alert_bound(SLO, "InferenceErrorRateCritical", 1.0, scrape_interval=5, evaluation_interval=5,
                               group_wait=5)
    assert b.total_s == pytest.approx(51.84 + 5 + 5 + 120 + 5)
    assert "14.4x over 1h/5m" in b.basis
    faster = bounds.slo_alert_bound(SLO, "InferenceErrorRateCritical", 1.0, scrape_interval=5,
                                    evaluation_interval=5, group_wait=5, for_="30s")
    assert faster.total_s == pytest.approx(b.total_s - 90)


def test_slo_alert_bound_takes_the_fastest_burn_rate_pair():
    b = bounds.slo_alert_bound(SLO, "InferenceErrorBudgetBurnSlow", 1.0, scrape_interval=0,
                               evaluation_interval=0, group_wait=0)
    # 3x over 1d needs 0.003 x 86400 = 259.2 s; 1x over 3d needs 0.001 x 259200 = 259.2 s; the 2h/6h shorts less.
    assert b.detection_s == pytest.approx(259.2)
    with pytest.raises(ValueError, match="has no alert"):
        bounds.slo_alert_bound(SLO, "Nope", 1.0, scrape_interval=0, evaluation_interval=0, group_wait=0)


def test_threshold_alert_bound_uses_the_expression_window():
    expr = 'sum(rate(feature_fetch_errors_total[5m])) / sum(rate(feature_fetch_total[10m])) > 0.1'
    assert bounds.expression_window_s(expr) == 600
    assert bounds.expression_window_s('up{job="feature-store"} == 0') == 0
    assert bounds.expression_window_s("max_over_time(x[1h:1m])") == 3600
    b = bounds.threshold_alert_bound('up{job="feature-store"} == 0', "2m", scrape_interval="5s",
                                     evaluation_interval="30s", group_wait="5s")
    assert b.total_s == 160
    est = bounds.threshold_alert_bound("x > 0.9", 60, scrape_interval=5, evaluation_interval=5, group_wait=5,
                                       detection_s=40)
    assert est.total_s == 115 and "estimated" in est.basis


RULES_API = {"status": "success", "data": {"groups": [
    {"name": "slo:inference-availability:recordings", "interval": 30, "rules": [
        {"type": "recording", "name": "slo:sli_error:ratio_rate5m", "query": "..."},
        {"type": "recording", "name": "slo:sli_error:ratio_rate1h", "query": "..."}]},
    {"name": "other", "interval": 60, "rules": [
        {"type": "recording", "name": "slo:sli_error:ratio_rate1h_unrelated", "query": "..."}]},
    {"name": "slo:inference-availability:alerts", "interval": 15, "rules": [
        {"type": "alerting", "name": "InferenceErrorRateCritical", "duration": 120, "labels": {"severity": "critical"},
         "query": 'slo:sli_error:ratio_rate1h{slo="inference-availability"} > 0.0144 and '
                  'slo:sli_error:ratio_rate5m{slo="inference-availability"} > 0.0144'}]},
    {"name": "feature-store", "interval": 30, "rules": [
        {"type": "alerting", "name": "FeatureStoreDown", "duration": 120, "query": 'up{job="feature-store"} == 0'}]},
]}}


def test_deployed_rule_reads_for_and_group_intervals():
    r = bounds.deployed_rule(RULES_API, "InferenceErrorRateCritical")
    assert r["for_s"] == 120 and r["evaluation_interval_s"] == 15
    assert r["recording_interval_s"] == 30  # not 60: the *_unrelated series is not read
    assert r["labels"] == {"severity": "critical"}
    fs = bounds.deployed_rule(RULES_API, "FeatureStoreDown")
    assert fs["recording_interval_s"] == 0 and fs["evaluation_interval_s"] == 30
    with pytest.raises(LookupError, match="LogIngestionOutage is not loaded"):
        bounds.deployed_rule(RULES_API, "LogIngestionOutage")


def test_a_bad_ratio_already_in_the_window_shortens_detection():
    clean = bounds.burn_rate_detection_s(0.999, 14.4, "30m", 0.6)
    assert clean == pytest.approx(0.0144 * 1800 / 0.6)
    # 0.5 % bad already in the 30m window: it fills towards 60 % from there.
    assert bounds.burn_rate_detection_s(0.999, 14.4, "30m", 0.6, prior=0.005) == \
        pytest.approx((0.0144 - 0.005) * 1800 / (0.6 - 0.005))
    assert bounds.burn_rate_detection_s(0.999, 14.4, "30m", 0.6, prior=0.02) == 0  # already above the threshold
    assert bounds.multiwindow_detection_s(0.999, 14.4, "30m", "5m", 0.6, {"30m": 0.005}) < clean


def test_a_series_recorded_earlier_in_the_alerts_own_group_adds_no_recording_delay():
    api = {"data": {"groups": [{"name": "slo:fast", "interval": 5, "rules": [
        {"type": "recording", "name": "slo:sli_error:ratio_rate5m", "query": "..."},
        {"type": "recording", "name": "slo:sli_error:ratio_rate30m", "query": "..."},
        {"type": "alerting", "name": "InferenceErrorRateCritical", "duration": 0,
         "query": "slo:sli_error:ratio_rate30m > 0.0144 and slo:sli_error:ratio_rate5m > 0.0144"}]}]}}
    assert bounds.deployed_rule(api, "InferenceErrorRateCritical")["recording_interval_s"] == 0
