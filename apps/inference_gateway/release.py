"""The release config: what a deploy of the gateway changes (version, model, and the behaviour a bad release has).

The file is YAML (path from $GATEWAY_CONFIG). The gateway re-reads it when its mtime/size/inode changes (polled every
second) and on SIGHUP. A file that fails validation is refused with a logged error; the running release stays.
Mount the *directory* holding it, not the file: a file bind mount keeps the old inode after an atomic rename.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields

import yaml


class ReleaseError(Exception):
    pass


@dataclass(frozen=True)
class Release:
    version: str = "1.0.0"
    model_name: str = "fraud_detection"
    added_latency_ms: float = 0.0       # extra latency on every /predict
    base_latency_ms: float = 15.0       # simulated inference time (with +-50 % jitter)
    error_ratio: float = 0.0            # share of /predict answered 500
    gpu_memory_leak_mb_per_s: float = 0.0  # leaked GPU memory; requests fail with OOM once used >= total
    log_output: str = "stdout"          # stdout | none
    feature_fallback: bool = False      # degraded mode: serve from request features when the feature store fails
    change: str = ""                    # free text: what this release changes


def parse_release(data) -> Release:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ReleaseError(f"release config must be a mapping, got {type(data).__name__}")
    known = {f.name: f for f in fields(Release)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ReleaseError(f"release config: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    values = {}
    for key, value in data.items():
        default = known[key].default
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ReleaseError(f"release config: {key} must be true or false, got {value!r}")
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ReleaseError(f"release config: {key} must be a number, got {value!r}")
            value = float(value)
            if value < 0:
                raise ReleaseError(f"release config: {key} must be >= 0, got {value}")
        else:
            value = str(value)
        values[key] = value
    release = Release(**values)
    if release.error_ratio > 1:
        raise ReleaseError(f"release config: error_ratio must be within [0, 1], got {release.error_ratio}")
    if release.log_output not in ("stdout", "none"):
        raise ReleaseError(f"release config: log_output must be stdout or none, got {release.log_output!r}")
    if release.added_latency_ms > 60000:
        raise ReleaseError(f"release config: added_latency_ms must be <= 60000, got {release.added_latency_ms}")
    return release


def load_release(path: str | None) -> Release:
    if not path:
        return Release()
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise ReleaseError(f"cannot read release config {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ReleaseError(f"release config {path} is not valid YAML: {exc}") from exc
    return parse_release(data)


def file_signature(path: str | None):
    """What changes when the file is replaced or edited (None when absent)."""
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)
