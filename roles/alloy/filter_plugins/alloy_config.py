"""Jinja filters of the alloy role: the configuration text and its checks (alertstack.grafana: alloy, log_sources,
redaction)."""
from __future__ import annotations

import sys
from pathlib import Path

_REPO_ROOT = str(Path(__file__).resolve().parents[3])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from alertstack.grafana import alloy, log_sources, redaction  # noqa: E402
from alertstack.grafana.log_shipping import loki_push_urls  # noqa: E402
from alertstack.plain import plain  # noqa: E402


def alloy_loki_urls(configured: list, groups: dict, hostvars: dict, single_host: bool, port: int = 3100) -> list:
    return loki_push_urls(configured, groups, hostvars, single_host, port)


def alloy_log_collection(collection, project: str) -> dict:
    """The inventory's `log_collection`, or the built-in default when it declares none."""
    return plain(collection) if collection else log_sources.default_collection(str(project))


def alloy_log_collection_problems(collection, groups) -> list[str]:
    return log_sources.collection_problems(plain(collection), plain(groups))


def alloy_host_sources(collection, group_names) -> list[dict]:
    return log_sources.host_sources(plain(collection), plain(group_names))


def alloy_host_mounts(sources) -> list[str]:
    return log_sources.host_mounts(plain(sources))


def alloy_redactions(extra) -> list[dict]:
    """The shared redaction rules (alertstack/grafana/redaction.yml), then the site's extra ones."""
    return redaction.effective(plain(extra))


def alloy_redaction_problems(redactions) -> list[str]:
    return redaction.problems(plain(redactions))


def alloy_config_text(push_urls: list, redactions: list, sources: list, host: str, env: str, socket: str) -> str:
    return alloy.config(plain(push_urls), plain(redactions), plain(sources), str(host), str(env), str(socket))


def alloy_config_problems(text: str) -> list[str]:
    return alloy.check(text)


class FilterModule:
    def filters(self):
        return {"alloy_loki_urls": alloy_loki_urls, "alloy_config_text": alloy_config_text,
                "alloy_config_problems": alloy_config_problems, "alloy_log_collection": alloy_log_collection,
                "alloy_log_collection_problems": alloy_log_collection_problems,
                "alloy_host_sources": alloy_host_sources, "alloy_host_mounts": alloy_host_mounts,
                "alloy_redactions": alloy_redactions, "alloy_redaction_problems": alloy_redaction_problems}
