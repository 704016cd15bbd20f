"""Jinja filters of the loki role: thin wrappers over alertstack.grafana (one definition of the log alerts)."""
from __future__ import annotations

import sys
from pathlib import Path

_REPO_ROOT = str(Path(__file__).resolve().parents[3])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from alertstack.grafana import loki_rules, validate  # noqa: E402
from alertstack.grafana.dashboards import UIDS  # noqa: E402
from alertstack.grafana.validate_logs import check_loki_config  # noqa: E402


def loki_log_alert_rules(runbooks_base_url: str, grafana_external_url: str, interval: str = "1m") -> dict:
    """The Loki ruler rule file (Prometheus rule-file structure, LogQL expressions)."""
    return loki_rules.rule_file(runbooks_base_url, grafana_external_url, interval)


def loki_rule_problems(rule_file: dict) -> list[str]:
    return validate.check_loki_rules(rule_file, UIDS)


def loki_config_problems(config: dict, tenant: str = "fake") -> list[str]:
    return check_loki_config(config, tenant)


class FilterModule:
    def filters(self):
        return {"loki_log_alert_rules": loki_log_alert_rules, "loki_rule_problems": loki_rule_problems,
                "loki_config_problems": loki_config_problems}
