"""Check what the grafana, loki, promtail and alloy roles rendered under one host's stack root.

For `invoke lint` / tests over `invoke render` output: `check_stack_root(root)` returns (problems, PromQL expressions
still to be parsed by promtool via validate.check_promql).
"""
from __future__ import annotations

from pathlib import Path

import yaml

from alertstack.grafana import validate
from alertstack.grafana.dashboards import UIDS
from alertstack.logs import alloy
from alertstack.logs import validate as validate_logs


def check_stack_root(root: Path) -> tuple[list[str], list[tuple[str, str]]]:
    root = Path(root)
    problems: list[str] = []
    exprs: list[tuple[str, str]] = []
    if (root / "grafana").is_dir():
        p, exprs = validate.check_grafana_tree(root / "grafana")
        problems += p
    loki_cfg = root / "loki/loki.yml"
    if loki_cfg.exists():
        cfg = yaml.safe_load(loki_cfg.read_text())
        problems += validate_logs.check_loki_config(cfg, where=str(loki_cfg))
        rule_dir = root / "loki/rules"
        rule_files = sorted(rule_dir.glob("*/*.yml"))
        if not rule_files:
            problems.append(f"{rule_dir}: no rule file under <tenant>/")
        for path in rule_files:
            problems += validate.check_loki_rules(yaml.safe_load(path.read_text()), UIDS, where=str(path))
    promtail_cfg = root / "promtail/promtail.yml"
    if promtail_cfg.exists():
        problems += validate_logs.check_promtail_config(yaml.safe_load(promtail_cfg.read_text()),
                                                        where=str(promtail_cfg))
    alloy_cfg = root / "alloy/config.alloy"
    if alloy_cfg.exists():
        problems += [p.replace("config.alloy", str(alloy_cfg), 1) for p in alloy.check(alloy_cfg.read_text())]
    return problems, exprs
