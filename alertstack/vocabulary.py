"""The words every part of the stack shares: the alerting policy's severities and teams, and durations.

One definition each, imported by the rule checks, the Grafana and Loki checks, the drills and the silences.
"""
from __future__ import annotations

import re

SEVERITIES = ("critical", "high", "warning", "info")
"""The `severity` label of every alert, most urgent first."""
TEAMS = ("ml-platform", "ai-infra", "platform", "data")
"""The `team` label of every alert: who is paged."""

DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
DURATION_RE = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
"""A duration as Prometheus, Loki and Grafana write it in their files: 30s, 5m, 1h30m (whole numbers)."""
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|y|w|d|h|m|s)")
_RANGE = re.compile(r"\[((?:\d+(?:ms|y|w|d|h|m|s))+)(?::[^\]]*)?\]")


def duration_seconds(value) -> float:
    """A duration ("1h30m", "5m", "30s", "500ms") or a number of seconds -> seconds (float).

    ValueError for anything else: an empty string, a bare number in a string, a space, a negative value.
    """
    if isinstance(value, bool):
        raise ValueError(f"duration {value!r} is not a duration")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"duration {value!r} is negative")
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"duration {value!r} is not a duration such as 30s, 5m or 1h")
    s, pos, total = value.strip(), 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * DURATION_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s) or pos == 0:
        raise ValueError(f"duration {value!r} is not a duration such as 30s, 5m or 1h")
    return total


def longest_range_s(expr: str) -> float:
    """The longest range selector of a PromQL or LogQL expression ([5m] -> 300); 0 for an instant expression."""
    return max((duration_seconds(m.group(1)) for m in _RANGE.finditer(expr or "")), default=0.0)
