"""alertstack.ha: the Alertmanager cluster and Prometheus replicas derived from the inventory (pure functions)."""
from __future__ import annotations

import pytest

from alertstack import ha, prometheus_config

PRODUCTION = {"monitoring": ["mon-01", "mon-02"]}
PRODUCTION_VARS = {"mon-01": {"ansible_host": "10.0.0.10"},
                   "mon-02": {"ansible_host": "10.0.0.11", "alertmanager_cluster_advertise_address": "10.9.0.11"}}
ONE_HOST = {"monitoring": ["localhost"]}


def test_one_replica_keeps_the_plain_service_name_so_the_local_stack_is_unchanged():
    assert ha.replica_names("alertmanager", 1) == ["alertmanager"]
    assert ha.replica_names("alertmanager", 3) == ["alertmanager-1", "alertmanager-2", "alertmanager-3"]
    with pytest.raises(ha.TopologyError, match="at least 1"):
        ha.replica_names("prometheus", 0)


def test_a_lone_alertmanager_has_clustering_switched_off():
    [am] = ha.alertmanager_instances(ONE_HOST, {}, "localhost", True, 1)
    assert am == {"name": "alertmanager", "host_port": 9093, "cluster": False, "advertise": None, "peers": []}
    assert ha.alertmanager_targets(ONE_HOST, {}, True) == ["alertmanager:9093"]


def test_three_replicas_on_one_host_gossip_with_each_other_by_service_name():
    instances = ha.alertmanager_instances(ONE_HOST, {}, "localhost", True, 3, host_port=29093)
    assert [i["host_port"] for i in instances] == [29093, 29094, 29095]
    assert instances[0]["peers"] == ["alertmanager-2:9094", "alertmanager-3:9094"]
    assert all(i["cluster"] and i["advertise"] is None for i in instances)  # the container's own IP is detected
    assert ha.alertmanager_targets(ONE_HOST, {}, True, 3) == ["alertmanager-1:9093", "alertmanager-2:9093",
                                                             "alertmanager-3:9093"]


def test_across_hosts_peers_and_advertise_addresses_come_from_the_inventory():
    first = ha.alertmanager_instances(PRODUCTION, PRODUCTION_VARS, "mon-01", False)
    second = ha.alertmanager_instances(PRODUCTION, PRODUCTION_VARS, "mon-02", False)
    assert first == [{"name": "alertmanager", "host_port": 9093, "cluster": True,
                      "advertise": "10.0.0.10:9094", "peers": ["10.9.0.11:9094"]}]
    assert second[0]["advertise"] == "10.9.0.11:9094" and second[0]["peers"] == ["10.0.0.10:9094"]
    # Every Prometheus sends to every Alertmanager directly, never through a load balancer.
    assert ha.alertmanager_targets(PRODUCTION, PRODUCTION_VARS, False) == ["10.0.0.10:9093", "10.0.0.11:9093"]


def test_replicas_per_host_are_refused_across_hosts():
    with pytest.raises(ha.TopologyError, match="single-host"):
        ha.alertmanager_instances(PRODUCTION, PRODUCTION_VARS, "mon-01", False, 2)


def test_prometheus_replica_label_only_where_there_is_a_pair():
    assert ha.prometheus_instances(ONE_HOST, "localhost", True, 1) == [
        {"name": "prometheus", "host_port": 9090, "replica": None}]
    assert [p["replica"] for p in ha.prometheus_instances(ONE_HOST, "localhost", True, 2)] == [
        "prometheus-1", "prometheus-2"]
    assert ha.prometheus_instances(PRODUCTION, "mon-02", False)[0]["replica"] == "mon-02"


def test_scrape_jobs_list_every_replica_on_one_host():
    jobs = [{"job_name": "alertmanager", "hosts_group": "monitoring", "service": "alertmanager", "port": 9093,
             "replicas": 3}]
    [config] = prometheus_config.scrape_configs(jobs, ONE_HOST, {}, True)
    assert config["static_configs"][0]["targets"] == ["alertmanager-1:9093", "alertmanager-2:9093",
                                                      "alertmanager-3:9093"]
