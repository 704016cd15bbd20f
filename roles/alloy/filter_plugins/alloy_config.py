"""Jinja filters of the alloy role: the configuration text and its checks (alertstack.grafana: alloy, log_sources,
redaction)."""
from __future__ import annotations

import sys
from pathlib import Path

_REPO_ROOT = str(Path(__file__).resolve().parents[3])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from alertstack.grafana import alloy  # noqa: E402
from alertstack.plain import plain  # noqa: E402


def alloy_config_text(push_urls: list, redactions: list, sources: list, host: str, env: str, socket: str) -> str:
    return alloy.config(plain(push_urls), plain(redactions), plain(sources), str(host), str(env), str(socket))


def alloy_config_problems(text: str) -> list[str]:
    return alloy.check(text)


class FilterModule:
    def filters(self):
        # The log-collection, redaction and push-URL filters shared with the promtail role are in
        # filter_plugins/alertstack.py (alertstack_log_*, alertstack_loki_urls).
        return {"alloy_config_text": alloy_config_text, "alloy_config_problems": alloy_config_problems}
