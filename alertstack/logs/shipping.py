"""Where a host's log shipper (Promtail or Alloy) pushes to, derived from the inventory."""
from __future__ import annotations


def loki_push_urls(configured: list, groups: dict, hostvars: dict, single_host: bool, port: int = 3100) -> list:
    """The configured push URLs, or: Compose service `loki` on a single host (or without a monitoring group), else
    the Loki of every monitoring host at its ansible_host (each Loki then holds every log)."""
    if configured:
        return list(configured)
    monitoring = list(groups.get("monitoring", []))
    if single_host or not monitoring:
        return [f"http://loki:{port}/loki/api/v1/push"]
    return [f"http://{hostvars[h].get('ansible_host', h)}:{port}/loki/api/v1/push" for h in monitoring]
