"""Jinja filters of the promtail role: the effective promtail.yml and its checks (alertstack.grafana: log_sources,
redaction, validate_logs)."""
from __future__ import annotations

import copy
import sys
from pathlib import Path

_REPO_ROOT = str(Path(__file__).resolve().parents[3])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from alertstack.grafana import log_sources, redaction  # noqa: E402
from alertstack.grafana.log_shipping import loki_push_urls  # noqa: E402
from alertstack.grafana.validate_logs import check_promtail_config  # noqa: E402
from alertstack.plain import plain  # noqa: E402


def log_collection_effective(collection, project: str) -> dict:
    """The inventory's `log_collection`, or the built-in default when it declares none."""
    return plain(collection) if collection else log_sources.default_collection(str(project))


def log_collection_problems(collection, groups) -> list[str]:
    return log_sources.collection_problems(plain(collection), plain(groups))


def log_collection_host_sources(collection, group_names) -> list[dict]:
    return log_sources.host_sources(plain(collection), plain(group_names))


def log_collection_mounts(sources) -> list[str]:
    return log_sources.host_mounts(plain(sources))


def log_collection_selectors(sources) -> list[str]:
    return log_sources.selectors(plain(sources))


def log_redactions(extra) -> list[dict]:
    """The shared redaction rules (alertstack/grafana/redaction.yml), then the site's extra ones."""
    return redaction.effective(plain(extra))


def log_redaction_problems(redactions) -> list[str]:
    return redaction.problems(plain(redactions))


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
                "promtail_with_clients": promtail_with_clients, "promtail_with_sources": promtail_with_sources,
                "promtail_config_problems": promtail_config_problems,
                "promtail_log_collection": log_collection_effective,
                "promtail_log_collection_problems": log_collection_problems,
                "promtail_host_sources": log_collection_host_sources,
                "promtail_host_mounts": log_collection_mounts,
                "promtail_selectors": log_collection_selectors,
                "promtail_redactions": log_redactions,
                "promtail_redaction_problems": log_redaction_problems}
