#!/usr/bin/env python3
"""Deploy timings of the local environment with the real playbook (printed, never asserted).

cold: the stack's containers, networks and config removed (images present, volumes kept) -> full site.yml.
warm: site.yml again on an unchanged inventory (goal: under 30 s, changed=0).
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alertstack import ansible, stack  # noqa: E402


def main() -> int:
    stack.down()
    shutil.rmtree("/opt/ai-alerting", ignore_errors=True)
    cold = ansible.playbook("local", echo=False)
    if not cold.ok:
        print(cold.output[-3000:])
        return 1
    warm = ansible.playbook("local", echo=False)
    if not warm.ok:
        print(warm.output[-3000:])
        return 1
    changed = ansible.recap(warm.output).get("localhost", {}).get("changed")
    print(f"cold deploy (images present): {cold.seconds:6.1f} s")
    print(f"warm re-run (no change):      {warm.seconds:6.1f} s  changed={changed}  goal < 30 s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
