"""The `ha` environment (inventories/ha), deployed once per session by the real playbook
(ansible-playbook -i inventories/ha site.yml) and removed at the end: its own Compose project, network, stack root and
127.0.0.1 ports, so it runs beside the local stack and the other test directories."""
from __future__ import annotations

import time

import pytest

from alertstack import ansible, ha_faults


def _say(message: str) -> None:
    print(f"[ha] {message}", flush=True)


@pytest.fixture(scope="session")
def ha_stack():
    started = time.monotonic()
    run = ansible.playbook(ha_faults.ENV, echo=False)
    assert run.ok, f"ansible-playbook -i inventories/ha site.yml failed:\n{run.output[-6000:]}"
    stack = ha_faults.from_inventory()
    ha_faults.set_incident(stack, "none", False)
    ha_faults.wait_cluster(stack, len(stack.alertmanagers))
    _say(f"deployed in {time.monotonic() - started:.0f}s: {len(stack.prometheus)} Prometheus, "
         f"{len(stack.alertmanagers)} Alertmanagers")
    yield stack
    ha_faults.teardown(stack)
    _say("removed the ha project, its volumes and network")


@pytest.fixture()
def ha(ha_stack):
    """The stack with every replica running and the cluster complete, before and after each test."""
    ha_faults.heal(ha_stack)
    ha_faults.wait_cluster(ha_stack, len(ha_stack.alertmanagers))
    yield ha_stack
    ha_faults.heal(ha_stack)


@pytest.fixture()
def say():
    return _say
