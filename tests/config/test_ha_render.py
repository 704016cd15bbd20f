"""The HA shape as rendered: production's monitoring hosts (one Prometheus + one Alertmanager each) and the ha
environment (two Prometheus replicas, three Alertmanagers on one host) follow the same rules: every Prometheus sends to
every Alertmanager, a replica label tells the Prometheus apart and is dropped from alerts, Alertmanagers gossip with
every other member."""
from __future__ import annotations

import pytest
import yaml

from alertstack import ansible, render


@pytest.fixture(scope="module")
def ha_rendered(tmp_path_factory):
    return render.host_roots(render.render("ha", tmp_path_factory.mktemp("rendered-ha")))["ha-monitoring"]


def _compose_services(root, name):
    return yaml.safe_load((root / "compose" / f"{name}.yml").read_text())["services"]


def test_production_monitoring_hosts_advertise_their_inventory_address_and_label_their_replica(rendered_envs):
    inventory = ansible.inventory_vars("production")
    hostvars = inventory["_meta"]["hostvars"]
    monitoring = inventory["monitoring"]["hosts"]
    replicas = set()
    for host in monitoring:
        root = rendered_envs["production"][host]
        command = _compose_services(root, "alertmanager")["alertmanager"]["command"]
        assert f"--cluster.advertise-address={hostvars[host]['ansible_host']}:9094" in command
        config = yaml.safe_load((root / "prometheus" / "prometheus.yml").read_text())
        replicas.add(config["global"]["external_labels"]["replica"])
        assert {"action": "labeldrop", "regex": "replica"} in config["alerting"]["alert_relabel_configs"]
    assert replicas == set(monitoring)


def test_ha_runs_two_prometheus_and_three_clustered_alertmanagers_each_in_its_own_container(ha_rendered):
    ams = _compose_services(ha_rendered, "alertmanager")
    assert sorted(ams) == ["alertmanager-1", "alertmanager-2", "alertmanager-3"]
    assert len({s["container_name"] for s in ams.values()}) == 3
    for name, service in ams.items():
        peers = sorted(a.split("=", 1)[1] for a in service["command"] if a.startswith("--cluster.peer="))
        assert peers == sorted(f"{other}:9094" for other in ams if other != name)
        assert all(p.startswith("127.0.0.1:") for p in service["ports"])
    proms = _compose_services(ha_rendered, "prometheus")
    assert sorted(proms) == ["prometheus-1", "prometheus-2"]
    assert {s["environment"]["PROMETHEUS_REPLICA"] for s in proms.values()} == {"prometheus-1", "prometheus-2"}
    config = yaml.safe_load((ha_rendered / "prometheus" / "prometheus.yml").read_text())
    assert config["global"]["external_labels"]["replica"] == "${PROMETHEUS_REPLICA}"
    assert {"action": "labeldrop", "regex": "replica"} in config["alerting"]["alert_relabel_configs"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager-1:9093", "alertmanager-2:9093", "alertmanager-3:9093"]
    [remote] = config["remote_write"]
    assert remote["url"] == "http://victoria-metrics:8428/api/v1/write" and remote["queue_config"]["max_shards"] > 0
