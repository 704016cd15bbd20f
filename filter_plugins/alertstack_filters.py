"""Jinja filters of the stack, the one adapter between Ansible and the `alertstack` package (installed in the venv
by ./bootstrap: pyproject.toml). Each filter converts Ansible's types (plain()), calls the package and turns its
errors into AnsibleFilterError. No logic lives here.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from ansible.errors import AnsibleFilterError

from alertstack.plain import file_references, plain


class _Lazy:
    """A package module imported on first use. Ansible loads every filter module in every worker process (one per
    host and task) as soon as a template uses any filter, `| bool` included: importing the package's modules (and
    requests, re2, ...) up front there cost half of `invoke render`'s CPU. Only a filter that is called imports."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self._name), attr)


prometheus_config = _Lazy("alertstack.prometheus_config")
ha = _Lazy("alertstack.ha")
silences = _Lazy("alertstack.silences")
alerts = _Lazy("alertstack.grafana.alerts")
dashboards = _Lazy("alertstack.grafana.dashboards")
datasources = _Lazy("alertstack.grafana.datasources")
validate = _Lazy("alertstack.grafana.validate")
alloy = _Lazy("alertstack.logs.alloy")
loki_rules = _Lazy("alertstack.logs.loki_rules")
promtail = _Lazy("alertstack.logs.promtail")
redaction = _Lazy("alertstack.logs.redaction")
shipping = _Lazy("alertstack.logs.shipping")
log_sources = _Lazy("alertstack.logs.sources")
validate_logs = _Lazy("alertstack.logs.validate")
runbook_lint = _Lazy("alertstack.runbooks.lint")
runbook_pages = _Lazy("alertstack.runbooks.pages")

# Where the grafana role mounts the API password (roles/grafana/templates/compose.yml.j2).
GRAFANA_API_PASSWORD_FILE = "/etc/grafana/secrets/api_password"


# --- stack-wide: Prometheus, Alertmanager, SLOs and rules, GPUs, secrets -----------------------------------------------
def scrape_configs(jobs, groups, hostvars, single_host, extra=None, basic_auth=None, replicas=None):
    try:
        return prometheus_config.scrape_configs(plain(jobs), plain(groups), hostvars, bool(single_host),
                                                plain(extra), plain(basic_auth),
                                                {k: int(v) for k, v in (plain(replicas) or {}).items()})
    except prometheus_config.TargetError as exc:
        raise AnsibleFilterError(f"prometheus_scrape_jobs: {exc}") from exc


def alertmanager_targets(groups, hostvars, single_host, replicas=1, group="monitoring", port=9093):
    try:
        return ha.alertmanager_targets(plain(groups), hostvars, bool(single_host), int(replicas), group, int(port))
    except ha.TopologyError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def alertmanager_instances(groups, hostvars, host, single_host, replicas=1, host_port=9093, cluster_port=9094):
    try:
        return ha.alertmanager_instances(plain(groups), hostvars, str(host), bool(single_host), int(replicas),
                                         host_port=int(host_port), cluster_port=int(cluster_port))
    except ha.TopologyError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def prometheus_instances(groups, host, single_host, replicas=1, host_port=9090):
    try:
        return ha.prometheus_instances(plain(groups), str(host), bool(single_host), int(replicas),
                                       host_port=int(host_port))
    except ha.TopologyError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def slo_errors(slos, burn_rate_tiers=None):
    """Problems of the SLO definitions (and the burn-rate tiers they refer to), as sentences; [] when they are valid."""
    from alertstack import slo
    try:
        slo.validate_slos(plain(slos), plain(burn_rate_tiers))
    except slo.SLOError as exc:
        return [str(exc)]
    return []


def rule_files(slos, runbooks_base_url, dashboard_base_url, extra=None, slo_interval=None, for_overrides=None,
               declared_gpus=None, burn_rate_tiers=None):
    from alertstack import rules, slo
    try:
        return rules.rule_files(plain(slos), str(runbooks_base_url), str(dashboard_base_url), plain(extra),
                                str(slo_interval) if slo_interval else None, plain(for_overrides),
                                plain(declared_gpus), plain(burn_rate_tiers))
    except slo.SLOError as exc:
        raise AnsibleFilterError(f"prometheus_slos: {exc}") from exc
    except rules.RuleError as exc:
        raise AnsibleFilterError(f"prometheus rule files: {exc}") from exc


def declared_gpus(groups, hostvars, group="gpu", variable="gpu_count"):
    """{host: GPU count} of every host of `group`; fails naming a host that does not declare its GPUs."""
    from alertstack import gpu
    try:
        return gpu.declared_gpus(plain(groups), hostvars, str(group), str(variable))
    except gpu.GPUConfigError as exc:
        raise AnsibleFilterError(f"inventory: {exc}") from exc


def dcgm_counters_csv(counters):
    """The dcgm-exporter counters file for `dcgm_exporter_counters`; fails naming a malformed counter."""
    from alertstack import gpu
    try:
        return gpu.counters_csv(plain(counters))
    except gpu.GPUConfigError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def routing_errors(config):
    from alertstack import routing
    return routing.routing_errors(plain(config))


def secret_file_names(value, directory):
    """Names of the files under `directory` that a config references through *_file fields."""
    return file_references(plain(value), str(directory))


def bcrypt_hash(password, seed):
    """Deterministic bcrypt hash for web.config basic_auth_users (stable across runs: changed=0)."""
    from alertstack import webauth
    return webauth.bcrypt_hash(str(password), str(seed))


# --- grafana ----------------------------------------------------------------------------------------------------------
def grafana_datasources(prometheus_url, loki_url, alertmanager_url, scrape_interval, basic_auth_user=None,
                        long_term_url=None) -> dict:
    """Datasources; Prometheus and Alertmanager with basic auth whose password is read from secrets/api_password;
    the long-term store's when long_term_url is set."""
    return datasources.datasources(str(prometheus_url), str(loki_url), str(alertmanager_url), str(scrape_interval),
                                   str(basic_auth_user) if basic_auth_user else None, GRAFANA_API_PASSWORD_FILE,
                                   str(long_term_url) if long_term_url else None)


def grafana_dashboard_provider(path, folder) -> dict:
    return dashboards.provider(str(path), str(folder))


def grafana_log_alert_rules(runbooks_base_url, grafana_external_url, folder, interval) -> dict:
    return alerts.provisioning(str(runbooks_base_url), str(grafana_external_url), folder=str(folder),
                               interval=str(interval))


# --- loki -------------------------------------------------------------------------------------------------------------
def loki_log_alert_rules(runbooks_base_url, grafana_external_url, interval="1m") -> dict:
    """The Loki ruler rule file (Prometheus rule-file structure, LogQL expressions)."""
    return loki_rules.rule_file(str(runbooks_base_url), str(grafana_external_url), str(interval))


def loki_rule_problems(rule_file) -> list[str]:
    return validate.check_loki_rules(plain(rule_file), dashboards.UIDS)


def loki_config_problems(config, tenant="fake") -> list[str]:
    return validate_logs.check_loki_config(plain(config), str(tenant))


# --- log shipping, shared by the promtail and alloy roles -------------------------------------------------------------
def log_collection(collection, project) -> dict:
    """The inventory's `log_collection`, or the built-in default when it declares none."""
    return log_sources.effective_collection(plain(collection), str(project))


def log_collection_problems(collection, groups) -> list[str]:
    return log_sources.collection_problems(plain(collection), plain(groups))


def log_host_sources(collection, group_names) -> list[dict]:
    return log_sources.host_sources(plain(collection), plain(group_names))


def log_host_mounts(sources, docker_socket=None) -> list[str]:
    return log_sources.host_mounts(plain(sources), str(docker_socket) if docker_socket else None)


def log_selectors(sources) -> list[str]:
    return log_sources.selectors(plain(sources))


def log_redactions(extra) -> list[dict]:
    return redaction.effective(plain(extra))


def log_redaction_problems(redactions) -> list[str]:
    return redaction.problems(plain(redactions))


def loki_urls(configured, groups, hostvars, single_host, port=3100) -> list[str]:
    return shipping.loki_push_urls(plain(configured), plain(groups), hostvars, bool(single_host), int(port))


# --- promtail ---------------------------------------------------------------------------------------------------------
def promtail_with_sources(config, sources, host, env, socket) -> dict:
    return promtail.with_sources(plain(config), plain(sources), str(host), str(env), str(socket))


def promtail_with_redactions(config, redactions) -> dict:
    return promtail.with_redactions(plain(config), plain(redactions))


def promtail_with_clients(config, urls) -> dict:
    return promtail.with_clients(plain(config), plain(urls))


def promtail_config_problems(config) -> list[str]:
    return validate_logs.check_promtail_config(plain(config))


# --- alloy ------------------------------------------------------------------------------------------------------------
def alloy_config_text(push_urls, redactions, sources, host, env, socket) -> str:
    return alloy.config(plain(push_urls), plain(redactions), plain(sources), str(host), str(env), str(socket))


def alloy_config_problems(text) -> list[str]:
    return alloy.check(str(text))


# --- runbooks ---------------------------------------------------------------------------------------------------------
def _runbooks_source(source_dir) -> Path:
    return Path(str(source_dir)) if source_dir else runbook_pages.RUNBOOKS_DIR


def runbooks_html_pages(source_dir="") -> dict:
    """<slug>.html -> HTML of every page (index included) under `source_dir` (empty: the repository's runbooks/)."""
    try:
        return runbook_pages.render_pages(_runbooks_source(source_dir))
    except (OSError, ValueError) as exc:
        raise AnsibleFilterError(f"runbooks: cannot render {_runbooks_source(source_dir)}: {exc}") from exc


def runbooks_problems(source_dir="") -> list[str]:
    """Pages missing a required section, and catalogue alerts without a page naming them; [] when all is well."""
    return runbook_lint.directory_problems(_runbooks_source(source_dir))


# --- silences ---------------------------------------------------------------------------------------------------------
def silences_problems(declared) -> str:
    """'' when alertmanager_silences is valid, else the problem (for an assert in preflight)."""
    try:
        silences.validate_declared(plain(declared))
    except silences.SilenceError as exc:
        return str(exc)
    return ""


def silences_diff(existing, declared, created_by=None) -> dict:
    try:
        return silences.desired_silences_diff(plain(existing), plain(declared),
                                              str(created_by or silences.ANSIBLE_CREATED_BY))
    except silences.SilenceError as exc:
        raise AnsibleFilterError(f"alertmanager_silences: {exc}") from exc


class FilterModule:
    def filters(self):
        return {
            "alertstack_scrape_configs": scrape_configs,
            "alertstack_alertmanager_targets": alertmanager_targets,
            "alertstack_alertmanager_instances": alertmanager_instances,
            "alertstack_prometheus_instances": prometheus_instances,
            "alertstack_slo_errors": slo_errors,
            "alertstack_rule_files": rule_files,
            "alertstack_declared_gpus": declared_gpus,
            "alertstack_dcgm_counters_csv": dcgm_counters_csv,
            "alertstack_routing_errors": routing_errors,
            "alertstack_secret_file_names": secret_file_names,
            "alertstack_bcrypt": bcrypt_hash,
            "grafana_datasources": grafana_datasources,
            "grafana_dashboard_provider": grafana_dashboard_provider,
            "grafana_log_alert_rules": grafana_log_alert_rules,
            "loki_log_alert_rules": loki_log_alert_rules,
            "loki_rule_problems": loki_rule_problems,
            "loki_config_problems": loki_config_problems,
            "alertstack_log_collection": log_collection,
            "alertstack_log_collection_problems": log_collection_problems,
            "alertstack_log_host_sources": log_host_sources,
            "alertstack_log_host_mounts": log_host_mounts,
            "alertstack_log_selectors": log_selectors,
            "alertstack_log_redactions": log_redactions,
            "alertstack_log_redaction_problems": log_redaction_problems,
            "alertstack_loki_urls": loki_urls,
            "promtail_with_sources": promtail_with_sources,
            "promtail_with_redactions": promtail_with_redactions,
            "promtail_with_clients": promtail_with_clients,
            "promtail_config_problems": promtail_config_problems,
            "alloy_config_text": alloy_config_text,
            "alloy_config_problems": alloy_config_problems,
            "runbooks_html_pages": runbooks_html_pages,
            "runbooks_problems": runbooks_problems,
            "alertstack_silences_problems": silences_problems,
            "alertstack_silences_diff": silences_diff,
        }
