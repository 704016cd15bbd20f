"""Prometheus rule files: static rules (alertstack/rules_data/*.yml) plus the rules generated from the SLOs.

Static rules are Prometheus rule files whose alerts carry the annotations `runbook: <slug>` and
`dashboard: <uid>`; rendering turns them into `runbook_url` and `dashboard_url`, adds the label
`family` (= runbook slug, the alert family that inhibitions compare) and checks that every alert has what the
policy requires (labels severity/team/service, annotations summary/description).
"""
from __future__ import annotations

import copy
from pathlib import Path

import yaml

from alertstack import gpu as gpu_mod
from alertstack import slo as slo_mod
from alertstack.vocabulary import DURATION_RE, SEVERITIES, TEAMS

RULES_DATA = Path(__file__).resolve().parent / "rules_data"
SLO_FILE = "slos.yml"
REQUIRED_LABELS = ("severity", "team", "service")
REQUIRED_ANNOTATIONS = ("summary", "description")


class RuleError(ValueError):
    """A rule that does not meet the alerting policy; the message names the file and the alert."""


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, data: str):
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_representer)


def dump_yaml(data) -> str:
    """YAML with multi-line strings (PromQL, descriptions) as literal blocks."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True)


def static_rule_files() -> dict[str, dict]:
    """The packaged static rule files, {filename: parsed rule file}."""
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted(RULES_DATA.glob("*.yml"))}


def _finish_alert(rule: dict, where: str, runbooks_base_url: str, dashboard_base_url: str) -> dict:
    name = rule["alert"]
    labels = dict(rule.get("labels") or {})
    ann = dict(rule.get("annotations") or {})
    for key in REQUIRED_LABELS:
        if not labels.get(key):
            raise RuleError(f"{where}: alert {name} has no label {key!r} (every alert needs {', '.join(REQUIRED_LABELS)})")
    if labels["severity"] not in SEVERITIES:
        raise RuleError(f"{where}: alert {name} severity {labels['severity']!r} is not one of {', '.join(SEVERITIES)}")
    if labels["team"] not in TEAMS:
        raise RuleError(f"{where}: alert {name} team {labels['team']!r} is not one of {', '.join(TEAMS)}")
    for key in REQUIRED_ANNOTATIONS:
        if not ann.get(key):
            raise RuleError(f"{where}: alert {name} has no annotation {key!r}")
    slug = ann.pop("runbook", None)
    uid = ann.pop("dashboard", None)
    if slug:
        ann["runbook_url"] = f"{runbooks_base_url.rstrip('/')}/{slug}.html"
    if uid:
        ann["dashboard_url"] = f"{dashboard_base_url.rstrip('/')}/{uid}"
    if not ann.get("runbook_url") or not ann.get("dashboard_url"):
        raise RuleError(f"{where}: alert {name} needs annotations 'runbook: <slug>' and 'dashboard: <uid>' "
                        f"(or runbook_url and dashboard_url)")
    labels.setdefault("family", slug or ann["runbook_url"].rstrip("/").rsplit("/", 1)[-1].removesuffix(".html"))
    out = {k: v for k, v in rule.items() if k not in ("labels", "annotations")}
    out["labels"] = labels
    out["annotations"] = ann
    return out


def _finish_file(name: str, content: dict, runbooks_base_url: str, dashboard_base_url: str) -> dict:
    if not isinstance(content, dict) or not isinstance(content.get("groups"), list):
        raise RuleError(f"rule file {name}: must be a mapping with a list 'groups'")
    out = copy.deepcopy(content)
    for group in out["groups"]:
        group["rules"] = [
            _finish_alert(r, f"rule file {name}, group {group.get('name')}", runbooks_base_url, dashboard_base_url)
            if "alert" in r else r
            for r in group.get("rules", [])
        ]
    return out


def apply_for_overrides(sources: dict[str, dict], overrides: dict | None) -> None:
    """Set the `for` of the alerts named in `overrides` ({alertname: duration}) in every file of `sources`.

    An environment shortens a wait this way (the local drills) while the rule data keeps the policy's value;
    an override that names no alert, or is not a duration, is an error naming it.
    """
    if not overrides:
        return
    if not isinstance(overrides, dict):
        raise RuleError(f"alert `for` overrides must be a mapping {{alertname: duration}}, got {overrides!r}")
    found: set[str] = set()
    for content in sources.values():
        if not isinstance(content, dict):
            continue  # _finish_file names the malformed file
        for group in content.get("groups") or []:
            for rule in group.get("rules") or []:
                if rule.get("alert") in overrides:
                    rule["for"] = overrides[rule["alert"]]
                    found.add(rule["alert"])
    for name, duration in overrides.items():
        if name not in found:
            raise RuleError(f"alert `for` override names {name!r}, which is not an alert of the rule files")
        if not isinstance(duration, str) or not DURATION_RE.match(duration):
            raise RuleError(f"alert `for` override of {name}: {duration!r} is not a Prometheus duration (e.g. 1m)")


def rule_files(slos: list[dict], runbooks_base_url: str, dashboard_base_url: str,
               extra: dict | None = None, slo_interval: str | None = None,
               for_overrides: dict | None = None, declared_gpus: dict | None = None,
               burn_rate_tiers: dict | None = None) -> dict[str, str]:
    """Every Prometheus rule file of the stack, {filename: YAML text}.

    slos: `prometheus_slos` (validated here; a malformed SLO raises slo.SLOError before anything is written).
    runbooks_base_url: where runbook pages live (<url>/<slug>.html).
    dashboard_base_url: where dashboards live by uid, i.e. "<grafana_external_url>/d" (dashboard_url = <url>/<uid>).
    extra: more rule files, {filename: rule file (mapping with groups), list of groups, or YAML text}; alerts use
        `runbook: <slug>`/`dashboard: <uid>` or give runbook_url/dashboard_url themselves.
    slo_interval: evaluation interval of the burn-rate groups (default 30s; drills use the environment's
        shorter evaluation interval to detect sooner).
    for_overrides: {alertname: duration} replacing the `for` of those alerts (prometheus_alert_for_overrides;
        the local environment shortens waits for its drills; production keeps the policy's values).
    declared_gpus: {host: GPU count} of the GPU hosts (alertstack.gpu.declared_gpus); adds the recording rules
        host:gpus_declared:count that GPUMissing compares with the GPUs reporting (file gpu-inventory.yml).
    burn_rate_tiers: `prometheus_slo_burn_rate_tiers`, the named tiers the SLOs' alerts refer to (default: the role's).
    """
    if not runbooks_base_url or not dashboard_base_url:
        raise RuleError("rule_files needs runbooks_base_url and dashboard_base_url (e.g. http://localhost:8088 and http://localhost:3000/d)")
    sources = static_rule_files()
    for name, content in (extra or {}).items():
        if name in sources or name in (SLO_FILE, gpu_mod.DECLARED_FILE):
            raise RuleError(f"extra rule file {name} would replace a built-in rule file")
        content = yaml.safe_load(content) if isinstance(content, str) else content
        sources[name] = copy.deepcopy({"groups": content} if isinstance(content, list) else content)
    validated = slo_mod.validate_slos(slos, burn_rate_tiers)
    groups = slo_mod.rule_groups(validated, fast_interval=slo_interval or slo_mod.FAST_INTERVAL)
    sources[SLO_FILE] = {"groups": groups}
    if declared_gpus:
        sources[gpu_mod.DECLARED_FILE] = {"groups": [gpu_mod.declared_gpus_rule_group(declared_gpus)]}
    apply_for_overrides(sources, for_overrides)
    out: dict[str, str] = {}
    seen: dict[tuple[str, str], str] = {}
    for name, content in sources.items():
        finished = _finish_file(name, content, runbooks_base_url, dashboard_base_url)
        for group in finished["groups"]:
            for r in group["rules"]:
                if "alert" in r:
                    key = (r["alert"], r["labels"]["service"])
                    if key in seen and seen[key] != name:
                        raise RuleError(f"alert {r['alert']} for service {key[1]} is defined in {seen[key]} and {name}")
                    seen[key] = name
        header = ("# Generated by alertstack.rules.rule_files (do not edit on the host).\n"
                  + ("# Source: the SLOs in prometheus_slos.\n" if name == SLO_FILE
                     else "# Source: gpu_count of every host of the inventory's gpu group.\n"
                     if name == gpu_mod.DECLARED_FILE
                     else f"# Source: alertstack/rules_data/{name}\n" if (RULES_DATA / name).exists()
                     else "# Source: extra rule files.\n"))
        out[name] = header + dump_yaml(finished)
    return out
