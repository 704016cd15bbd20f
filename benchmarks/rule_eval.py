"""Rule-evaluation benchmark: the generated rule set for 1, 10 and 100 services, evaluated by a real Prometheus.

For each size N it
1. generates two SLOs per service (availability + latency, like the defaults) and renders every rule file with
   alertstack.rules.rule_files (plus the static rules);
2. backfills HISTORY of synthetic traffic for those services (counters and a latency histogram, one sample per
   STEP, with a slow error/latency drift) with `promtool tsdb create-blocks-from openmetrics`;
3. starts ai-alerting/prometheus:3.5 on a random 127.0.0.1 port (unique container name, removed at the end) with the
   rules and the backfilled blocks; every group's interval is set to 30 s so that all groups, including the 5-minute
   error-budget groups, are evaluated during the run;
4. waits until every group has been evaluated, measures CPU over the next 30 s cycle and prints, from
   Prometheus's own metrics:
   rule groups, rules, sum / max of prometheus_rule_group_last_duration_seconds, the slowest group, CPU per cycle,
   input series backfilled, head series (rule outputs) after evaluation, and how many SLOs have a 1h ratio
   (proof that the rules read the backfilled data).

Run: .venv/bin/python benchmarks/rule_eval.py [--sizes 1,10,100] [--history 3h]
Prints figures only; nothing is asserted. Takes about 3-4 minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alertstack.images import OFFLINE  # noqa: E402
from alertstack.rules import dump_yaml, rule_files  # noqa: E402

BUCKETS = ("0.1", "0.2", "0.3", "0.5", "1.0", "+Inf")
STEP_S = 60
SECONDS = {"m": 60, "h": 3600, "d": 86400}


def slos_for(n: int) -> list[dict]:
    out = []
    for i in range(n):
        job = f"svc-{i:03d}"
        sel = f'job="{job}",endpoint="/predict"'
        common = {"service": job, "team": "ml-platform", "objective": 0.999, "window": "30d"}
        out.append({"name": f"{job}-availability", **common, "runbook": "inference-errors",
                    "sli": {"type": "availability", "errors": f'inference_requests_total{{{sel},status=~"5.."}}',
                            "total": f"inference_requests_total{{{sel}}}"}})
        out.append({"name": f"{job}-latency", **common, "runbook": "inference-latency",
                    "sli": {"type": "latency", "histogram": "inference_request_duration_seconds",
                            "selector": sel, "threshold": 0.3}})
    return out


def openmetrics(n: int, history_s: int, end: int, seed: int = 5) -> tuple[str, int]:
    """Synthetic traffic of n services as OpenMetrics text; returns (text, number of series)."""
    rnd = random.Random(seed)
    lines: list[str] = []
    series = 0
    steps = history_s // STEP_S
    start = end - steps * STEP_S
    for i in range(n):
        job = f"svc-{i:03d}"
        rps = rnd.uniform(5, 200)
        err = rnd.choice([0.0002, 0.001, 0.004, 0.02])          # some services burn their budget
        slow = rnd.choice([0.0005, 0.002, 0.01])
        ok = bad = count = 0.0
        cum = {b: 0.0 for b in BUCKETS}
        rows: dict[str, list[str]] = {}
        for s in range(steps + 1):
            t = start + s * STEP_S
            reqs = rps * STEP_S * rnd.uniform(0.9, 1.1)
            ok += reqs * (1 - err)
            bad += reqs * err
            count += reqs
            shares = {"0.1": 0.7, "0.2": 0.9, "0.3": 1 - slow, "0.5": 1 - slow / 3, "1.0": 1 - slow / 10, "+Inf": 1}
            for b in BUCKETS:
                cum[b] += reqs * shares[b]
            base = f'job="{job}",instance="{job}:8080",endpoint="/predict"'
            rows.setdefault("ok", []).append(f'inference_requests_total{{{base},status="200"}} {ok:.0f} {t}')
            rows.setdefault("bad", []).append(f'inference_requests_total{{{base},status="500"}} {bad:.0f} {t}')
            rows.setdefault("count", []).append(f"inference_request_duration_seconds_count{{{base}}} {count:.0f} {t}")
            for b in BUCKETS:
                rows.setdefault(b, []).append(
                    f'inference_request_duration_seconds_bucket{{{base},le="{b}"}} {cum[b]:.0f} {t}')
        for key in ("ok", "bad", "count", *BUCKETS):
            lines += rows[key]
            series += 1
    return "\n".join(lines) + "\n# EOF\n", series


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def metrics(port: int) -> dict[str, list[tuple[dict, float]]]:
    out: dict[str, list[tuple[dict, float]]] = {}
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name, _, labels = name_labels.partition("{")
        parsed = {}
        for part in labels.rstrip("}").split('",'):
            if "=" in part:
                k, _, v = part.partition("=")
                parsed[k] = v.strip('"')
        out.setdefault(name, []).append((parsed, float(value)))
    return out


def run_size(n: int, history_s: int, work: Path) -> dict:
    d = work / f"n{n}"
    (d / "rules").mkdir(parents=True)
    (d / "data").mkdir()
    files = rule_files(slos_for(n), "http://runbooks.invalid", "http://grafana.invalid/d")
    groups = rules = 0
    for name, text in files.items():
        data = yaml.safe_load(text)
        for g in data["groups"]:
            g["interval"] = "30s"
            groups += 1
            rules += len(g["rules"])
        (d / "rules" / name).write_text(dump_yaml(data))
    (d / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "15s", "evaluation_interval": "30s"},
        "rule_files": ["/etc/prometheus/rules/*.yml"]}))
    end = int(time.time()) - 120
    text, series = openmetrics(n, history_s, end)
    (d / "input.om").write_text(text)
    t0 = time.time()
    docker("run", "--rm", "--network", "none", "--user", "0", "-v", f"{d}:/w", "--entrypoint", "/bin/promtool",
           OFFLINE["prometheus"], "tsdb", "create-blocks-from", "openmetrics", "/w/input.om", "/w/data")
    backfill_s = time.time() - t0
    (d / "input.om").unlink()
    docker("run", "--rm", "--network", "none", "--user", "0", "-v", f"{d}:/w", "--entrypoint", "/bin/chown",
           OFFLINE["prometheus"], "-R", "65534:65534", "/w/data")
    port = free_port()
    name = f"alertstack-bench-{n}-{uuid.uuid4().hex[:8]}"
    docker("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:9090",
           "-v", f"{d / 'prometheus.yml'}:/etc/prometheus/prometheus.yml:ro",
           "-v", f"{d / 'rules'}:/etc/prometheus/rules:ro", "-v", f"{d / 'data'}:/prometheus",
           OFFLINE["prometheus"], "--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
           "--storage.tsdb.retention.time=30d")
    try:
        deadline = time.time() + 150
        while True:
            try:
                m = metrics(port)
                iters = {lbl["rule_group"]: v for lbl, v in m.get("prometheus_rule_group_iterations_total", [])}
                if len(iters) >= groups and min(iters.values()) >= 1:
                    break
            except requests.RequestException:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"rule groups of size {n} were not all evaluated within 150 s")
            time.sleep(2)
        # steady state: CPU used by Prometheus over one 30 s evaluation cycle (it scrapes nothing)
        cpu0, t0 = m["process_cpu_seconds_total"][0][1], time.time()
        time.sleep(30)
        m = metrics(port)
        cpu_per_cycle = (m["process_cpu_seconds_total"][0][1] - cpu0) * 30 / (time.time() - t0)
        last = {lbl["rule_group"].split(";", 1)[1]: v for lbl, v in m["prometheus_rule_group_last_duration_seconds"]}
        failures = sum(v for _, v in m.get("prometheus_rule_evaluation_failures_total", []))
        head = m["prometheus_tsdb_head_series"][0][1]
        slowest = max(last, key=last.get)
        q = requests.get(f"http://127.0.0.1:{port}/api/v1/query", timeout=10,
                         params={"query": "count(slo:sli_error:ratio_rate1h >= 0)"}).json()["data"]["result"]
        with_data = int(float(q[0]["value"][1])) if q else 0
        return {"n": n, "groups": groups, "rules": rules, "input_series": series, "head_series": int(head),
                "sum_s": sum(last.values()), "max_s": last[slowest], "slowest": slowest,
                "failures": int(failures), "backfill_s": backfill_s, "slos_with_data": with_data,
                "cpu_s": cpu_per_cycle}
    finally:
        docker("rm", "-f", name, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,10,100")
    parser.add_argument("--history", default="3h", help="backfilled history per series (e.g. 3h, 1d)")
    args = parser.parse_args()
    history_s = int(args.history[:-1]) * SECONDS[args.history[-1]]
    work = Path(tempfile.mkdtemp(prefix="alertstack-bench-"))
    results = []
    try:
        for n in (int(x) for x in args.sizes.split(",")):
            r = run_size(n, history_s, work)
            results.append(r)
            print(f"services={n:4d} groups={r['groups']:4d} rules={r['rules']:5d} input_series={r['input_series']:5d} "
                  f"head_series={r['head_series']:5d} slos_with_data={r['slos_with_data']:4d} eval_sum={r['sum_s'] * 1000:8.1f} ms "
                  f"eval_max={r['max_s'] * 1000:7.1f} ms ({r['slowest']}) cpu_per_30s={r['cpu_s']:.2f} s failures={r['failures']} "
                  f"backfill={r['backfill_s']:.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"Prometheus 3.5 ({OFFLINE['prometheus']}), {args.history} of history at {STEP_S} s resolution, "
          "all groups at 30 s. eval_sum = sum over groups of prometheus_rule_group_last_duration_seconds (wall "
          "time; groups run concurrently, so on few cores it includes waiting), eval_max = slowest group, "
          "cpu_per_30s = Prometheus process CPU seconds over one 30 s cycle (steady state).")


if __name__ == "__main__":
    main()
