"""alertstack.drills.channels: the route walker agrees with amtool, and the scenarios agree with the policy.

Everything is read from what `invoke render --env local` wrote (alertstack.rendered; rendered again when stale).
"""
import shlex
from datetime import datetime, timezone

import pytest
import yaml

from alertstack import rendered, routing
from alertstack.drills import channels, scenarios
from alertstack.images import OFFLINE
from alertstack.tools import run_in_image

BUSINESS = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)   # a Wednesday, 10:00 UTC
NIGHT = datetime(2026, 11, 25, 22, 0, tzinfo=timezone.utc)
SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)


# Where the policy delivers each scenario's alert in the local environment during business hours, besides the events
# webhook (the sink's channels: Slack posts land on their channel name, PagerDuty Events v2 on events-v2).
PAGERDUTY = ("pagerduty", "events-v2")
ONCALL_EMAIL = ("email", "oncall@ai-alerting.local")  # alertmanager_oncall_email of the local environment
SCENARIO_CHANNELS = {
    "latency": [PAGERDUTY, ("slack", "ai-infra-incidents")],
    "errors": [PAGERDUTY, ("slack", "ai-infra-incidents")],
    "network-latency": [PAGERDUTY, ("slack", "ai-infra-incidents")],  # the same latency page, from a network fault
    "feature-store": [ONCALL_EMAIL, ("slack", "ai-infra-urgent")],
    "drift": [ONCALL_EMAIL, ("slack", "ai-infra-urgent"), ("slack", "ml-platform-alerts")],
    "model-performance": [ONCALL_EMAIL, ("slack", "ai-infra-urgent"), ("slack", "ml-platform-alerts")],
    "gpu-oom": [ONCALL_EMAIL, ("slack", "ai-infra-urgent"), ("slack", "ai-infra-hardware"),
                ("slack", "ml-platform-alerts")],
    "logging-outage": [ONCALL_EMAIL, ("slack", "ai-infra-urgent"), ("slack", "platform-alerts")],
}


@pytest.fixture(scope="module")
def local():
    """The stack root `invoke render --env local` wrote (role defaults + inventories/local)."""
    return rendered.for_env("local")


@pytest.fixture(scope="module")
def local_config(local):
    """alertmanager.yml as the local environment renders it."""
    return local.alertmanager_config()


@pytest.fixture(scope="module")
def alert_rules(local):
    return local.alert_rules()


def _labels(alertname, alert_rules):
    rule = next((r for r in alert_rules if r["alert"] == alertname), None)
    if rule is not None:
        return {"alertname": alertname, **rule["labels"]}
    from alertstack.logs import alerts as log_alerts
    alert = next(a for a in log_alerts.LOG_ALERTS if a.name == alertname)
    return {"alertname": alertname, **log_alerts.labels(alert, "grafana")}


def test_parse_route_matcher():
    assert channels.parse_route_matcher('severity="critical"') == ("severity", "=", "critical")
    assert channels.parse_route_matcher('alertname=~"A|B"') == ("alertname", "=~", "A|B")
    assert channels.parse_route_matcher("team!=platform") == ("team", "!=", "platform")
    with pytest.raises(ValueError, match="not name<op>value"):
        channels.parse_route_matcher("severity")


def test_every_scenario_states_its_channels():
    assert set(SCENARIO_CHANNELS) == set(scenarios.SCENARIOS)


@pytest.mark.parametrize("name", sorted(scenarios.SCENARIOS))
def test_scenario_channels_are_what_the_policy_delivers(local_config, alert_rules, name):
    sc = scenarios.get(name)
    exp = channels.expected_channels(local_config, _labels(sc.alertname, alert_rules), BUSINESS)
    assert ("webhook", None) in exp.required  # the events stream gets every alert
    assert sorted(c for c in exp.required if c[0] != "webhook") == sorted(SCENARIO_CHANNELS[name])
    assert sorted(scenarios.policy_channels(local_config, _labels(sc.alertname, alert_rules))) \
        == sorted(SCENARIO_CHANNELS[name])


def test_business_hours_route_is_dropped_at_night_and_on_weekends(local_config, alert_rules):
    labels = _labels("FeatureStoreDown", alert_rules)
    day = channels.expected_channels(local_config, labels, BUSINESS)
    assert ("slack", "ai-infra-urgent") in day.required
    for when in (NIGHT, SATURDAY):
        exp = channels.expected_channels(local_config, labels, when)
        assert ("slack", "ai-infra-urgent") not in exp.required + exp.optional
        assert ("email", "oncall@ai-alerting.local") in exp.required  # high: e-mail at any hour
    # A drill that crosses 17:00 may or may not get the Slack message: optional, not required, not unexpected.
    edge = channels.expected_channels(local_config, labels, datetime(2026, 11, 25, 16, 58, tzinfo=timezone.utc),
                                      datetime(2026, 11, 25, 17, 3, tzinfo=timezone.utc))
    assert ("slack", "ai-infra-urgent") in edge.optional and ("slack", "ai-infra-urgent") not in edge.required


def test_page_group_wait_and_resolved_channels(local_config, alert_rules):
    exp = channels.expected_channels(local_config, _labels("InferenceLatencyBurnRateCritical", alert_rules), BUSINESS)
    assert exp.group_wait == "10s"
    assert set(exp.resolved) == {("pagerduty", "events-v2"), ("slack", "ai-infra-incidents"), ("webhook", None)}


def test_channel_matches():
    assert channels.channel_matches(("webhook", None), ("webhook", "generic"))
    assert not channels.channel_matches(("slack", "a"), ("slack", "b"))


@pytest.mark.docker
def test_route_walker_agrees_with_amtool(local_config, alert_rules, tmp_path):
    """For every alert the rules define, the receivers are the ones `amtool config routes test` prints."""
    (tmp_path / "secrets").mkdir()
    for name in routing.secret_files(local_config):
        (tmp_path / "secrets" / name).write_text("http://127.0.0.1:9/x" if name.endswith("_url") else "x")
    cfg = dict(local_config, templates=[])
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    rules = alert_rules
    script = []
    for rule in rules:
        args = " ".join(shlex.quote(f"{k}={v}") for k, v in {"alertname": rule["alert"], **rule["labels"]}.items())
        script.append(f"echo '### {rule['alert']}'; /bin/amtool config routes test "
                      f"--config.file=/w/alertmanager.yml {args} 2>/dev/null; echo")
    result = run_in_image(OFFLINE["alertmanager"], "/bin/sh", ["-c", "\n".join(script)],
                          {tmp_path / "alertmanager.yml": "/w/alertmanager.yml",
                           tmp_path / "secrets": "/etc/alertmanager/secrets"})
    got = {}
    for block in result.stdout.split("### ")[1:]:
        name, _, receivers = block.partition("\n")
        got[name.strip()] = sorted(r.strip() for r in receivers.strip().split(",") if r.strip())
    assert len(got) == len(rules), result.output
    for rule in rules:
        mine = sorted({d.receiver for d in channels.match_routes(
            local_config, {"alertname": rule["alert"], **rule["labels"]}, BUSINESS)})
        assert mine == got[rule["alert"]], rule["alert"]
