"""Scrape and alerting targets of prometheus.yml, derived from the inventory.

Every monitored host gets its exporters scraped; Prometheus talks to every Alertmanager directly (never through a
load balancer, so that each instance gets every alert and the cluster deduplicates). On a single-host environment all
services share one Compose network and are addressed by service name; elsewhere by the host's address.
"""
from __future__ import annotations

from typing import Any, Mapping


class TargetError(ValueError):
    """A scrape job or target group that cannot be resolved from the inventory."""


def host_address(hostname: str, hostvars: Mapping[str, Any]) -> str:
    """The address other hosts use to reach `hostname`: its ansible_host, else its inventory name."""
    host = hostvars[hostname] if hostname in hostvars else {}
    return str(host.get("ansible_host") or hostname)


def job_targets(job: Mapping[str, Any], groups: Mapping[str, list], hostvars: Mapping[str, Any],
                single_host: bool, replicas: Mapping[str, int] | None = None) -> list[dict]:
    """static_configs for one job: one entry per host of job['hosts_group'], labelled with host=<inventory name>
    (on a single host, one entry with every replica of the service: job['replicas'], else replicas[service], else 1)."""
    for key in ("job_name", "hosts_group", "port", "service"):
        if key not in job:
            raise TargetError(f"scrape job {dict(job)!r} is missing '{key}'")
    hosts = list(groups.get(job["hosts_group"], []))
    if not hosts:
        return []
    if single_host:
        # Replicas of one service on one host (the `ha` environment): service-1 ... service-N, one target each.
        from alertstack.ha import replica_names
        count = job.get("replicas") or (replicas or {}).get(job["service"]) or 1
        names = replica_names(job["service"], int(count))
        return [{"targets": [f"{name}:{job['port']}" for name in names], "labels": {"host": hosts[0]}}]
    return [{"targets": [f"{host_address(h, hostvars)}:{job['port']}"], "labels": {"host": h}} for h in hosts]


def scrape_configs(jobs: list[Mapping[str, Any]], groups: Mapping[str, list], hostvars: Mapping[str, Any],
                   single_host: bool, extra: list[Mapping[str, Any]] | None = None,
                   basic_auth: Mapping[str, str] | None = None,
                   replicas: Mapping[str, int] | None = None) -> list[dict]:
    """Upstream-shaped scrape_configs: one per job with at least one target, then `extra` verbatim.

    `basic_auth` ({username, password_file}) is added to jobs marked `auth: true` (the stack's own
    Prometheus and Alertmanager when their web endpoints require authentication). `replicas` ({service: count}) lists
    every replica of a service on a single host (prometheus_replicas, alertmanager_replicas).
    """
    names = [j.get("job_name") for j in jobs] + [j.get("job_name") for j in (extra or [])]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise TargetError(f"duplicate scrape job names: {', '.join(map(str, duplicates))}")
    configs = []
    for job in jobs:
        static = job_targets(job, groups, hostvars, single_host, replicas)
        if not static:
            continue
        config: dict[str, Any] = {"job_name": job["job_name"]}
        for key in ("metrics_path", "scrape_interval", "scrape_timeout", "scheme"):
            if key in job:
                config[key] = job[key]
        if job.get("auth") and basic_auth:
            config["basic_auth"] = dict(basic_auth)
        config["static_configs"] = static
        configs.append(config)
    return configs + [dict(e) for e in (extra or [])]
