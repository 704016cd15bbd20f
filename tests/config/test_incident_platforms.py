"""The optional incident platforms of the alerting policy: Opsgenie (opsgenie_configs) and a ServiceNow-style
incident webhook (webhook_configs with basic auth from a file).

- amtool check-config accepts the policy with both enabled, and `amtool config routes test` sends every alert the
  rules define to the receivers of the base policy plus Opsgenie (per team: critical, high, warning) and the
  incident webhook (critical, high); with both disabled (the role's default) neither appears;
- a real Alertmanager delivers through its own Opsgenie and webhook integrations to the notification sink: priority
  from severity, tags from service and team, responders per team, basic auth, and the resolve of each attributed to
  its alert.
"""
from __future__ import annotations

import shlex

import pytest

from alertstack import rendered, routing
from alertstack import sink as client
from alertstack.catalog import alert_rules
from alertstack.images import OFFLINE
from alertstack.tools import amtool, run_in_image
from am_sink import alertmanager, for_sink, notification_sink, post_alerts, sink_secrets, wait_until
from test_alertmanager_routing import PROMISED, _labels, mounts, write_config

pytestmark = pytest.mark.docker

ENABLED = {"alertmanager_opsgenie_enabled": True, "alertmanager_servicenow_enabled": True,
           "alertmanager_route_timing": {"group_wait": "1s", "group_interval": "2s", "repeat_interval": "4h"}}
TEAMS = {"ml-platform", "ai-infra", "platform", "data"}


@pytest.fixture(scope="module")
def policy() -> dict:
    return rendered.role_policy(ENABLED)


def expected_platforms(labels: dict) -> set[str]:
    out = set()
    if labels.get("severity") in ("critical", "high", "warning"):
        out.add(f"opsgenie-{labels['team']}" if labels.get("team") in TEAMS else "opsgenie")
    if labels.get("severity") in ("critical", "high"):
        out.add("servicenow-incidents")
    return out


def test_platforms_are_off_unless_an_environment_enables_them(policy):
    default = rendered.role_policy()
    names = {r["name"] for r in default["receivers"]}
    assert not any(n.startswith(("opsgenie", "servicenow")) for n in names)
    # Enabled, they add their routes in front (continuing) and leave the base policy's routes as they were.
    assert policy["route"]["routes"][2:] == default["route"]["routes"]
    assert all(r.get("continue") for r in policy["route"]["routes"][:2])
    assert routing.routing_errors(policy) == []
    assert {"opsgenie_api_key", "servicenow_url", "servicenow_password"} <= set(routing.secret_files(policy))


def test_routing_errors_refuse_clear_text_platform_secrets(policy):
    bad = {**policy, "receivers": [
        {**r, "opsgenie_configs": [{**c, "api_key": "0123"} for c in r["opsgenie_configs"]]}
        if r.get("opsgenie_configs") else
        {**r, "webhook_configs": [{**c, "http_config": {"basic_auth": {"username": "u", "password": "p"}}}
                                  for c in r["webhook_configs"]]} if r["name"] == "servicenow-incidents" else r
        for r in policy["receivers"]]}
    errors = routing.routing_errors(bad)
    assert any("api_key holds a secret" in e for e in errors)
    assert any("basic_auth.password holds a secret" in e for e in errors)
    assert not any("api_url" in e for e in errors), "Opsgenie's api_url is an address, not a secret"


def test_amtool_routes_every_alert_to_the_policy_plus_its_platforms(policy, tmp_path):
    write_config(tmp_path, policy)
    check = amtool(["check-config", "/etc/alertmanager/alertmanager.yml"], mounts(tmp_path))
    assert check.ok, check.output
    cases = {r["alert"]: _labels(r) for r in alert_rules()}
    cases["UnmappedTeamWarning"] = {"alertname": "UnmappedTeamWarning", "severity": "warning", "team": "security",
                                    "service": "scanner"}
    script = [f"echo '### {name}'; /bin/amtool config routes test --config.file=/etc/alertmanager/alertmanager.yml "
              f"{' '.join(shlex.quote(f'{k}={v}') for k, v in labels.items())} 2>/dev/null; echo"
              for name, labels in cases.items()]
    result = run_in_image(OFFLINE["alertmanager"], "/bin/sh", ["-c", "\n".join(script)], mounts(tmp_path))
    got = {}
    for block in result.stdout.split("### ")[1:]:
        name, _, receivers = block.partition("\n")
        got[name.strip()] = {r.strip() for r in receivers.strip().split(",") if r.strip()}
    assert set(got) == set(cases), result.output
    mismatches = {}
    for name, labels in cases.items():
        base = PROMISED.get(name, {"slack-alerts"}) | ({"events-webhook"} if name != "Watchdog" else set())
        if got[name] != base | expected_platforms(labels):
            mismatches[name] = {"expected": sorted(base | expected_platforms(labels)), "got": sorted(got[name])}
    assert mismatches == {}
    assert got["Watchdog"] == {"heartbeat"}


ALERTS = {  # one alert per severity, with the labels and annotations the rules give them
    "critical": {"labels": {"alertname": "InferenceErrorRateCritical", "severity": "critical", "team": "ml-platform",
                            "service": "inference-gateway", "family": "inference-errors"},
                 "annotations": {"summary": "5xx budget burning", "runbook_url": "http://rb/inference-errors.html",
                                 "dashboard_url": "http://g/d/slo", "description": "12.5% of requests failed"}},
    "high": {"labels": {"alertname": "FeatureStoreDown", "severity": "high", "team": "data",
                        "service": "feature-store", "family": "feature-store"},
             "annotations": {"summary": "feature store down", "runbook_url": "http://rb/feature-store.html",
                             "dashboard_url": "http://g/d/fs", "description": "down for 2m"}},
    "warning": {"labels": {"alertname": "HostClockSkew", "severity": "warning", "team": "ai-infra",
                           "service": "host", "family": "host-clock", "host": "gpu-1"},
                "annotations": {"summary": "clock skew", "runbook_url": "http://rb/host-clock.html",
                                "dashboard_url": "http://g/d/host", "description": "off by 80 ms"}},
}


def test_opsgenie_and_incident_webhook_deliver_through_alertmanager(policy, tmp_path):
    with notification_sink(opsgenie_api_key="genie-key-for-tests-0042",
                           servicenow_auth=("alertmanager", "servicenow-password-9")) as sink:
        config = for_sink(policy, sink)
        secrets = sink_secrets(config, sink.url, {"opsgenie_api_key": "genie-key-for-tests-0042\n",
                                                  "servicenow_url": f"{sink.url}/servicenow/incidents",
                                                  "servicenow_password": "servicenow-password-9\n"})
        with alertmanager(config, secrets, tmp_path) as am_url:
            post_alerts(am_url, list(ALERTS.values()))
            created = wait_until(lambda: len(client.messages(sink.url, kind="opsgenie", status="firing")) >= 3 and
                                 client.messages(sink.url, kind="opsgenie", status="firing"), 60,
                                 "three Opsgenie alerts")
            by_name = {m["alertnames"][0]: m for m in created}
            assert set(by_name) == {a["labels"]["alertname"] for a in ALERTS.values()}
            for severity, priority in (("critical", "P1"), ("high", "P2"), ("warning", "P3")):
                labels = ALERTS[severity]["labels"]
                page = by_name[labels["alertname"]]["payload"]
                assert page["priority"] == priority
                assert page["responders"] == [{"name": labels["team"], "type": "team"}]
                assert page["tags"] == [labels["service"], f"team:{labels['team']}", f"severity:{severity}"]
                assert page["details"]["runbook"] == ALERTS[severity]["annotations"]["runbook_url"]
                assert by_name[labels["alertname"]]["channel"] == f"team:{labels['team']}"
                assert page["api_key"].endswith("0042") and "genie-key" not in str(page)
            incidents = wait_until(lambda: len(client.messages(sink.url, kind="servicenow")) >= 2 and
                                   client.messages(sink.url, kind="servicenow"), 30, "two incidents")
            assert {m["alertnames"][0] for m in incidents} == {"InferenceErrorRateCritical", "FeatureStoreDown"}
            assert all(m["payload"]["caller"] == "alertmanager" for m in incidents)
            numbers = {m["alertnames"][0]: m["incident"] for m in incidents}
            assert sorted(numbers.values()) == ["INC0010001", "INC0010002"]
            # The critical route's group_wait is 10 s: the page is sent before the alert resolves.
            wait_until(lambda: client.messages(sink.url, kind="pagerduty", status="firing"), 30, "the PagerDuty page")

            post_alerts(am_url, list(ALERTS.values()), resolved=True)
            closed = wait_until(lambda: len(client.messages(sink.url, kind="opsgenie", status="resolved")) >= 3 and
                                client.messages(sink.url, kind="opsgenie", status="resolved"), 60,
                                "three Opsgenie closes")
            # A close carries only the alias; the sink attributes it to the alert it closes.
            assert {m["alertnames"][0] for m in closed} == set(by_name)
            assert all(m["attributed_by_key"] for m in closed)
            resolved = wait_until(lambda: client.messages(sink.url, kind="servicenow", status="resolved"), 30,
                                  "resolved incidents")
            wait_until(lambda: len(client.messages(sink.url, kind="servicenow", status="resolved")) >= 2, 30,
                       "both incidents resolved")
            resolved = client.messages(sink.url, kind="servicenow", status="resolved")
            assert {m["alertnames"][0]: m["incident"] for m in resolved} == numbers
            # PagerDuty (the policy's receiver, templated summary): trigger and resolve both name the alert, from
            # custom_details or through the trigger's dedup_key.
            pd = wait_until(lambda: client.messages(sink.url, kind="pagerduty", alertname="InferenceErrorRateCritical",
                                                    status="resolved"), 30, "the PagerDuty resolve")
            (trigger,) = client.messages(sink.url, kind="pagerduty", status="firing")
            assert trigger["alertnames"] == ["InferenceErrorRateCritical"]
            assert trigger["labels"]["team"] == "ml-platform"
            assert pd[0]["dedup_key"] == trigger["dedup_key"]
            # The warning never opened an incident.
            assert not client.messages(sink.url, kind="servicenow", alertname="HostClockSkew")
