"""Jinja filters of the alloy role: the configuration text and its checks (alertstack.grafana.alloy)."""
from __future__ import annotations

import sys
from pathlib import Path

_REPO_ROOT = str(Path(__file__).resolve().parents[3])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from alertstack.grafana import alloy  # noqa: E402
from alertstack.grafana.log_shipping import loki_push_urls  # noqa: E402


def alloy_loki_urls(configured: list, groups: dict, hostvars: dict, single_host: bool, port: int = 3100) -> list:
    return loki_push_urls(configured, groups, hostvars, single_host, port)


def alloy_config_text(push_urls: list, redactions: list, project: str, host: str, env: str, socket: str) -> str:
    return alloy.config(push_urls, redactions, project, host, env, socket)


def alloy_config_problems(text: str) -> list[str]:
    return alloy.check(text)


class FilterModule:
    def filters(self):
        return {"alloy_loki_urls": alloy_loki_urls, "alloy_config_text": alloy_config_text,
                "alloy_config_problems": alloy_config_problems}
