"""Where an environment's Prometheus, Alertmanager and notification sink answer, and with which credentials.

URLs come from the environment's inventory (prometheus_external_url, alertmanager_external_url,
notification_sink_url). Credentials come from the process environment (STACK_API_USER / STACK_API_PASSWORD),
else from the inventory when they are literal values (the local environment's throwaway secrets) — never from
command-line arguments.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from alertstack import ansible


@dataclass
class Endpoints:
    env: str
    prometheus_url: str
    alertmanager_url: str
    sink_url: str | None
    gateway_url: str | None
    auth: tuple[str, str] | None


def credentials(env: str, hostvars: dict) -> tuple[str, str] | None:
    """The API account: STACK_API_USER / STACK_API_PASSWORD from the process environment, else the inventory's
    values when they are literal (the local environment's throwaway secrets; a vault reference is not)."""
    user = os.environ.get("STACK_API_USER") or hostvars.get("stack_api_user")
    password = os.environ.get("STACK_API_PASSWORD") or hostvars.get("stack_api_password")
    if not user or not password or "{{" in str(password):
        return None
    return str(user), str(password)


def monitoring_hostvars(env: str) -> dict:
    """The inventory variables of `env`'s first monitoring host (where the stack's URLs are defined)."""
    inventory = ansible.inventory_vars(env)
    hosts = inventory.get("monitoring", {}).get("hosts", [])
    if not hosts:
        raise ValueError(f"environment {env} has no host in group 'monitoring'")
    return inventory["_meta"]["hostvars"][hosts[0]]


def for_env(env: str) -> Endpoints:
    """Endpoints of `env`, read from its inventory's first monitoring host."""
    hv = monitoring_hostvars(env)
    bind = hv.get("stack_bind_address", "127.0.0.1")
    return Endpoints(
        env=env,
        prometheus_url=hv.get("prometheus_external_url", f"http://{bind}:9090"),
        alertmanager_url=hv.get("alertmanager_external_url", f"http://{bind}:9093"),
        sink_url=hv.get("notification_sink_url") if hv.get("notification_sink_enabled") else None,
        gateway_url=hv.get("demo_gateway_url") if hv.get("demo_platform_enabled") else None,
        auth=credentials(env, hv),
    )
