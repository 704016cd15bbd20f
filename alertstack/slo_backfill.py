"""Days of synthetic SLO traffic in a real Prometheus: what the rule-cost benchmark and the equivalence test run on.

- `openmetrics()` writes the traffic of n services (requests by status, a latency histogram), one sample per STEP_S;
- `backfill()` turns it into TSDB blocks with `promtool tsdb create-blocks-from openmetrics` (Prometheus image);
- `Prometheus` runs the Prometheus image on a free 127.0.0.1 port on a data directory (removed by `stop()`);
- `Prometheus.record_history()` evaluates recording rules over the past with that Prometheus's range queries (as
  `promtool tsdb create-blocks-from rules` does, which writes one block per rule and 2 h: thousands of tiny
  overlapping blocks at 100 services): the recorded 5m event rates that the derived long windows
  (alertstack/slo.py) read exist for the whole history, as they would after days of running.

Containers are named `<prefix>-<random>`, bind 127.0.0.1 only, have no other network, and are removed by stop().
"""
from __future__ import annotations

import math
import random
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import yaml

from alertstack import api
from alertstack.images import OFFLINE

STEP_S = 60
BUCKETS = ("0.1", "0.2", "0.3", "0.5", "1.0", "+Inf")
DAY_S = 86400


def slos_for(n: int) -> list[dict]:
    """Two SLOs per service (availability + latency, shaped like the default SLOs) for services svc-000..."""
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


def openmetrics(path: Path, n: int, history_s: int, end: int, seed: int = 5) -> int:
    """Write the traffic of n services over `history_s` up to `end` (unix s) to `path`; return the series count.

    Each service has its own request rate (±10 % noise), error and slow shares that follow a daily cycle (±50 %),
    and every 7th service a 40-minute incident (20 % errors, 5 % slow) 30 hours before the end: the windows differ.
    """
    rnd = random.Random(seed)
    steps = history_s // STEP_S
    start = end - steps * STEP_S
    series = 0
    with path.open("w") as f:
        for i in range(n):
            job = f"svc-{i:03d}"
            rps = rnd.uniform(5, 200)
            err = rnd.choice([0.0002, 0.001, 0.004, 0.02])
            slow = rnd.choice([0.0005, 0.002, 0.01])
            phase = rnd.uniform(0, 2 * math.pi)
            incident = (end - 30 * 3600, end - 30 * 3600 + 2400) if i % 7 == 0 else (0, 0)
            ok = bad = count = 0.0
            cum = {b: 0.0 for b in BUCKETS}
            rows: dict[str, list[str]] = {k: [] for k in ("ok", "bad", "count", *BUCKETS)}
            base = f'job="{job}",instance="{job}:8080",endpoint="/predict"'
            for s in range(steps + 1):
                t = start + s * STEP_S
                cycle = 1 + 0.5 * math.sin(2 * math.pi * t / DAY_S + phase)
                e, sl = err * cycle, slow * cycle
                if incident[0] <= t < incident[1]:
                    e, sl = 0.2, 0.05
                reqs = rps * STEP_S * rnd.uniform(0.9, 1.1)
                ok += reqs * (1 - e)
                bad += reqs * e
                count += reqs
                shares = {"0.1": 0.7, "0.2": 0.9, "0.3": 1 - sl, "0.5": 1 - sl / 3, "1.0": 1 - sl / 10, "+Inf": 1}
                for b in BUCKETS:
                    cum[b] += reqs * shares[b]
                rows["ok"].append(f'inference_requests_total{{{base},status="200"}} {ok:.1f} {t}')
                rows["bad"].append(f'inference_requests_total{{{base},status="500"}} {bad:.1f} {t}')
                rows["count"].append(f"inference_request_duration_seconds_count{{{base}}} {count:.1f} {t}")
                for b in BUCKETS:
                    rows[b].append(f'inference_request_duration_seconds_bucket{{{base},le="{b}"}} {cum[b]:.1f} {t}')
            for key in rows:
                f.write("\n".join(rows[key]) + "\n")
                series += 1
        f.write("# EOF\n")
    return series


def docker(*args: str, check: bool = True, timeout: int = 1800) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:6])} ... failed: {(proc.stdout + proc.stderr).strip()[-2000:]}")
    return proc


def _promtool(workdir: Path, *args: str) -> None:
    """promtool in the Prometheus image with `workdir` mounted read-write at /w (as root, no network)."""
    docker("run", "--rm", "--network", "none", "--user", "0", "-v", f"{workdir.resolve()}:/w",
           "--entrypoint", "/bin/promtool", OFFLINE["prometheus"], *args)


def backfill(workdir: Path, source: str, out: str, max_block_duration: str | None = None) -> None:
    """TSDB blocks in workdir/out from the OpenMetrics file workdir/source, owned by the image's user 65534.
    max_block_duration: longer blocks than promtool's 2 h (it re-reads its whole input once per block)."""
    limit = [f"--max-block-duration={max_block_duration}"] if max_block_duration else []
    _promtool(workdir, "tsdb", "create-blocks-from", "openmetrics", *limit, f"/w/{source}", f"/w/{out}")
    chown(workdir, out)


def chown(workdir: Path, sub: str) -> None:
    docker("run", "--rm", "--network", "none", "--user", "0", "-v", f"{workdir.resolve()}:/w",
           "--entrypoint", "/bin/chown", OFFLINE["prometheus"], "-R", "65534:65534", f"/w/{sub}")


def copy_blocks(src: Path, dst: Path) -> None:
    """Copy every block (not the WAL) of data dir src into data dir dst (created if needed)."""
    dst.mkdir(parents=True, exist_ok=True)
    for block in src.iterdir():
        if block.is_dir() and block.name not in ("wal", "chunks_head") and (block / "meta.json").exists():
            shutil.copytree(block, dst / block.name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    """The Prometheus image on a free 127.0.0.1 port, with `rules` (a directory of rule files) and `data`."""

    def __init__(self, prefix: str, workdir: Path, rules: Path, data: Path, evaluation_interval: str = "30s"):
        self.workdir = workdir
        self.name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        config = workdir / f"{self.name}.yml"
        config.write_text(yaml.safe_dump({"global": {"scrape_interval": "15s",
                                                     "evaluation_interval": evaluation_interval},
                                          "rule_files": ["/etc/prometheus/rules/*.yml"]}))
        config.chmod(0o644)
        docker("run", "-d", "--name", self.name, "-p", f"127.0.0.1:{self.port}:9090",
               "-v", f"{config.resolve()}:/etc/prometheus/prometheus.yml:ro",
               "-v", f"{rules.resolve()}:/etc/prometheus/rules:ro", "-v", f"{data.resolve()}:/prometheus",
               "-v", f"{workdir.resolve()}:/w",
               OFFLINE["prometheus"], "--config.file=/etc/prometheus/prometheus.yml",
               "--storage.tsdb.path=/prometheus", "--storage.tsdb.retention.time=90d")
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                api.call("GET", f"{self.url}/-/ready", service=f"Prometheus {self.name}", timeout=5)
                return
            except api.ApiError:
                pass
            time.sleep(1)
        logs = docker("logs", "--tail", "30", self.name, check=False)
        raise RuntimeError(f"Prometheus {self.name} not ready within {timeout:.0f} s: {logs.stdout}{logs.stderr}")

    def query(self, expr: str, at: float | None = None) -> list[dict]:
        return api.query(self.url, expr, at, timeout=120, post=True)  # POST: long expressions

    def scalar(self, expr: str, at: float | None = None) -> float | None:
        result = self.query(expr, at)
        return float(result[0]["value"][1]) if result else None

    def rule_groups(self) -> list[dict]:
        return api.rules(self.url)["groups"]

    def metrics(self) -> dict[str, float]:
        """The unlabelled samples of /metrics, {name: value}."""
        out = {}
        text = api.call("GET", f"{self.url}/metrics", service=f"Prometheus {self.name}", timeout=30).text
        for line in text.splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, _, value = line.partition(" ")
                out[name] = float(value.split()[0])
        return out

    def record_history(self, rule_file: dict, start: int, end: int, step_s: int, path: Path) -> int:
        """Evaluate the recording rules of `rule_file` over [start, end] every step_s with this Prometheus's own
        range queries (what `promtool tsdb create-blocks-from rules` does) and write the results as OpenMetrics
        to `path` (one block set for all rules instead of promtool's one block per rule and 2 h). Returns the
        number of series written."""
        series = 0
        with path.open("w") as f:
            for group in rule_file["groups"]:
                for rule in group["rules"]:
                    try:
                        matrix = api.query_range(self.url, rule["expr"], start, end, step_s, timeout=300, post=True)
                    except api.ApiError as exc:
                        raise RuntimeError(f"range query of {rule['record']} failed: {exc}") from None
                    for result in matrix:
                        labels = {**result["metric"], **rule.get("labels", {})}
                        labels.pop("__name__", None)
                        text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
                        f.write("".join(f"{rule['record']}{{{text}}} {v} {int(float(t))}\n"
                                        for t, v in result["values"]))
                        series += 1
            f.write("# EOF\n")
        return series

    def stop(self) -> None:
        docker("rm", "-f", self.name, check=False)


def recorded_rate_rules(slos: list[dict]) -> dict:
    """Rule file with only the recorded 5m event rates of the SLOs (the rules the derived windows read), as
    generated (one rule per family), with the info series they join on inlined (slo.standalone_expr): range
    queries over the backfilled history run where the info rule never did."""
    from alertstack import slo as slo_mod
    groups = slo_mod.rule_groups(slo_mod.validate_slos(slos))
    rules = [{**r, "expr": slo_mod.standalone_expr(r["expr"], groups)} for g in groups for r in g["rules"]
             if r.get("record") in (slo_mod.RECORD_BAD, slo_mod.RECORD_TOTAL)]
    return {"groups": [{"name": "slo-recorded-rates", "interval": slo_mod.LONG_INTERVAL, "rules": rules}]}


def history(workdir: Path, slos_n: int, history_s: int, prefix: str) -> dict:
    """Backfill `history_s` of traffic of slos_n services (workdir/data) and its recorded 5m rates (workdir/recorded).

    Returns {"start", "end" (last raw sample), "at" (last evaluation of the recorded rates), "series"}.
    The recorded rates are evaluated by a real Prometheus (range queries) every LONG_INTERVAL,
    from 10 minutes after the first sample (so that every 5m rate has a full window) to the last sample.
    """
    from alertstack import slo as slo_mod
    end = int(time.time()) // STEP_S * STEP_S - STEP_S
    start = end - history_s // STEP_S * STEP_S
    series = openmetrics(workdir / "input.om", slos_n, history_s, end)
    backfill(workdir, "input.om", "data")
    (workdir / "input.om").unlink()
    empty = workdir / "no-rules"
    empty.mkdir(exist_ok=True)
    step = slo_mod.duration_seconds(slo_mod.LONG_INTERVAL)
    first = start + 600
    at = first + (end - first) // step * step
    prom = Prometheus(f"{prefix}-backfill", workdir, empty, workdir / "data")
    try:
        prom.wait_ready()
        prom.record_history(recorded_rate_rules(slos_for(slos_n)), first, at, step, workdir / "recorded.om")
    finally:
        prom.stop()
    backfill(workdir, "recorded.om", "recorded")
    (workdir / "recorded.om").unlink()
    return {"start": start, "end": end, "at": at, "series": series}


def data_dir(workdir: Path, name: str, recorded: bool) -> Path:
    """A fresh Prometheus data dir workdir/name with the raw blocks (and the recorded-rate blocks if `recorded`)."""
    copy_blocks(workdir / "data", workdir / name)
    if recorded:
        copy_blocks(workdir / "recorded", workdir / name)
    chown(workdir, name)
    return workdir / name
