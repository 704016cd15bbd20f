"""alertstack.routing.platform_routes: the routes an environment's alertmanager.yml adds to the role's policy."""
from __future__ import annotations

from alertstack import routing

BASE = {"route": {"receiver": "fallback", "routes": [{"receiver": "slack", "matchers": ['severity="warning"']}]},
        "receivers": [{"name": "fallback"}, {"name": "slack", "slack_configs": [{"channel": "#alerts"}]}]}


def _with_platform(config: dict) -> dict:
    return {"route": {"receiver": "fallback", "routes": [
                {"receiver": "og", "matchers": ['severity=~"critical|high"'], "continue": True, "routes": [
                    {"receiver": "og-data", "matchers": ['team="data"']}]},
                *config["route"]["routes"]]},
            "receivers": [*config["receivers"], {"name": "og", "opsgenie_configs": [{}]},
                          {"name": "og-data", "opsgenie_configs": [{"responders": [{"type": "team", "name": "data"}]}]}]}


def test_only_the_routes_beyond_the_policy_are_listed_per_environment_in_tree_order():
    table = routing.platform_routes({"local": BASE, "staging": _with_platform(BASE)}, BASE)
    assert table.splitlines() == [
        "| environment | # | matches | receiver | delivers to | then |",
        "|---|---|---|---|---|---|",
        "| local | - | none: the role's policy only | - | - | - |",
        '| staging | 0 | `severity=~"critical\\|high"` | og | Opsgenie (no responders) | continue |',
        '| staging | 0.0 | `team="data"` | og-data | Opsgenie (team data) | stop |']


def test_the_document_block_is_replaced_only_when_environments_are_given():
    doc = ("<!-- BEGIN routing-matrix (x) -->\nold\n<!-- END routing-matrix -->\n"
           "<!-- BEGIN inhibitions (x) -->\nold\n<!-- END inhibitions -->\n"
           "<!-- BEGIN incident-platforms (x) -->\nold\n<!-- END incident-platforms -->\n")
    assert "\nold\n<!-- END incident-platforms" in routing.update_document(doc, BASE)
    new = routing.update_document(doc, BASE, {"prod": _with_platform(BASE)})
    assert "| prod | 0.0 | `team=\"data\"` | og-data |" in new and new.count("\nold\n") == 0
