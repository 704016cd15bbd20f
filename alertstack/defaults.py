"""The role defaults this package generates from (SLOs, Alertmanager policy), read from the roles' defaults files."""
from __future__ import annotations

import yaml

from alertstack.paths import ROLES

SLOS_FILE = ROLES / "prometheus" / "defaults" / "main" / "slos.yml"
POLICY_FILE = ROLES / "alertmanager" / "defaults" / "main" / "policy.yml"
NOTIFICATION_TEMPLATES = ROLES / "alertmanager" / "templates" / "notifications.tmpl"


def default_slos() -> list[dict]:
    """`prometheus_slos` from roles/prometheus/defaults/main/slos.yml."""
    return yaml.safe_load(SLOS_FILE.read_text())["prometheus_slos"]


def default_policy() -> dict:
    """The alertmanager_* variables of roles/alertmanager/defaults/main/policy.yml (Jinja not yet rendered)."""
    return yaml.safe_load(POLICY_FILE.read_text())
