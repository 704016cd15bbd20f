"""Where an environment's Prometheus, Alertmanager and notification sink answer, and with which credentials.

URLs come from the environment's inventory (prometheus_external_url, alertmanager_external_url,
notification_sink_url). Credentials come from the process environment (STACK_API_USER / STACK_API_PASSWORD),
else, for the local environment only, from its throwaway secrets file — never from command-line arguments.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import yaml

from alertstack import ansible
from alertstack.paths import INVENTORIES


@dataclass
class Endpoints:
    env: str
    prometheus_url: str
    alertmanager_url: str
    sink_url: str | None
    auth: tuple[str, str] | None

    def requests_auth(self):
        return self.auth


def _local_credentials(env: str) -> tuple[str, str] | None:
    secrets = INVENTORIES / env / "group_vars" / "all" / "secrets.yml"
    if not secrets.exists():
        return None
    data = yaml.safe_load(secrets.read_text()) or {}
    user, password = data.get("stack_api_user"), data.get("stack_api_password")
    return (user, password) if user and password else None


def credentials(env: str) -> tuple[str, str] | None:
    user, password = os.environ.get("STACK_API_USER"), os.environ.get("STACK_API_PASSWORD")
    if user and password:
        return user, password
    return _local_credentials(env)


def for_env(env: str) -> Endpoints:
    """Endpoints of `env`, read from its inventory's first monitoring host."""
    inventory = ansible.inventory_vars(env)
    hosts = inventory.get("monitoring", {}).get("hosts", [])
    if not hosts:
        raise ValueError(f"environment {env} has no host in group 'monitoring'")
    hv = inventory["_meta"]["hostvars"][hosts[0]]
    bind = hv.get("stack_bind_address", "127.0.0.1")
    return Endpoints(
        env=env,
        prometheus_url=hv.get("prometheus_external_url", f"http://{bind}:9090"),
        alertmanager_url=hv.get("alertmanager_external_url", f"http://{bind}:9093"),
        sink_url=hv.get("notification_sink_url") if hv.get("notification_sink_enabled") else None,
        auth=credentials(env),
    )
