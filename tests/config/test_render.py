"""Rendering and validation of every environment: what each host would get, checked by promtool and amtool."""
from __future__ import annotations

import pytest
import yaml

from alertstack import ansible, defaults, lint
from alertstack.paths import INVENTORIES

# The local environment is validated by the real deploy (every file passes promtool/amtool before it goes live).
ENVS = ["staging", "production"]


def _hosts(env: str) -> dict:
    return ansible.inventory_vars(env)


def test_every_environment_renders_every_host(rendered_envs):
    for env in ENVS:
        inventory = _hosts(env)
        hosts = set(inventory["_meta"]["hostvars"])
        assert set(rendered_envs[env]) == hosts, env


@pytest.mark.docker
@pytest.mark.parametrize("env", ENVS)
def test_rendered_configs_pass_the_components_own_checkers(rendered_envs, env):
    problems = []
    for host, root in rendered_envs[env].items():
        problems += lint.check_rendered_host(root)
    assert problems == []


@pytest.mark.parametrize("env", ["staging", "production"])
def test_every_host_is_scraped_and_every_alertmanager_gets_alerts(rendered_envs, env):
    inventory = _hosts(env)
    hostvars = inventory["_meta"]["hostvars"]
    monitoring = inventory["monitoring"]["hosts"]
    for host in monitoring:
        config = yaml.safe_load((rendered_envs[env][host] / "prometheus" / "prometheus.yml").read_text())
        jobs = {j["job_name"]: j for j in config["scrape_configs"]}
        node_targets = {t for sc in jobs["node"]["static_configs"] for t in sc["targets"]}
        assert node_targets == {f"{hostvars[h]['ansible_host']}:9100" for h in hostvars}
        am_targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
        assert sorted(am_targets) == sorted(f"{hostvars[h]['ansible_host']}:9093" for h in monitoring)
        assert config["alerting"]["alertmanagers"][0]["basic_auth"]["password_file"].startswith("/etc/prometheus/")


def test_production_alertmanagers_form_a_cluster(rendered_envs):
    inventory = _hosts("production")
    monitoring = inventory["monitoring"]["hosts"]
    assert len(monitoring) == 2
    for host in monitoring:
        compose = (rendered_envs["production"][host] / "compose" / "alertmanager.yml").read_text()
        others = [inventory["_meta"]["hostvars"][h]["ansible_host"] for h in monitoring if h != host]
        for peer in others:
            assert f"--cluster.peer={peer}:9094" in compose


def test_only_monitoring_hosts_get_monitoring_services(rendered_envs):
    inventory = _hosts("production")
    for host, root in rendered_envs["production"].items():
        compose = {p.stem for p in (root / "compose").glob("*.yml")}
        assert "node-exporter" in compose
        if host in inventory["monitoring"]["hosts"]:
            assert {"prometheus", "alertmanager"} <= compose
        else:
            assert not {"prometheus", "alertmanager"} & compose


@pytest.mark.parametrize("env", ENVS)
def test_every_gpu_host_and_only_those_get_the_dcgm_exporter_and_a_scrape_job(rendered_envs, env):
    inventory = _hosts(env)
    hostvars = inventory["_meta"]["hostvars"]
    gpu_hosts = set(inventory["gpu"]["hosts"])
    assert gpu_hosts and gpu_hosts < set(hostvars)
    for host, root in rendered_envs[env].items():
        compose = {p.stem for p in (root / "compose").glob("*.yml")}
        assert ("dcgm-exporter" in compose) is (host in gpu_hosts), host
        assert (root / "dcgm-exporter" / "counters.csv").exists() is (host in gpu_hosts), host
    for host in inventory["monitoring"]["hosts"]:
        prom = rendered_envs[env][host] / "prometheus"
        jobs = {j["job_name"]: j for j in yaml.safe_load((prom / "prometheus.yml").read_text())["scrape_configs"]}
        targets = {sc["labels"]["host"]: sc["targets"] for sc in jobs["dcgm"]["static_configs"]}
        assert targets == {h: [f"{hostvars[h]['ansible_host']}:9400"] for h in gpu_hosts}
        declared = yaml.safe_load((prom / "rules" / "gpu-inventory.yml").read_text())["groups"][0]["rules"]
        assert {r["labels"]["host"]: r["expr"] for r in declared} == {
            h: f"vector({hostvars[h]['gpu_count']})" for h in gpu_hosts}
        gpu_rules = yaml.safe_load((prom / "rules" / "gpu.yml").read_text())["groups"]
        memory = next(r for g in gpu_rules for r in g["rules"] if r.get("alert") == "GPUMemoryHigh")
        assert memory["for"] == "10m"  # the policy's wait; only the local environment shortens it


def test_production_uses_pinned_upstream_images(rendered_envs):
    for host, root in rendered_envs["production"].items():
        for compose_file in (root / "compose").glob("*.yml"):
            for name, service in yaml.safe_load(compose_file.read_text())["services"].items():
                image = service["image"]
                assert ":" in image and not image.endswith(":latest"), f"{host}/{name}: {image}"


def test_render_touches_no_host_and_writes_under_the_output_only(rendered_envs):
    """Staging and production (SSH hosts that do not exist here) render: nothing connected anywhere, and every file
    lies under the render directory, at the path the host would get it."""
    for env in ("staging", "production"):
        for host, root in rendered_envs[env].items():
            assert str(root).endswith(f"/{env}/{host}/opt/ai-alerting"), root
            assert (root / "compose" / "node-exporter.yml").is_file()


@pytest.mark.parametrize("field, value, message", [
    ("objective", 1.5, "objective"),
    ("window", "30 days", "window"),
])
def test_bad_slo_fails_before_any_host_with_a_clear_message(field, value, message):
    slo = dict(defaults.default_slos()[0], **{field: value})
    run = ansible.playbook("staging", playbook="playbooks/preflight.yml", extra_vars={"prometheus_slos": [slo]},
                           echo=False)
    assert not run.ok
    assert "prometheus_slos" in run.output and message in run.output and slo["name"] in run.output


def test_an_slo_alert_naming_an_unknown_burn_rate_tier_fails_before_any_host():
    """The tiers are the inventory's (prometheus_slo_burn_rate_tiers): an SLO alert must name one of them."""
    tiers = {"page-quick": [{"factor": 14.4, "long": "30m", "short": "5m"}]}
    run = ansible.playbook("staging", playbook="playbooks/preflight.yml",
                           extra_vars={"prometheus_slo_burn_rate_tiers": tiers}, echo=False)
    assert not run.ok
    assert ("alert InferenceErrorBudgetBurnHigh: tier 'page-slow' is not one of the burn-rate tiers page-quick "
            "(prometheus_slo_burn_rate_tiers)") in run.output


@pytest.mark.parametrize("extra_vars, name, value", [
    ({"alertmanager_data_maintenance_interval": "1 minute"}, "alertmanager_data_maintenance_interval", "1 minute"),
    ({"alertmanager_route_timing": {"group_wait": "30 seconds", "group_interval": "5m", "repeat_interval": "4h"}},
     "alertmanager_route_timing.group_wait", "30 seconds"),
])
def test_an_alertmanager_duration_that_is_not_one_fails_before_any_host(extra_vars, name, value):
    run = ansible.playbook("staging", playbook="playbooks/preflight.yml", extra_vars=extra_vars, echo=False)
    assert not run.ok
    assert f"{name} is '{value}', not a duration (e.g. 30s, 5m)." in run.output
