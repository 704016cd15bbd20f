"""Jinja filters of the stack: thin wrappers over the tested `alertstack` package (one source of truth)."""
from __future__ import annotations

import sys
from pathlib import Path

_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from ansible.errors import AnsibleFilterError  # noqa: E402

from alertstack import prometheus_config  # noqa: E402
from alertstack.grafana import log_sources, redaction  # noqa: E402
from alertstack.grafana.log_shipping import loki_push_urls  # noqa: E402
from alertstack.plain import plain as _plain  # noqa: E402


def scrape_configs(jobs, groups, hostvars, single_host, extra=None, basic_auth=None):
    try:
        return prometheus_config.scrape_configs(_plain(jobs), _plain(groups), hostvars, bool(single_host),
                                                _plain(extra), _plain(basic_auth))
    except prometheus_config.TargetError as exc:
        raise AnsibleFilterError(f"prometheus_scrape_jobs: {exc}") from exc


def alertmanager_targets(groups, hostvars, single_host, group="monitoring", port=9093):
    return prometheus_config.alertmanager_targets(_plain(groups), hostvars, bool(single_host), group, int(port))


def slo_errors(slos):
    """Problems of the SLO definitions, as sentences; [] when they are valid."""
    from alertstack import slo
    try:
        slo.validate_slos(_plain(slos))
    except slo.SLOError as exc:
        return [str(exc)]
    return []


def rule_files(slos, runbooks_base_url, dashboard_base_url, extra=None, slo_interval=None, for_overrides=None,
               declared_gpus=None):
    from alertstack import rules, slo
    try:
        return rules.rule_files(_plain(slos), str(runbooks_base_url), str(dashboard_base_url), _plain(extra),
                                str(slo_interval) if slo_interval else None, _plain(for_overrides),
                                _plain(declared_gpus))
    except slo.SLOError as exc:
        raise AnsibleFilterError(f"prometheus_slos: {exc}") from exc
    except rules.RuleError as exc:
        raise AnsibleFilterError(f"prometheus rule files: {exc}") from exc


def declared_gpus(groups, hostvars, group="gpu", variable="gpu_count"):
    """{host: GPU count} of every host of `group`; fails naming a host that does not declare its GPUs."""
    from alertstack import gpu
    try:
        return gpu.declared_gpus(_plain(groups), hostvars, str(group), str(variable))
    except gpu.GPUConfigError as exc:
        raise AnsibleFilterError(f"inventory: {exc}") from exc


def dcgm_counters_csv(counters):
    """The dcgm-exporter counters file for `dcgm_exporter_counters`; fails naming a malformed counter."""
    from alertstack import gpu
    try:
        return gpu.counters_csv(_plain(counters))
    except gpu.GPUConfigError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def routing_errors(config):
    from alertstack import routing
    return routing.routing_errors(_plain(config))


def secret_file_names(value, directory):
    """Names of the files under `directory` that a config references through *_file fields."""
    found = set()

    def walk(node):
        if isinstance(node, dict):
            for key, item in node.items():
                if str(key).endswith("_file") and isinstance(item, str) and item.startswith(directory.rstrip("/") + "/"):
                    found.add(item[len(directory.rstrip("/")) + 1:])
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(_plain(value))
    return sorted(found)


def bcrypt_hash(password, seed):
    """Deterministic bcrypt hash for web.config basic_auth_users (stable across runs: changed=0)."""
    from alertstack import webauth
    return webauth.bcrypt_hash(str(password), str(seed))


# Log shipping, shared by the promtail and alloy roles (one definition for both shippers).
def log_collection_effective(collection, project: str) -> dict:
    """The inventory's `log_collection`, or the built-in default when it declares none."""
    return _plain(collection) if collection else log_sources.default_collection(str(project))


def log_loki_urls(configured: list, groups: dict, hostvars: dict, single_host: bool, port: int = 3100) -> list:
    return loki_push_urls(configured, groups, hostvars, single_host, port)


class FilterModule:
    def filters(self):
        return {
            "alertstack_scrape_configs": scrape_configs,
            "alertstack_alertmanager_targets": alertmanager_targets,
            "alertstack_slo_errors": slo_errors,
            "alertstack_rule_files": rule_files,
            "alertstack_declared_gpus": declared_gpus,
            "alertstack_dcgm_counters_csv": dcgm_counters_csv,
            "alertstack_routing_errors": routing_errors,
            "alertstack_secret_file_names": secret_file_names,
            "alertstack_bcrypt": bcrypt_hash,
            "alertstack_log_collection": log_collection_effective,
            "alertstack_log_collection_problems": lambda c, g: log_sources.collection_problems(_plain(c), _plain(g)),
            "alertstack_log_host_sources": lambda c, names: log_sources.host_sources(_plain(c), _plain(names)),
            "alertstack_log_host_mounts": lambda sources: log_sources.host_mounts(_plain(sources)),
            "alertstack_log_selectors": lambda sources: log_sources.selectors(_plain(sources)),
            "alertstack_log_redactions": lambda extra: redaction.effective(_plain(extra)),
            "alertstack_log_redaction_problems": lambda r: redaction.problems(_plain(r)),
            "alertstack_loki_urls": log_loki_urls,
        }
