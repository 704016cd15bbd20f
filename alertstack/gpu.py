"""GPU hosts: the DCGM exporter's counters file, and the GPUs the inventory declares per host.

- The counters file (`dcgm_exporter_counters` in roles/dcgm_exporter/defaults/main.yml) selects the DCGM fields the
  exporter exports; `counters_csv` writes it in dcgm-exporter's format (`DCGM FIELD, Prometheus type, help`).
- Every host of the `gpu` group declares `gpu_count` in the inventory. `declared_gpus` reads it (a missing or
  malformed value is an error naming the host) and `declared_gpus_rule_group` turns it into recording rules
  `host:gpus_declared:count{host="<inventory name>"}`, which the GPUMissing alert compares with the GPUs that report.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from alertstack.paths import ROLES

DCGM_DEFAULTS = ROLES / "dcgm_exporter" / "defaults" / "main.yml"
COUNTER_TYPES = ("gauge", "counter", "label")
DECLARED_RECORD = "host:gpus_declared:count"
DECLARED_GROUP = "gpu-inventory"
DECLARED_FILE = "gpu-inventory.yml"
_FIELD_RE = re.compile(r"^DCGM_(FI|EXP)_[A-Z0-9_]+$")


class GPUConfigError(ValueError):
    """A counters list or a GPU host declaration that cannot be used; the message names what is wrong."""


def default_counters(path: str | Path = DCGM_DEFAULTS) -> list[dict]:
    """`dcgm_exporter_counters` of the dcgm_exporter role's defaults."""
    return yaml.safe_load(Path(path).read_text())["dcgm_exporter_counters"]


def validate_counters(counters: Any) -> list[dict]:
    """The counters, checked: each {field, type, help} with a DCGM field name, a known type, no duplicates."""
    if not isinstance(counters, list) or not counters:
        raise GPUConfigError("dcgm_exporter_counters must be a non-empty list of {field, type, help}")
    seen: set[str] = set()
    out = []
    for i, counter in enumerate(counters):
        where = f"dcgm_exporter_counters[{i}]"
        if not isinstance(counter, Mapping):
            raise GPUConfigError(f"{where} must be a mapping with field, type and help, got {counter!r}")
        field, kind, help_text = counter.get("field"), counter.get("type"), counter.get("help")
        if not isinstance(field, str) or not _FIELD_RE.match(field):
            raise GPUConfigError(f"{where}: field {field!r} is not a DCGM field name (DCGM_FI_... or DCGM_EXP_...)")
        if kind not in COUNTER_TYPES:
            raise GPUConfigError(f"{where} ({field}): type {kind!r} must be one of {', '.join(COUNTER_TYPES)}")
        if not isinstance(help_text, str) or not help_text.strip() or "," in help_text or "\n" in help_text:
            raise GPUConfigError(f"{where} ({field}): help must be one line of text without commas")
        if field in seen:
            raise GPUConfigError(f"{where}: field {field} is listed twice")
        seen.add(field)
        out.append({"field": field, "type": kind, "help": help_text.strip()})
    return out


def counters_csv(counters: Any) -> str:
    """The counters file dcgm-exporter reads with `-f`: one `FIELD, type, help` line per counter."""
    lines = ["# Generated from dcgm_exporter_counters (roles/dcgm_exporter/defaults/main.yml).",
             "# Format: DCGM FIELD, Prometheus metric type, help message"]
    lines += [f"{c['field']}, {c['type']}, {c['help']}" for c in validate_counters(counters)]
    return "\n".join(lines) + "\n"


def metric_names(counters: Any) -> set[str]:
    """The Prometheus metric names the counters produce (label fields become labels, not series)."""
    return {c["field"] for c in validate_counters(counters) if c["type"] != "label"}


def declared_gpus(groups: Mapping[str, list], hostvars: Mapping[str, Any], group: str = "gpu",
                  variable: str = "gpu_count") -> dict[str, int]:
    """{host: number of GPUs} for every host of `group`, from its `variable`; an error names a host without one."""
    out: dict[str, int] = {}
    for host in groups.get(group, []) or []:
        host_vars = hostvars[host] if host in hostvars else {}
        value = host_vars.get(variable) if hasattr(host_vars, "get") else None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise GPUConfigError(f"host {host} of group {group!r} must set {variable} to the number of GPUs it has "
                                 f"(a whole number >= 1), got {value!r}")
        out[str(host)] = value
    return out


def declared_gpus_rule_group(declared: Mapping[str, int], interval: str = "1m") -> dict:
    """Recording rules `host:gpus_declared:count{host=...}` = the declared number, one per GPU host."""
    rules = [{"record": DECLARED_RECORD, "expr": f"vector({int(count)})", "labels": {"host": host}}
             for host, count in sorted(declared.items())]
    return {"name": DECLARED_GROUP, "interval": interval, "rules": rules}
