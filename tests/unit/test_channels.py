"""alertstack.drills.channels: the route walker agrees with amtool, and the scenarios agree with the policy."""
import shlex
from datetime import datetime, timezone

import pytest
import yaml

from alertstack import routing
from alertstack.catalog import alert_rules
from alertstack.drills import channels, scenarios
from alertstack.images import OFFLINE
from alertstack.paths import INVENTORIES
from alertstack.tools import run_in_image

BUSINESS = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)   # a Wednesday, 10:00 UTC
NIGHT = datetime(2026, 11, 25, 22, 0, tzinfo=timezone.utc)
SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def local_config():
    """alertmanager.yml as the local environment renders it (role defaults + inventories/local)."""
    variables = yaml.safe_load((INVENTORIES / "local" / "group_vars" / "all" / "main.yml").read_text())
    return routing.render_alertmanager_config(variables)


def _labels(alertname):
    rule = next((r for r in alert_rules() if r["alert"] == alertname), None)
    if rule is not None:
        return {"alertname": alertname, **rule["labels"]}
    from alertstack.grafana import log_alerts
    alert = next(a for a in log_alerts.LOG_ALERTS if a.name == alertname)
    return {"alertname": alertname, **log_alerts.labels(alert, "grafana")}


def test_parse_route_matcher():
    assert channels.parse_route_matcher('severity="critical"') == ("severity", "=", "critical")
    assert channels.parse_route_matcher('alertname=~"A|B"') == ("alertname", "=~", "A|B")
    assert channels.parse_route_matcher("team!=platform") == ("team", "!=", "platform")
    with pytest.raises(ValueError, match="not name<op>value"):
        channels.parse_route_matcher("severity")


@pytest.mark.parametrize("name", sorted(scenarios.SCENARIOS))
def test_scenario_channels_are_what_the_policy_delivers(local_config, name):
    sc = scenarios.get(name)
    exp = channels.expected_channels(local_config, _labels(sc.alertname), BUSINESS)
    assert ("webhook", None) in exp.required  # the events stream gets every alert
    assert sorted(c for c in exp.required if c[0] != "webhook") == sorted(sc.channels)


def test_business_hours_route_is_dropped_at_night_and_on_weekends(local_config):
    labels = _labels("FeatureStoreDown")
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


def test_page_group_wait_and_resolved_channels(local_config):
    exp = channels.expected_channels(local_config, _labels("InferenceLatencyBurnRateCritical"), BUSINESS)
    assert exp.group_wait == "10s"
    assert set(exp.resolved) == {("pagerduty", "events-v2"), ("slack", "ai-infra-incidents"), ("webhook", None)}


def test_channel_matches():
    assert channels.channel_matches(("webhook", None), ("webhook", "generic"))
    assert not channels.channel_matches(("slack", "a"), ("slack", "b"))


@pytest.mark.docker
def test_route_walker_agrees_with_amtool(local_config, tmp_path):
    """For every alert the rules define, the receivers are the ones `amtool config routes test` prints."""
    (tmp_path / "secrets").mkdir()
    for name in routing.secret_files(local_config):
        (tmp_path / "secrets" / name).write_text("http://127.0.0.1:9/x" if name.endswith("_url") else "x")
    cfg = dict(local_config, templates=[])
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    rules = alert_rules()
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
