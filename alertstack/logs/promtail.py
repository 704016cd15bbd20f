"""The effective promtail.yml of one host: the inventory's `promtail_config`, then the scrape jobs of the host's
declared sources (alertstack.logs.sources) first, the redaction stages last in every job (just before shipping), and
one client per Loki push URL (alertstack.logs.shipping). The checks are in alertstack.logs.validate."""
from __future__ import annotations

import copy

from alertstack.logs import sources as log_sources


def with_sources(config: dict, sources: list[dict], host: str, env: str, docker_socket: str) -> dict:
    """`config` with the scrape jobs of this host's sources first, then its own scrape_configs (verbatim)."""
    config = copy.deepcopy(config)
    generated = log_sources.promtail_scrape_configs(sources, host, env, docker_socket)
    config["scrape_configs"] = generated + list(config.get("scrape_configs") or [])
    return config


def with_redactions(config: dict, redactions: list[dict]) -> dict:
    """`config` with one replace stage per redaction appended to every scrape job's pipeline."""
    config = copy.deepcopy(config)
    for job in config.get("scrape_configs", []):
        job.setdefault("pipeline_stages", []).extend(
            {"replace": {"expression": r["expression"], "replace": r["replace"]}} for r in redactions)
    return config


def with_clients(config: dict, urls: list[str]) -> dict:
    """`config` with one client per push URL."""
    config = copy.deepcopy(config)
    config["clients"] = [{"url": u} for u in urls]
    return config
