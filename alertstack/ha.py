"""High-availability topology, derived from the inventory: the Alertmanager cluster and the Prometheus replicas.

Two shapes, one model:
- across hosts (staging, production): one Alertmanager and one Prometheus per monitoring host; cluster peers and
  `--cluster.advertise-address` are the hosts' inventory addresses;
- on one host (the `ha` environment): `alertmanager_replicas` / `prometheus_replicas` containers of one Compose
  project, each with its own address on the project's network (its service name); Alertmanager advertises the
  container's own address (it must be an IP, which only Docker knows, so it is detected at start).

Every Prometheus sends to every Alertmanager (static list, never a load balancer): `alertmanager_targets`.
"""
from __future__ import annotations

from typing import Any, Mapping

from alertstack.prometheus_config import host_address


class TopologyError(ValueError):
    """A replica count or cluster setting that cannot be deployed."""


def replica_names(service: str, replicas: int) -> list[str]:
    """Compose service names of `replicas` instances: the plain name for one (the local stack is unchanged),
    `<service>-1` ... `<service>-N` for several."""
    replicas = int(replicas)
    if replicas < 1:
        raise TopologyError(f"{service}: replicas is {replicas}, it must be at least 1")
    return [service] if replicas == 1 else [f"{service}-{i}" for i in range(1, replicas + 1)]


def _check(single_host: bool, replicas: int, service: str) -> None:
    if int(replicas) > 1 and not single_host:
        raise TopologyError(f"{service}_replicas is {replicas}: several replicas per host are for a single-host "
                            f"environment (stack_single_host: true); across hosts, run one per monitoring host")


def alertmanager_members(groups: Mapping[str, list], hostvars: Mapping[str, Any], single_host: bool,
                         replicas: int = 1, group: str = "monitoring", service: str = "alertmanager",
                         port: int = 9093, cluster_port: int = 9094) -> list[dict]:
    """Every Alertmanager of the environment: {host, name, api, cluster, advertise}.

    `api` is the host:port Prometheus sends alerts to, `cluster` the address peers gossip with, `advertise` the
    `--cluster.advertise-address` (None where Alertmanager detects its own container address)."""
    _check(single_host, replicas, "alertmanager")
    hosts = list(groups.get(group, []))
    if not hosts:
        return []
    if single_host:
        return [{"host": hosts[0], "name": name, "api": f"{name}:{port}", "cluster": f"{name}:{cluster_port}",
                 "advertise": None} for name in replica_names(service, replicas)]
    members = []
    for h in hosts:
        vars_ = hostvars[h] if h in hostvars else {}
        address = host_address(h, hostvars)
        advertise = str(vars_.get("alertmanager_cluster_advertise_address") or address)
        members.append({"host": h, "name": service, "api": f"{address}:{port}",
                        "cluster": f"{advertise}:{cluster_port}", "advertise": f"{advertise}:{cluster_port}"})
    return members


def alertmanager_targets(groups: Mapping[str, list], hostvars: Mapping[str, Any], single_host: bool,
                         replicas: int = 1, group: str = "monitoring", port: int = 9093) -> list[str]:
    """host:port of every Alertmanager: what each Prometheus's alerting.alertmanagers static list holds."""
    return [m["api"] for m in alertmanager_members(groups, hostvars, single_host, replicas, group, port=port)]


def alertmanager_instances(groups: Mapping[str, list], hostvars: Mapping[str, Any], host: str, single_host: bool,
                           replicas: int = 1, group: str = "monitoring", host_port: int = 9093,
                           cluster_port: int = 9094) -> list[dict]:
    """The Alertmanager containers of `host`, each {name, host_port, cluster, advertise, peers}: `cluster` is False
    for a lone Alertmanager (clustering switched off), `peers` the gossip addresses of every other member."""
    members = alertmanager_members(groups, hostvars, single_host, replicas, group, cluster_port=cluster_port)
    clustered = len(members) > 1
    instances = []
    for index, member in enumerate(m for m in members if m["host"] == host):
        instances.append({
            "name": member["name"],
            "host_port": int(host_port) + index,
            "cluster": clustered,
            "advertise": member["advertise"],
            "peers": [m["cluster"] for m in members if m is not member] if clustered else [],
        })
    return instances


def prometheus_instances(groups: Mapping[str, list], host: str, single_host: bool, replicas: int = 1,
                         group: str = "monitoring", host_port: int = 9090, service: str = "prometheus") -> list[dict]:
    """The Prometheus containers of `host`, each {name, host_port, replica}: `replica` is the value of the replica
    external label (None for a lone Prometheus, which needs none), the container name on one host, the inventory
    host name across hosts."""
    _check(single_host, replicas, "prometheus")
    names = replica_names(service, replicas)
    paired = len(names) > 1 or (not single_host and len(groups.get(group, [])) > 1)
    return [{"name": name, "host_port": int(host_port) + index,
             "replica": (name if len(names) > 1 else host) if paired else None}
            for index, name in enumerate(names)]
