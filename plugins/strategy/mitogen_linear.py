"""The `linear` strategy run through Mitogen (the `mitogen` package pinned in requirements.txt).

Mitogen keeps one Python interpreter per host alive for the whole play and sends modules to it, instead of
starting a new interpreter (and, over SSH, a new transfer) for every task: the same tasks, the same results,
a fraction of the per-task cost. ansible.cfg selects it; `ANSIBLE_STRATEGY=linear` runs plain Ansible.
"""
from __future__ import annotations

import ansible_mitogen.loaders
import ansible_mitogen.strategy

Base = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Base):
    pass
