"""The role defaults this package generates from (SLOs, notification templates), read from the roles' files."""
from __future__ import annotations

import yaml

from alertstack.paths import ROLES

SLOS_FILE = ROLES / "prometheus" / "defaults" / "main" / "slos.yml"
NOTIFICATION_TEMPLATES = ROLES / "alertmanager" / "templates" / "notifications.tmpl"


def default_slos() -> list[dict]:
    """`prometheus_slos` from roles/prometheus/defaults/main/slos.yml: the SLOs the role ships, not an environment's
    (those are read back from what Ansible rendered: alertstack.rendered.StackRoot.slos)."""
    return yaml.safe_load(SLOS_FILE.read_text())["prometheus_slos"]


def default_burn_rate_tiers() -> dict:
    """`prometheus_slo_burn_rate_tiers` from the same file: the policy's named burn-rate tiers, which the SLOs'
    alerts refer to by name (alertstack.slo.validate_slos uses them when it is given none)."""
    return yaml.safe_load(SLOS_FILE.read_text())["prometheus_slo_burn_rate_tiers"]
