"""Jinja filters of the promtail role: the effective promtail.yml and its checks (alertstack.grafana.validate_logs)."""
from __future__ import annotations

import copy
import sys
from pathlib import Path

_REPO_ROOT = str(Path(__file__).resolve().parents[3])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from alertstack.grafana.log_shipping import loki_push_urls  # noqa: E402
from alertstack.grafana.validate_logs import check_promtail_config  # noqa: E402


def promtail_with_redactions(config: dict, redactions: list[dict]) -> dict:
    """promtail_config with one replace stage per redaction appended to every scrape job's pipeline."""
    config = copy.deepcopy(config)
    for job in config.get("scrape_configs", []):
        job.setdefault("pipeline_stages", []).extend(
            {"replace": {"expression": r["expression"], "replace": r["replace"]}} for r in redactions)
    return config


def promtail_loki_urls(configured: list, groups: dict, hostvars: dict, single_host: bool, port: int = 3100) -> list:
    return loki_push_urls(configured, groups, hostvars, single_host, port)


def promtail_with_clients(config: dict, urls: list) -> dict:
    """promtail_config with one client per push URL."""
    config = copy.deepcopy(config)
    config["clients"] = [{"url": u} for u in urls]
    return config


def promtail_config_problems(config: dict) -> list[str]:
    return check_promtail_config(config)


class FilterModule:
    def filters(self):
        return {"promtail_with_redactions": promtail_with_redactions, "promtail_loki_urls": promtail_loki_urls,
                "promtail_with_clients": promtail_with_clients,
                "promtail_config_problems": promtail_config_problems}
