"""Jinja filters of the promtail role: the effective promtail.yml and its checks (alertstack.grafana: log_sources,
redaction, validate_logs)."""
from __future__ import annotations

import copy
import sys
from pathlib import Path

_REPO_ROOT = str(Path(__file__).resolve().parents[3])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from alertstack.grafana import log_sources  # noqa: E402
from alertstack.grafana.validate_logs import check_promtail_config  # noqa: E402
from alertstack.plain import plain  # noqa: E402


def promtail_with_sources(config: dict, sources, host: str, env: str, socket: str) -> dict:
    """promtail_config with the scrape jobs of this host's sources first, then its own scrape_configs (verbatim)."""
    config = copy.deepcopy(plain(config))
    generated = log_sources.promtail_scrape_configs(plain(sources), str(host), str(env), str(socket))
    config["scrape_configs"] = generated + list(config.get("scrape_configs") or [])
    return config


def promtail_with_redactions(config: dict, redactions: list[dict]) -> dict:
    """promtail_config with one replace stage per redaction appended to every scrape job's pipeline."""
    config = copy.deepcopy(plain(config))
    for job in config.get("scrape_configs", []):
        job.setdefault("pipeline_stages", []).extend(
            {"replace": {"expression": r["expression"], "replace": r["replace"]}} for r in plain(redactions))
    return config


def promtail_with_clients(config: dict, urls: list) -> dict:
    """promtail_config with one client per push URL."""
    config = copy.deepcopy(config)
    config["clients"] = [{"url": u} for u in urls]
    return config


def promtail_config_problems(config: dict) -> list[str]:
    return check_promtail_config(config)


class FilterModule:
    def filters(self):
        # The log-collection, redaction and push-URL filters shared with the alloy role are in
        # filter_plugins/alertstack.py (alertstack_log_*, alertstack_loki_urls).
        return {"promtail_with_redactions": promtail_with_redactions,
                "promtail_with_clients": promtail_with_clients, "promtail_with_sources": promtail_with_sources,
                "promtail_config_problems": promtail_config_problems}
