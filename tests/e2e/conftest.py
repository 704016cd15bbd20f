"""The local stack, deployed once per session by the real playbook (ansible-playbook -i inventories/local site.yml)."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import requests
import yaml

from alertstack import ansible, endpoints
from alertstack.localstack import LocalStack
from alertstack.paths import INVENTORIES


@dataclass
class DeployedStack(LocalStack):
    runbooks_base_url: str = "http://127.0.0.1:8088"
    deploy_output: str = ""
    deploy_seconds: float = 0.0
    secrets: dict = field(default_factory=dict)

    def alerts_defined(self) -> list[dict]:
        """Every alerting rule loaded in the running Prometheus: {name, labels, annotations}."""
        groups = requests.get(f"{self.prometheus_url}/api/v1/rules", auth=self.auth, timeout=10).json()["data"]["groups"]
        return [r for g in groups for r in g["rules"] if r["type"] == "alerting"]

    def secret_values(self) -> list[str]:
        """Every secret value of the local environment (to prove none of them leaks)."""
        values = [str(v) for v in self.secrets.get("alertmanager_secrets", {}).values()]
        values.append(str(self.secrets["stack_api_password"]))
        return values


def local_secrets() -> dict:
    return yaml.safe_load((INVENTORIES / "local" / "group_vars" / "all" / "secrets.yml").read_text())


@pytest.fixture(scope="session")
def deployed_stack() -> DeployedStack:
    run = ansible.playbook("local", echo=False)
    assert run.ok, f"ansible-playbook -i inventories/local site.yml failed:\n{run.output[-6000:]}"
    ep = endpoints.for_env("local")
    inv = ansible.inventory_vars("local")["_meta"]["hostvars"]["localhost"]
    return DeployedStack(prometheus_url=ep.prometheus_url, alertmanager_url=ep.alertmanager_url,
                         sink_url=ep.sink_url or "http://127.0.0.1:8099", auth=ep.auth,
                         runbooks_base_url=inv.get("runbooks_base_url", "http://127.0.0.1:8088"),
                         deploy_output=run.output, deploy_seconds=run.seconds, secrets=local_secrets())
