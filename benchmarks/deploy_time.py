#!/usr/bin/env python3
"""Deploy and render timings with the real playbook, printed side by side in one run (never asserted).

cold:    the local stack's containers and config removed (images present, volumes kept) -> full site.yml.
warm:    site.yml again on an unchanged inventory (goal: <= 20 s, changed=0).
one-var: site.yml with one variable changed (prometheus_retention_time), then a warm run puts it back.
render:  `invoke render` of every environment (goal: production <= 30 s).
Options: --skip-cold (keep the running stack), --envs local,staging,production.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from alertstack import ansible, render, stack
from alertstack.paths import environments


def _run(label: str, rows: list, extra_vars: dict | None = None) -> bool:
    run = ansible.playbook("local", extra_vars=extra_vars, echo=False)
    changed = ansible.recap(run.output).get("localhost", {}).get("changed")
    rows.append((label, run.seconds, f"changed={changed}" if run.ok else f"FAILED (exit {run.returncode})"))
    if not run.ok:
        print(run.output[-3000:])
    return run.ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--envs", default=",".join(environments()))
    args = parser.parse_args()
    rows: list[tuple[str, float, str]] = []
    if not args.skip_cold:
        stack.down()
        shutil.rmtree("/opt/ai-alerting", ignore_errors=True)
        if not _run("cold deploy (images present)", rows):
            return 1
    ok = (_run("warm re-run, nothing to change", rows)
          and _run("one variable changed (prometheus_retention_time=14d)", rows, {"prometheus_retention_time": "14d"})
          and _run("back to the inventory's value", rows))
    with tempfile.TemporaryDirectory() as out:
        for env in args.envs.split(","):
            start = time.monotonic()
            try:
                target = render.render(env, Path(out))
                files = sum(1 for p in target.rglob("*") if p.is_file())
                rows.append((f"invoke render --env {env}", time.monotonic() - start, f"{files} files"))
            except render.RenderError as exc:
                rows.append((f"invoke render --env {env}", time.monotonic() - start, "FAILED"))
                print(exc)
                ok = False
    print(f"\n{'what':58} {'seconds':>8}  result")
    for label, seconds, result in rows:
        print(f"{label:58} {seconds:8.1f}  {result}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
