"""Jinja filters of the grafana role: thin wrappers over alertstack.grafana (the one source of the generated files)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

_REPO_ROOT = str(Path(__file__).resolve().parents[3])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from alertstack.grafana import alerts, dashboards, datasources  # noqa: E402


def grafana_dashboard_files(directory: str) -> dict:
    """{DIRECTORY/<uid>.json: the dashboard's JSON text}, ready for the stack_files module."""
    return {f"{directory}/{uid}.json": json.dumps(model, indent=2, sort_keys=True) + "\n"
            for uid, model in dashboards.dashboards().items()}


def grafana_datasources(prometheus_url: str, loki_url: str, alertmanager_url: str, scrape_interval: str,
                        basic_auth_user: str | None = None) -> dict:
    """Datasources; Prometheus and Alertmanager with basic auth whose password is read from secrets/api_password."""
    return datasources.datasources(prometheus_url, loki_url, alertmanager_url, scrape_interval, basic_auth_user or None,
                                   "/etc/grafana/secrets/api_password")


def grafana_dashboard_provider(path: str, folder: str) -> dict:
    return dashboards.provider(path, folder)


def grafana_log_alert_rules(runbooks_base_url: str, grafana_external_url: str, folder: str, interval: str) -> dict:
    return alerts.provisioning(runbooks_base_url, grafana_external_url, folder=folder, interval=interval)


class FilterModule:
    def filters(self):
        return {
            "grafana_dashboard_files": grafana_dashboard_files,
            "grafana_datasources": grafana_datasources,
            "grafana_dashboard_provider": grafana_dashboard_provider,
            "grafana_log_alert_rules": grafana_log_alert_rules,
        }
