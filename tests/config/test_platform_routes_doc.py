"""docs/alerting-policy.md's incident-platforms table is what `invoke render` writes for each environment.

Like the role READMEs (tests/unit/test_role_docs.py): the table is generated (`invoke docs`,
alertstack.routing.platform_routes) from every environment's rendered alertmanager.yml, and this test fails when an
inventory turns a platform on or off, or changes its routes, without the document being regenerated.
"""
from __future__ import annotations

import re

from alertstack import rendered, routing
from alertstack.paths import REPO_ROOT, environments

POLICY_DOC = REPO_ROOT / "docs" / "alerting-policy.md"


def _block(name: str) -> str:
    m = re.search(rf"<!-- BEGIN {name} .*?-->\n(.*?)<!-- END {name} -->", POLICY_DOC.read_text(), re.S)
    assert m, f"{POLICY_DOC.name} has no {name} block"
    return m.group(1)


def test_the_incident_platforms_table_is_the_rendered_configuration():
    configs = rendered.alertmanager_configs()
    table = routing.platform_routes(configs, rendered.role_policy())
    assert _block("incident-platforms") == table, "stale: run `invoke docs`"
    # every environment has its rows, and staging (both platforms on) its Opsgenie teams and incident webhook
    assert {line.split(" | ")[0].lstrip("| ") for line in table.splitlines()[2:]} == set(environments())
    staging = [line for line in table.splitlines() if line.startswith("| staging |")]
    assert any("| opsgenie-ml-platform | Opsgenie (team ml-platform) | stop |" in line for line in staging)
    assert any("| servicenow-incidents | webhook (servicenow_url) with basic auth | continue |" in line
               for line in staging)
