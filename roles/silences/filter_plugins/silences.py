"""Filters of the silences role: thin wrappers over alertstack.silences (validation and the idempotent diff)."""
from __future__ import annotations

import sys
from pathlib import Path

_REPO_ROOT = str(Path(__file__).resolve().parents[3])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from ansible.errors import AnsibleFilterError  # noqa: E402

from alertstack import silences  # noqa: E402
from alertstack.plain import plain as _plain  # noqa: E402


def silences_problems(declared) -> str:
    """'' when alertmanager_silences is valid, else the problem (for an assert in preflight)."""
    try:
        silences.validate_declared(_plain(declared))
    except silences.SilenceError as exc:
        return str(exc)
    return ""


def silences_diff(existing, declared, created_by=silences.ANSIBLE_CREATED_BY):
    try:
        return silences.desired_silences_diff(_plain(existing), _plain(declared), str(created_by))
    except silences.SilenceError as exc:
        raise AnsibleFilterError(f"alertmanager_silences: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"alertstack_silences_problems": silences_problems, "alertstack_silences_diff": silences_diff}
