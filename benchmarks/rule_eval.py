"""Rule-evaluation cost of the SLO rules: raw-window (sloth-shaped) recording rules vs alertstack's, side by side.

For each size N (services; two SLOs each, availability + latency, like the defaults) it
1. backfills HISTORY (default 78h: more than the 3d window) of synthetic traffic at one sample per minute with
   `promtool tsdb create-blocks-from openmetrics`, and the recorded 5m event rates that alertstack's long windows
   evaluated by Prometheus itself with range queries over the whole history (as after days of running);
   see alertstack/slo_backfill.py;
2. writes two rule sets for the same SLOs:
   - raw: the naive shape sloth generates, written here: per SLO one 30 s group recording the error ratio of every
     window (5m, 30m, 1h, 2h, 6h, 1d, 3d) from the raw counters; recording rules only, no alerts, no budget;
   - alertstack: the whole generated SLO rule file (alertstack.rules.rule_files, slos.yml): one rule per window
     for all SLOs (per metric family `sum by` the SLOs' key labels, joined to the SLO labels), the short windows the
     pages read from the raw counters every 30 s, long windows derived from recorded 5m rates every 4 minutes,
     alerts (critical every 30 s, high every minute, tickets every 4 minutes), budget and budget forecast;
3. runs one Prometheus (ai-alerting/prometheus:3.5, 127.0.0.1 only, containers bench-slo-*, removed at the end)
   per rule set at the same time, each on its own copy of the blocks, and samples them in turn every 15 s for
   MEASURE seconds;
4. prints per size and generator: groups, rules, the median over the samples of the total group evaluation time
   per 30 s (from /api/v1/rules evaluationTime; a group on a longer interval counts in proportion, e.g. a 4m group
   x 30/240), CPU seconds per minute of the Prometheus process, head series, resident memory, and alertstack/raw;
   and per group of the alertstack set its share of the evaluation time (where the rest of the cost is);
5. prints the error budget remaining at the same instant, computed from the raw counters (raw Prometheus) and as
   recorded by alertstack's rules (slo:error_budget:remaining_ratio, from derived windows), and the largest
   relative difference of the budget consumed.

Run: nice -n 19 .venv/bin/python -m benchmarks.rule_eval [--sizes 1,10,100] [--history 78h] [--measure 240]
Prints figures only; nothing is asserted (the equivalence is tested in tests/config/test_slo_equivalence.py).
On 2 shared cores: about 5 minutes for size 1 or 10, 8-10 minutes for 100. 1000 services at 78 h needs more than
an hour and several GB of disk (the raw baseline alone then needs several seconds of evaluation per 30 s); run it
on its own with a shorter history and measurement (--sizes 1000 --history 26h --measure 120), and say so.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from alertstack import slo as slo_mod
from alertstack import slo_backfill as bf
from alertstack.images import OFFLINE
from alertstack.rules import SLO_FILE, dump_yaml, rule_files

PREFIX = "bench-slo"
SAMPLE_EVERY_S = 15


def raw_window_rules(slos: list[dict]) -> dict:
    """The naive baseline (sloth's shape): every window of every SLO from the raw counters, one 30 s group per SLO."""
    groups = []
    for s in slo_mod.validate_slos(slos):
        labels = {"slo": s.name, "sli": s.sli.type, "service": s.service}
        groups.append({"name": f"sloth-slo-sli-recordings-{s.name}", "interval": "30s",
                       "rules": [{"record": f"{slo_mod.RECORD_PREFIX}{w}", "expr": slo_mod.bad_ratio_expr(s, w),
                                  "labels": dict(labels)} for w in slo_mod.WINDOWS]})
    return {"groups": groups}


def alertstack_rules(slos: list[dict]) -> dict:
    """alertstack's whole SLO rule file (recording rules, alerts, budget) as deployed."""
    import yaml
    return yaml.safe_load(rule_files(slos, "http://runbooks.invalid", "http://grafana.invalid/d")[SLO_FILE])


def _per_30s(groups: list[dict]) -> float:
    """Seconds of evaluation per 30 s: each group's last evaluationTime x 30 / its interval."""
    return sum(g["evaluationTime"] * 30 / g["interval"] for g in groups)


def _evaluated_twice(prom: bf.Prometheus, expected: int, first: dict[str, str]) -> bool:
    """Every group has evaluated at least twice: the first evaluation after start reads the backfilled blocks cold
    from disk (a one-off that would count for a whole interval of a 4-minute group, against 30 s for the raw
    groups); the measurement is of the steady state. `first` keeps each group's first lastEvaluation."""
    groups = prom.rule_groups()
    if len(groups) != expected:
        return False
    twice = True
    for g in groups:
        if g["lastEvaluation"].startswith("0001"):
            twice = False
        elif first.setdefault(g["name"], g["lastEvaluation"]) == g["lastEvaluation"]:
            twice = False
    return twice


def run_size(n: int, history_s: int, measure_s: int, work: Path) -> dict:
    d = work / f"n{n}"
    d.mkdir()
    slos = bf.slos_for(n)
    t0 = time.time()
    info = bf.history(d, n, history_s, f"{PREFIX}-{n}")
    backfill_s = time.time() - t0
    sets = {"raw": raw_window_rules(slos), "alertstack": alertstack_rules(slos)}
    proms: dict[str, bf.Prometheus] = {}
    try:
        for name, content in sets.items():
            (d / f"rules-{name}").mkdir()
            (d / f"rules-{name}" / "slos.yml").write_text(dump_yaml(content))
            (d / f"rules-{name}" / "slos.yml").chmod(0o644)
            data = bf.data_dir(d, f"data-{name}", recorded=name == "alertstack")
            proms[name] = bf.Prometheus(f"{PREFIX}-{n}-{name}", d, d / f"rules-{name}", data)
        for prom in proms.values():
            prom.wait_ready(600)
        # every group evaluated twice (the long groups within two LONG_INTERVALs), then measure
        deadline = time.time() + 900
        first: dict[str, dict[str, str]] = {k: {} for k in proms}
        while not all([_evaluated_twice(p, len(sets[k]["groups"]), first[k]) for k, p in proms.items()]):
            if time.time() > deadline:
                raise RuntimeError(f"size {n}: not every rule group was evaluated twice within 900 s")
            time.sleep(5)
        samples: dict[str, list[float]] = {k: [] for k in proms}
        per_group: dict[str, dict[str, list[float]]] = {k: {} for k in proms}
        cpu0 = {k: p.metrics()["process_cpu_seconds_total"] for k, p in proms.items()}
        start = time.time()
        while time.time() - start < measure_s:
            for k, p in proms.items():          # in turn
                groups = p.rule_groups()
                samples[k].append(_per_30s(groups))
                for g in groups:
                    per_group[k].setdefault(g["name"], []).append(g["evaluationTime"] * 30 / g["interval"])
            time.sleep(SAMPLE_EVERY_S)
        minutes = (time.time() - start) / 60
        out = {"n": n, "backfill_s": backfill_s, "input_series": info["series"], "gens": {}}
        for k, p in proms.items():
            m = p.metrics()
            groups = p.rule_groups()
            out["gens"][k] = {
                "groups": len(groups), "rules": sum(len(g["rules"]) for g in groups),
                "eval_ms": statistics.median(samples[k]) * 1000, "samples": len(samples[k]),
                "cpu_s_per_min": (m["process_cpu_seconds_total"] - cpu0[k]) / minutes,
                "head_series": int(m["prometheus_tsdb_head_series"]),
                "group_ms": {name: statistics.median(v) * 1000 for name, v in per_group[k].items()},
                "rss_mb": m["process_resident_memory_bytes"] / 2**20,
                "failures": sum(r.get("health") == "err" for g in groups for r in g["rules"])}
        out["budget"] = compare_budgets(slos, proms, time.time())
        return out
    finally:
        for prom in proms.values():
            prom.stop()


def compare_budgets(slos: list[dict], proms: dict[str, bf.Prometheus], at: float) -> dict:
    """Error budget remaining at `at` (<= 200 SLOs): computed from the raw counters over the compliance window
    (on the raw Prometheus) vs the `slo:error_budget:remaining_ratio` that alertstack's rules recorded (derived
    from the recorded 5m rates) and that was current at `at`."""
    validated = slo_mod.validate_slos(slos)
    every = max(1, len(validated) // 200)
    rows = []
    for s in validated[::every]:
        raw = proms["raw"].scalar(slo_mod.bad_ratio_expr(s, s.window), at)
        ours = proms["alertstack"].scalar(f'{slo_mod.RECORD_BUDGET}{{slo="{s.name}"}}', at)
        if raw is None or ours is None:
            rows.append((s.name, raw, ours, float("inf")))
            continue
        raw_budget = 1 - raw / s.budget
        # budget consumed: raw ratio / budget; relative difference of the consumed part
        rows.append((s.name, raw_budget, ours, abs((1 - ours) - (1 - raw_budget)) / (1 - raw_budget)))
    return {"rows": rows, "max_rel": max(r[3] for r in rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,10,100", help="comma-separated service counts (e.g. 1,10,100,1000)")
    parser.add_argument("--history", default="78h", help="backfilled history (at least 3d for the 3d window)")
    parser.add_argument("--measure", type=int, default=300, help="seconds of sampling per size (>= 240)")
    args = parser.parse_args()
    history_s = int(args.history[:-1]) * {"m": 60, "h": 3600, "d": 86400}[args.history[-1]]
    work = Path(tempfile.mkdtemp(prefix="bench-slo-"))
    results = []
    try:
        for n in (int(x) for x in args.sizes.split(",")):
            r = run_size(n, history_s, args.measure, work)
            results.append(r)
            raw, ours = r["gens"]["raw"], r["gens"]["alertstack"]
            for k, g in r["gens"].items():
                print(f"services={n:5d} {k:10s} groups={g['groups']:5d} rules={g['rules']:6d} "
                      f"eval_per_30s={g['eval_ms']:9.1f} ms cpu={g['cpu_s_per_min']:6.2f} s/min "
                      f"head_series={g['head_series']:6d} rss={g['rss_mb']:6.0f} MiB failing_rules={g['failures']}",
                      flush=True)
            print(f"services={n:5d} alertstack per group (ms per 30 s): " + ", ".join(
                f"{name} {ms:.1f}" for name, ms in ours["group_ms"].items()), flush=True)
            print(f"services={n:5d} ratio alertstack/raw: eval {ours['eval_ms'] / raw['eval_ms']:.3f}, "
                  f"cpu {ours['cpu_s_per_min'] / raw['cpu_s_per_min']:.3f}  (input series {r['input_series']}, "
                  f"backfill {r['backfill_s']:.0f} s, {raw['samples']} samples each)", flush=True)
            b = r["budget"]
            for name, raw_b, ours_b, rel in b["rows"][:4]:
                print(f"    budget remaining {name}: raw {raw_b:.5f}  alertstack {ours_b:.5f}  "
                      f"(budget consumed differs by {rel * 100:.3f} %)")
            print(f"    budget consumed, largest difference over {len(b['rows'])} SLOs: {b['max_rel'] * 100:.3f} %",
                  flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"Prometheus 3.5 ({OFFLINE['prometheus']}), {args.history} of history at {bf.STEP_S} s resolution; both "
          f"rule sets run at the same time on their own copy of the blocks. eval_per_30s = median of sum over groups "
          f"of evaluationTime x 30 s / interval (wall time; on few cores it includes waiting); cpu = Prometheus "
          f"process CPU seconds per minute while measuring. raw = sloth-shaped recording rules only; alertstack = "
          f"recording rules, alerts, error budget and forecast. Measured once every group has evaluated twice.")


if __name__ == "__main__":
    main()
