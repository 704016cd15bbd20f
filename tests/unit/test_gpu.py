"""GPU hosts as data: the DCGM exporter's counters file, the GPUs the inventory declares, the scrape job of the gpu
group, and the per-environment `for` overrides of the rule generator."""
from __future__ import annotations

import copy

import jinja2
import pytest
import yaml

from alertstack import gpu, prometheus_config
from alertstack.defaults import default_slos
from alertstack.paths import INVENTORIES, ROLES
from alertstack.rules import RuleError, rule_files, static_rule_files
from alertstack.runbooks.lint import promql_metric_names

PROM_DEFAULTS = yaml.safe_load((ROLES / "prometheus" / "defaults" / "main" / "main.yml").read_text())


def _inventory(env: str) -> tuple[dict, dict]:
    """(groups, hostvars) of inventories/<env>/hosts.yml, as Ansible would see them (hosts and their inline vars)."""
    data = yaml.safe_load((INVENTORIES / env / "hosts.yml").read_text())["all"]
    hostvars = {h: dict(v or {}) for h, v in data["hosts"].items()}
    groups = {"all": list(hostvars)}
    groups.update({g: list((c.get("hosts") or {})) for g, c in data.get("children", {}).items()})
    return groups, hostvars


# --- counters file --------------------------------------------------------------------------------------------------

def test_counters_file_has_every_dcgm_field_the_rules_read():
    read = {n for group in static_rule_files()["gpu.yml"]["groups"] for rule in group["rules"]
            for n in promql_metric_names(rule["expr"]) if n.startswith("DCGM_")}
    assert len(read) >= 12
    assert read - gpu.metric_names(gpu.default_counters()) == set()


def test_counters_csv_is_dcgm_exporters_format():
    text = gpu.counters_csv(gpu.default_counters())
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert "DCGM_FI_DEV_FB_USED, gauge, Framebuffer memory used (in MiB)." in lines
    assert "DCGM_FI_DRIVER_VERSION, label, Driver Version" in lines
    assert all(len(line.split(",")) == 3 for line in lines)
    assert not any(line.startswith("DCGM_FI_PROF_") for line in lines)  # no profiling field: no SYS_ADMIN needed


@pytest.mark.parametrize("mutate,needle", [
    (lambda c: c.append({"field": "GPU_TEMP", "type": "gauge", "help": "x"}), "is not a DCGM field name"),
    (lambda c: c.append({"field": "DCGM_FI_DEV_X", "type": "histogram", "help": "x"}), "type 'histogram'"),
    (lambda c: c.append({"field": "DCGM_FI_DEV_X", "type": "gauge", "help": "a, b"}), "without commas"),
    (lambda c: c.append(dict(c[0])), "listed twice"),
    (lambda c: c.append("DCGM_FI_DEV_X"), "must be a mapping"),
    (lambda c: c.clear(), "non-empty list"),
])
def test_malformed_counters_are_rejected_naming_the_entry(mutate, needle):
    counters = copy.deepcopy(gpu.default_counters())
    mutate(counters)
    with pytest.raises(gpu.GPUConfigError, match=needle):
        gpu.counters_csv(counters)


# --- the GPUs the inventory declares --------------------------------------------------------------------------------

@pytest.mark.parametrize("env", ["staging", "production"])
def test_every_gpu_host_of_the_inventories_declares_its_gpus(env):
    groups, hostvars = _inventory(env)
    declared = gpu.declared_gpus(groups, hostvars)
    assert set(declared) == set(groups["gpu"]) and all(n >= 1 for n in declared.values())


@pytest.mark.parametrize("value", [None, 0, -1, "eight", True, 1.5])
def test_a_gpu_host_without_a_valid_gpu_count_is_an_error_naming_it(value):
    hostvars = {"gpu-1": {"gpu_count": 2}, "gpu-2": {} if value is None else {"gpu_count": value}}
    with pytest.raises(gpu.GPUConfigError, match="host gpu-2 of group 'gpu' must set gpu_count"):
        gpu.declared_gpus({"gpu": ["gpu-1", "gpu-2"]}, hostvars)


def test_declared_gpus_become_recording_rules_the_missing_gpu_alert_reads():
    files = rule_files(default_slos(), "http://r", "http://g/d", declared_gpus={"gpu-2": 4, "gpu-1": 8})
    group = yaml.safe_load(files[gpu.DECLARED_FILE])["groups"][0]
    assert [(r["record"], r["expr"], r["labels"]) for r in group["rules"]] == [
        ("host:gpus_declared:count", "vector(8)", {"host": "gpu-1"}),
        ("host:gpus_declared:count", "vector(4)", {"host": "gpu-2"})]
    assert "host:gpus_declared:count" in files["gpu.yml"]  # GPUMissing reads it
    assert gpu.DECLARED_FILE not in rule_files(default_slos(), "http://r", "http://g/d")  # no GPU hosts: no file
    with pytest.raises(RuleError, match="replace a built-in"):
        rule_files(default_slos(), "http://r", "http://g/d", {gpu.DECLARED_FILE: []})


# --- scrape job of the gpu group ------------------------------------------------------------------------------------

@pytest.mark.parametrize("env", ["staging", "production"])
def test_every_gpu_host_and_only_those_get_a_dcgm_scrape_target(env):
    groups, hostvars = _inventory(env)
    configs = prometheus_config.scrape_configs(PROM_DEFAULTS["prometheus_scrape_jobs"], groups, hostvars, False)
    dcgm = next(c for c in configs if c["job_name"] == "dcgm")
    targets = {sc["labels"]["host"]: sc["targets"] for sc in dcgm["static_configs"]}
    assert set(targets) == set(groups["gpu"]) and set(groups["gpu"]) < set(groups["all"])
    for host, target in targets.items():
        assert target == [f"{hostvars[host]['ansible_host']}:9400"]
    node = next(c for c in configs if c["job_name"] == "node")
    assert {sc["labels"]["host"] for sc in node["static_configs"]} == set(groups["all"])


def test_an_inventory_without_gpu_hosts_has_no_dcgm_job():
    groups, hostvars = _inventory("local")
    configs = prometheus_config.scrape_configs(PROM_DEFAULTS["prometheus_scrape_jobs"], groups, hostvars, True)
    assert "dcgm" not in {c["job_name"] for c in configs}
    assert "node" in {c["job_name"] for c in configs}


# --- per-environment `for` overrides --------------------------------------------------------------------------------

def _for(files: dict, alert: str) -> str:
    for text in files.values():
        for group in yaml.safe_load(text)["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == alert:
                    return rule.get("for")
    raise AssertionError(alert)


def test_for_override_shortens_one_alert_and_keeps_the_others():
    base = rule_files(default_slos(), "http://r", "http://g/d")
    local = rule_files(default_slos(), "http://r", "http://g/d", for_overrides={"GPUMemoryHigh": "1m"})
    assert _for(base, "GPUMemoryHigh") == "10m" and _for(local, "GPUMemoryHigh") == "1m"
    assert _for(local, "GPUUtilizationLow") == _for(base, "GPUUtilizationLow") == "30m"
    assert rule_files(default_slos(), "http://r", "http://g/d") == base  # the packaged data is not modified


def test_local_inventory_overrides_only_what_exists_and_production_keeps_the_policy():
    local = yaml.safe_load((INVENTORIES / "local" / "group_vars" / "all" / "main.yml").read_text())
    overrides = local["prometheus_alert_for_overrides"]
    assert overrides == {"GPUMemoryHigh": "1m", "FeatureDriftDetected": "2m", "FeatureStoreDown": "1m",
                         "ModelPerformanceDegraded": "2m"}
    rule_files(default_slos(), "http://r", "http://g/d", for_overrides=overrides)  # valid
    assert PROM_DEFAULTS["prometheus_alert_for_overrides"] == {}
    for env in ("staging", "production"):
        text = (INVENTORIES / env / "group_vars" / "all" / "main.yml").read_text()
        assert "prometheus_alert_for_overrides" not in text


@pytest.mark.parametrize("overrides,needle", [
    ({"NoSuchAlert": "1m"}, "names 'NoSuchAlert', which is not an alert"),
    ({"GPUMemoryHigh": "one minute"}, "not a Prometheus duration"),
    ({"GPUMemoryHigh": 60}, "not a Prometheus duration"),
    (["GPUMemoryHigh"], "must be a mapping"),
])
def test_bad_for_overrides_are_rejected_naming_them(overrides, needle):
    with pytest.raises(RuleError, match=needle):
        rule_files(default_slos(), "http://r", "http://g/d", for_overrides=overrides)


# --- the role's Compose file ----------------------------------------------------------------------------------------

def _compose(**overrides) -> dict:
    defaults = yaml.safe_load((ROLES / "dcgm_exporter" / "defaults" / "main.yml").read_text())
    variables = {**defaults, "ansible_managed": "managed", "stack_project": "ai-alerting",
                 "stack_network": "ai-alerting", "stack_root": "/opt/ai-alerting",
                 "dcgm_exporter_bind_address": "10.30.2.21", **overrides}
    template = (ROLES / "dcgm_exporter" / "templates" / "compose.yml.j2").read_text()
    return yaml.safe_load(jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(template).render(variables))


def test_compose_file_runs_the_pinned_image_with_the_gpus_and_the_counters_file():
    service = _compose()["services"]["dcgm-exporter"]
    image = service["image"]
    assert image.startswith("nvcr.io/nvidia/k8s/dcgm-exporter:") and not image.endswith(":latest")
    assert "--collectors=/etc/dcgm-exporter/counters.csv" in service["command"]
    assert "--collect-interval=15000" in service["command"]
    assert "/opt/ai-alerting/dcgm-exporter/counters.csv:/etc/dcgm-exporter/counters.csv:ro" in service["volumes"]
    assert service["ports"] == ["10.30.2.21:9400:9400"]
    device = service["deploy"]["resources"]["reservations"]["devices"][0]
    assert device == {"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}
    assert "cap_add" not in service and "privileged" not in service
    assert _compose(dcgm_exporter_gpus=2)["services"]["dcgm-exporter"]["deploy"]["resources"][
        "reservations"]["devices"][0]["count"] == 2
