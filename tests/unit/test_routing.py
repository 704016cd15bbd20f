"""Routing policy checks and the generated routing matrix, on alertmanager.yml as Ansible renders it from the role
defaults (alertstack.rendered.role_policy)."""
from __future__ import annotations

import copy
import re

import pytest

from alertstack import rendered, routing
from alertstack.paths import REPO_ROOT

POLICY_DOC = REPO_ROOT / "docs" / "alerting-policy.md"


@pytest.fixture(scope="module")
def config() -> dict:
    return rendered.role_policy()


def test_default_policy_has_no_routing_errors(config):
    assert routing.routing_errors(config) == []


def test_every_secret_is_a_file(config):
    assert routing.secret_files(config) == sorted([
        "heartbeat_url", "pagerduty_routing_key", "slack_ai_infra_alerts_url", "slack_ai_infra_hardware_url",
        "slack_ai_infra_incidents_url",
        "slack_ai_infra_info_url", "slack_ai_infra_urgent_url", "slack_ml_platform_alerts_url",
        "slack_platform_alerts_url", "smtp_password", "webhook_url"])
    text = repr(config)
    for clear in ("'api_url':", "'routing_key':", "'auth_password':", "'slack_api_url':", "${"):
        assert clear not in text


def test_variables_are_rendered_and_go_templates_kept(config):
    email = next(r for r in config["receivers"] if r["name"] == "email-oncall")["email_configs"][0]
    assert email["to"] == "oncall@example.com"
    assert email["text"] == '{{ template "ai.email.text" . }}'
    other = rendered.role_policy({"alertmanager_oncall_email": "sre@corp.test",
                                  "alertmanager_route_timing": {"group_wait": "1s"}})
    assert next(r for r in other["receivers"] if r["name"] == "email-oncall")["email_configs"][0]["to"] \
        == "sre@corp.test"
    assert other["route"]["group_wait"] == "1s"
    assert other["global"]["smtp_auth_password_file"] == "/etc/alertmanager/secrets/smtp_password"


def test_undefined_variable_is_a_clear_error():
    with pytest.raises(routing.RoutingError, match="undefined_channel"):
        rendered.role_policy({"alertmanager_oncall_email": "{{ undefined_channel }}"})


def _base() -> dict:
    return {"route": {"receiver": "a", "routes": [{"matchers": ['severity="high"'], "receiver": "b"}]},
            "receivers": [{"name": "a"}, {"name": "b"}]}


def test_unknown_receiver_is_reported():
    c = _base()
    c["route"]["routes"][0]["receiver"] = "nobody"
    errors = routing.routing_errors(c)
    assert any("route.routes[0]: receiver 'nobody' is not defined" in e for e in errors)


def test_duplicate_and_unused_receivers_are_reported():
    c = _base()
    c["receivers"] += [{"name": "b"}, {"name": "spare"}]
    errors = routing.routing_errors(c)
    assert "receiver 'b' is defined 2 times" in errors
    assert "receiver 'spare' is defined but no route uses it" in errors


def test_undefined_time_interval_is_reported():
    c = _base()
    c["route"]["routes"][0].update(active_time_intervals=["office_hours"], **{"continue": True})
    assert any("'office_hours', which is not defined" in e for e in routing.routing_errors(c))
    c["time_intervals"] = [{"name": "office_hours", "time_intervals": [{"weekdays": ["monday:friday"]}]}]
    assert routing.routing_errors(c) == []


def test_time_restricted_route_that_stops_is_reported():
    """Defect 6: a route whose active_time_intervals are inactive still matches and ends the search."""
    c = _base()
    c["time_intervals"] = [{"name": "business_hours", "time_intervals": [{"weekdays": ["monday:friday"]}]}]
    c["route"]["routes"][0]["active_time_intervals"] = ["business_hours"]
    assert any("ends the search" in e for e in routing.routing_errors(c))


def test_clear_text_secrets_and_environment_variables_are_reported():
    c = _base()
    c["global"] = {"slack_api_url": "${SLACK_WEBHOOK_URL}"}
    c["receivers"][1]["pagerduty_configs"] = [{"routing_key": "abc", "url": "https://events.pagerduty.com"}]
    c["receivers"][1]["webhook_configs"] = [{"url": "http://hook"}]
    errors = routing.routing_errors(c)
    assert any("global: slack_api_url holds a secret" in e for e in errors)
    assert any("pagerduty_configs[0]: routing_key holds a secret" in e and "routing_key_file" in e for e in errors)
    assert any("webhook_configs[0]: url holds a secret" in e for e in errors)
    assert any("environment variable" in e for e in errors)
    assert not any("pagerduty_configs[0]: url" in e for e in errors), "the PagerDuty API URL is not a secret"


def test_inhibit_rule_without_target_is_reported():
    c = _base()
    c["inhibit_rules"] = [{"source_matchers": ['severity="critical"']}]
    assert any("no target matchers" in e for e in routing.routing_errors(c))


def test_matrix_escapes_pipes_and_lists_every_route(config):
    matrix = routing.routing_matrix(config)
    rows = [line for line in matrix.splitlines() if line.startswith("| ")][1:]
    assert len(rows) == 1 + len(config["route"]["routes"])
    assert all(len(re.split(r"(?<!\\)\|", row)) == 8 for row in rows)
    assert "only during business_hours" in matrix
    assert "PagerDuty (Events v2)" in matrix and "e-mail oncall@example.com" in matrix


def _doc_block(name: str) -> str:
    text = POLICY_DOC.read_text()
    m = re.search(rf"<!-- BEGIN {name} .*?-->\n(.*?)<!-- END {name} -->", text, re.S)
    assert m, f"{POLICY_DOC.name} has no {name} block"
    return m.group(1)


def test_policy_document_matrix_is_the_generated_one(config):
    assert _doc_block("routing-matrix") == routing.routing_matrix(config)
    assert _doc_block("inhibitions") == routing.inhibition_table(config)


def test_changing_the_policy_changes_the_matrix(config):
    changed = copy.deepcopy(config)
    changed["route"]["routes"][-1]["receiver"] = "slack-alerts"
    assert routing.routing_matrix(changed) != _doc_block("routing-matrix")
