"""Days of in-SLO (and healthy-model) history in the deployed stack's own Prometheus before a drill: what
production's windows hold.

A stack a few minutes old fills its 30m and 6h windows within seconds of a fault and has no 30-day budget, so a drill
on it detects faster than the rule predicts and reports a meaningless remaining budget. `ensure()` gives the running
Prometheus the `days` before its first scrape of the demo services, once (idempotent: a second call finds the history
and returns at once):

1. The raw series the deployed SLOs read (their exact label sets, read from Prometheus) are written as OpenMetrics
   for the `days` before the first scrape (less the time the gateway's first sample counts): the request rate the steady traffic sends now (apps/demo_traffic), +-10 %
   noise, and small in-SLO error and slow shares on a daily cycle. The histogram's bucket shares below the SLO
   threshold are those of the last two minutes of traffic; the threshold's bucket holds all but the slow share.
2. `promtool tsdb create-blocks-from openmetrics` (the Prometheus image, alertstack.slo_backfill) turns them into
   blocks, which are copied into the running Prometheus's data directory (`docker cp`, then a rename inside the
   container, so a half-copied block is never seen); Prometheus loads new blocks within its reload interval (1 min).
3. The recording rules that other rules read over a range (the recorded 5m event rates of the long windows, 6h to
   30d) are evaluated over the backfilled period by that Prometheus (range queries at their group's interval, the
   info series inlined with alertstack.slo.standalone_expr, as `promtool tsdb create-blocks-from rules` does), and
   backfilled the same way up to their first real evaluation.

4. The gauges an alert compares with the past (`offset 7d`): model_performance_metric{metric="auc_roc"} (the
   ModelPerformanceDegraded rule needs it above 0.80 a week ago) gets `days` of healthy values before its own first
   sample: the level the gateway measures now (at least HEALTHY_AUC), +-0.01 on a daily cycle and noise. Checked and
   added on its own, so a stack whose history was backfilled before this series was added gets it on the next call.

The history ends where the real samples begin, so no series gets overlapping samples; the counter restart at the
junction is an ordinary counter reset for rate().
"""
from __future__ import annotations

import math
import random
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from alertstack import api, rendered, slo_backfill
from alertstack.localstack import LocalStack

if TYPE_CHECKING:
    from alertstack import slo as slo_types

STEP_S = 60                 # one raw sample a minute (rate() over 5m has 5)
ERROR_SHARE = 0.0002        # in-SLO: 20 % of a 99.9 % SLO's budget over the window
SLOW_SHARE = 0.0003
BLOCK = "240h"              # promtool re-reads its input once per block
LOAD_TIMEOUT_S = 240.0      # Prometheus reloads blocks every minute
PERFORMANCE = 'model_performance_metric{metric="auc_roc"}'   # ModelPerformanceDegraded reads it `offset 7d`
HEALTHY_AUC = 0.82          # the least level of its backfilled history (the rule wants > 0.80 a week ago)


class HistoryError(RuntimeError):
    pass


def _q(stack: LocalStack, expr: str, at: float | None = None) -> list:
    return api.query(stack.prometheus_url, expr, at, stack.auth, timeout=120)


def _scalar(stack: LocalStack, expr: str, at: float | None = None) -> float | None:
    result = _q(stack, expr, at)
    return float(result[0]["value"][1]) if result else None


def raw_selectors(slos: list[slo_types.SLO]) -> list[str]:
    """The selectors of every raw series the SLOs read (availability: `total`; latency: the histogram's series)."""
    from alertstack import slo as slo_mod
    out = []
    for s in slos:
        sli = s.sli
        if sli.type == "availability":
            out.append(sli.total)
        else:
            out += [slo_mod._with_matchers(f"{sli.histogram}_{suffix}", sli.selector)
                    for suffix in ("count", "sum", "bucket")]
    return list(dict.fromkeys(out))


def first_sample(stack: LocalStack, selector: str, days: float, step_s: float) -> float | None:
    """Timestamp of the first sample of any series of `selector` in the last `days` (None: no sample): a coarse
    subquery at `step_s`, then a fine one at 1 s around it."""
    coarse = _scalar(stack, f"min(min_over_time(timestamp({selector})[{int(days * 86400)}s:{int(step_s)}s]))")
    if coarse is None:
        return None
    span = int(2 * step_s + 10)
    fine = _scalar(stack, f"min(min_over_time(timestamp({selector})[{span}s:1s]))", at=coarse + 1)
    return fine if fine is not None else coarse


def wait_first_sample(stack: LocalStack, selector: str, days: float, step_s: float, missing: str,
                      timeout_s: float = 120) -> float:
    """first_sample(), waiting up to `timeout_s` for the first scrapes of a stack deployed a moment ago;
    HistoryError(`missing`) if there is still none."""
    deadline = time.time() + timeout_s
    while True:
        first = first_sample(stack, selector, days, step_s)
        if first is not None:
            return first
        if time.time() >= deadline:
            raise HistoryError(missing)
        time.sleep(5)


def has_history(stack: LocalStack, selector: str, days: float, now: float) -> bool:
    """Does `selector` have samples in the hour that starts `days` ago (plus a 2 h margin)?"""
    at = now - days * 86400 + 3 * 3600
    return bool(_scalar(stack, f"sum(count_over_time({selector}[1h]))", at=at))


# --- raw series ---------------------------------------------------------------------------------------------------

def _key(metric: dict, drop: tuple = ()) -> tuple:
    return tuple(sorted((k, v) for k, v in metric.items() if k not in drop and k != "__name__"))


def _labels_text(name: str, labels: dict) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{inner}}}"


def _metric_name(selector: str) -> str:
    match = re.match(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", selector)
    if not match:
        raise HistoryError(f"cannot read the metric name of {selector!r}")
    return match.group(1)


def raw_series_plan(stack: LocalStack, slos: list[slo_types.SLO]) -> list[dict]:
    """One entry per raw series to backfill: {name, labels, kind, share}. `share` is the fraction of the request
    rate the series counts (requests by status; histogram buckets by le; `sum` counts seconds per request)."""
    from alertstack import slo as slo_mod
    plan = []
    for s in slos:
        sli = s.sli
        if sli.type == "availability":
            total = _q(stack, f"rate({sli.total}[2m])")   # shares of the last two minutes
            bad = {_key(r["metric"]) for r in _q(stack, sli.errors)}
            if not total:
                raise HistoryError(f"no series of {sli.total} in Prometheus: is the gateway scraped?")
            good = [r for r in total if _key(r["metric"]) not in bad]
            good_sum = sum(float(r["value"][1]) for r in good)
            first_bad = sorted(bad)[:1]
            for r in total:
                k = _key(r["metric"])
                if k in bad:
                    share = ("bad", 1.0 if k in first_bad else 0.0)
                else:
                    share = ("good", float(r["value"][1]) / good_sum if good_sum else 1 / len(good))
                plan.append({"name": _metric_name(sli.total), "labels": dict(k), "kind": share[0],
                             "share": share[1]})
        else:
            hist, sel, threshold = sli.histogram, sli.selector, sli.threshold
            # Shares from the last two minutes of steady traffic (the counters since the gateway started may hold
            # earlier drills); at and above the threshold bucket, all but the in-SLO slow share (write_raw).
            rates = {_key(r["metric"]): float(r["value"][1]) for r in _q(
                stack, f"rate({slo_mod._with_matchers(f'{hist}_count', sel)}[2m])")}
            sums = {_key(r["metric"]): float(r["value"][1]) for r in _q(
                stack, f"rate({slo_mod._with_matchers(f'{hist}_sum', sel)}[2m])")}
            total = sum(rates.values())
            if not total:
                raise HistoryError(f"{hist}_count{{{sel}}} counts no request in the last 2 minutes: history needs "
                                   f"the steady traffic (demo_platform_traffic_rps) running")
            for k, c in rates.items():
                group_share = c / total
                plan.append({"name": f"{hist}_count", "labels": dict(k), "kind": "count", "share": group_share})
                mean = min(sums.get(k, 0.0) / c, threshold / 2) if c else 0.0
                plan.append({"name": f"{hist}_sum", "labels": dict(k), "kind": "sum", "share": group_share * mean})
            for r in _q(stack, f"rate({slo_mod._with_matchers(f'{hist}_bucket', sel)}[2m])"):
                group = _key(r["metric"], drop=("le",))
                c = rates.get(group)
                if not c:
                    continue
                le = r["metric"]["le"]
                if le != "+Inf" and float(le) < threshold:
                    kind, share = "bucket_fast", min(float(r["value"][1]) / c, 1.0)
                elif le != "+Inf" and float(le) == threshold:
                    kind, share = "bucket_fast", 1.0
                else:
                    kind, share = "bucket", 1.0
                plan.append({"name": f"{hist}_bucket", "labels": dict(_key(r["metric"])), "kind": kind,
                             "share": (c / total) * share})
    return plan


def write_raw(path: Path, plan: list[dict], rps: float, start: int, end: int, seed: int = 7) -> int:
    """OpenMetrics of every series of `plan` every STEP_S over [start, end]; returns the number of samples."""
    rnd = random.Random(seed)
    times = list(range(start, end + 1, STEP_S))
    # One draw per step, shared by all series: the request count, and the error and slow shares of that minute.
    draws = []
    for t in times:
        cycle = 1 + 0.5 * math.sin(2 * math.pi * (t % 86400) / 86400)
        draws.append((rps * STEP_S * rnd.uniform(0.9, 1.1), ERROR_SHARE * cycle * rnd.uniform(0.5, 1.5),
                      SLOW_SHARE * cycle * rnd.uniform(0.5, 1.5)))
    samples = 0
    with path.open("w") as f:
        for entry in plan:
            name = _labels_text(entry["name"], entry["labels"])
            value, rows = 0.0, []
            for t, (reqs, err, slow) in zip(times, draws):
                kind, share = entry["kind"], entry["share"]
                if kind == "bad":
                    value += reqs * err * share
                elif kind == "good":
                    value += reqs * (1 - err) * share
                elif kind == "bucket_fast":  # at or below the SLO threshold: the slow share is above it
                    value += reqs * share * (1 - slow)
                else:  # count, sum, buckets above the threshold
                    value += reqs * share
                rows.append(f"{name} {value:.3f} {t}\n")
            f.writelines(rows)
            samples += len(rows)
        f.write("# EOF\n")
    return samples


# --- blocks into the running Prometheus ---------------------------------------------------------------------------

def load_blocks(stack: LocalStack, workdir: Path, source: str, out: str) -> list[str]:
    """promtool blocks from workdir/source, copied into the running Prometheus's data dir; returns the block ids."""
    slo_backfill.backfill(workdir, source, out, max_block_duration=BLOCK)
    container = stack.container("prometheus")
    ids = []
    for block in sorted((workdir / out).iterdir()):
        if not (block / "meta.json").exists():
            continue
        if hasattr(stack, "load_prometheus_block"):  # alertstack.labstack: every monitoring host's, over SSH
            stack.load_prometheus_block(block)
            ids.append(block.name)
            continue
        staging = f"/prometheus/{block.name}.backfill"
        _docker("cp", "-a", str(block), f"{container}:{staging}")
        _docker("exec", container, "mv", staging, f"/prometheus/{block.name}")
        ids.append(block.name)
    return ids


def backfill(stack: LocalStack, name: str, write: Callable[[Path], int]) -> tuple[int, list[str]]:
    """write(path) -> samples: an OpenMetrics file in a temporary directory, turned into promtool blocks and loaded
    (load_blocks); returns (samples, block ids)."""
    with tempfile.TemporaryDirectory(prefix="ai-alerting-history-") as tmp:
        work = Path(tmp)
        samples = write(work / f"{name}.om")
        return samples, load_blocks(stack, work, f"{name}.om", name)


def _docker(*args: str) -> None:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise HistoryError(f"docker {' '.join(args[:3])} failed: {(proc.stderr or proc.stdout).strip()[-500:]}")


def wait_loaded(stack: LocalStack, selector: str, at: float) -> float:
    """Wait until Prometheus answers from the new blocks (samples of `selector` in the hour before `at`)."""
    t0 = time.time()
    while time.time() - t0 < LOAD_TIMEOUT_S:
        if _scalar(stack, f"sum(count_over_time({selector}[1h]))", at=at):
            return time.time() - t0
        time.sleep(3)
    raise HistoryError(f"Prometheus did not load the backfilled blocks within {LOAD_TIMEOUT_S:.0f}s "
                       f"(no sample of {selector} before {at:.0f}); see `docker logs {stack.container('prometheus')}`")


# --- gauges compared with the past --------------------------------------------------------------------------------

def write_gauge(path: Path, series: list[dict], level: float, start: int, end: int, seed: int = 11) -> int:
    """OpenMetrics of each label set of `series` every STEP_S over [start, end]: `level` +-0.01 on a daily cycle
    and +-0.005 noise, never below HEALTHY_AUC - 0.01; returns the number of samples."""
    rnd = random.Random(seed)
    samples = 0
    with path.open("w") as f:
        for metric in series:
            name = _labels_text(metric["__name__"], metric)
            for t in range(start, end + 1, STEP_S):
                value = level + 0.01 * math.sin(2 * math.pi * (t % 86400) / 86400) + rnd.uniform(-0.005, 0.005)
                f.write(f"{name} {max(value, HEALTHY_AUC - 0.01):.4f} {t}\n")
                samples += 1
        f.write("# EOF\n")
    return samples


def copy_gauge(stack: LocalStack, days: float, now: float, say: Callable[[str], None]) -> dict | str:
    """Blocks of healthy PERFORMANCE history for the `days` before its first sample, copied into Prometheus
    (not waited for: `wait_gauge`), unless it is there ("present")."""
    if has_history(stack, PERFORMANCE, days, now):
        return "present"
    first = wait_first_sample(stack, PERFORMANCE, days, STEP_S,
                              f"no sample of {PERFORMANCE} in Prometheus after 120s: is the gateway scraped?")
    series = [r["metric"] for r in _q(stack, PERFORMANCE)]
    level = max(_scalar(stack, f"avg(avg_over_time({PERFORMANCE}[10m]))") or 0.0, HEALTHY_AUC)
    end = int(first) - STEP_S
    start = int(end - days * 86400) // STEP_S * STEP_S
    say(f"history: backfilling {days:g} days of {PERFORMANCE} at {level:.3f} ({len(series)} series) before its "
        f"first sample at {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(first))} UTC")
    samples, blocks = backfill(stack, "gauge", lambda path: write_gauge(path, series, level, start, end))
    return {"series": len(series), "level": round(level, 4), "start": start, "end": end, "samples": samples,
            "blocks": blocks, "t_copied": time.time()}


def wait_gauge(stack: LocalStack, copied: dict | str, say: Callable[[str], None]) -> dict | str:
    """Wait until Prometheus answers from the blocks copy_gauge copied (at once when they were loaded meanwhile)."""
    if not isinstance(copied, dict):
        return copied
    wait_loaded(stack, PERFORMANCE, copied["start"] + 3600)
    loaded = {k: v for k, v in copied.items() if k != "t_copied"}
    loaded["load_wait_s"] = round(time.time() - copied["t_copied"], 1)
    say(f"history: {copied['samples']} samples of {PERFORMANCE} loaded {loaded['load_wait_s']:.0f}s after the copy")
    return loaded


# --- recorded series ----------------------------------------------------------------------------------------------

def range_read_records(rule_files: dict) -> list[dict]:
    """The recording rules some rule reads over a range (`name[...]`), with their group's interval and the groups."""
    groups = [g for doc in rule_files.values() for g in (doc.get("groups") or [])]
    exprs = [r["expr"] for g in groups for r in g.get("rules") or []]
    out = []
    for g in groups:
        for r in g.get("rules") or []:
            name = r.get("record")
            if name and any(re.search(rf"(?<![\w:]){re.escape(name)}\[", e) for e in exprs):
                out.append({"rule": r, "interval_s": slo_backfill_seconds(g.get("interval", "1m")), "groups": groups})
    return out


def slo_backfill_seconds(duration) -> float:
    from alertstack.vocabulary import duration_seconds
    return duration_seconds(duration)


def write_recorded(stack: LocalStack, path: Path, records: list[dict], start: float, end_for: dict) -> int:
    """Evaluate each recording rule (info series inlined) at its interval from `start` to its own end (end_for[name])
    with range queries on the stack's Prometheus; write OpenMetrics; return the number of samples."""
    from alertstack import slo as slo_mod
    samples = 0
    with path.open("w") as f:
        for rec in records:
            rule, step = rec["rule"], rec["interval_s"]
            expr = slo_mod.standalone_expr(rule["expr"], rec["groups"])
            first = math.ceil(start / step) * step
            end = end_for[rule["record"]]
            series: dict[tuple, list] = {}
            a = first
            while a <= end:
                b = min(a + 9999 * step, end)
                for r in api.query_range(stack.prometheus_url, expr, a, b, step, stack.auth, timeout=300):
                    series.setdefault(_key(r["metric"]), []).extend(r["values"])
                a = b + step
            for key, values in series.items():
                name = _labels_text(rule["record"], {**dict(key), **(rule.get("labels") or {})})
                f.writelines(f"{name} {v} {float(t):.3f}\n" for t, v in values if v not in ("NaN", "+Inf", "-Inf"))
                samples += len(values)
        f.write("# EOF\n")
    return samples


# --- the entry point ----------------------------------------------------------------------------------------------

def ensure(stack: LocalStack, days: float = 30, say: Callable[[str], None] = print) -> dict:
    """Backfill `days` of in-SLO history of the demo services into the stack's Prometheus unless it holds them.

    Returns what it did: {"raw": {...} | "present", "recorded": {...} | "present", "gauges": {...} | "present",
    "seconds"}.
    """
    t_start = time.time()
    root = rendered.deployed(stack.root)
    slos = root.slos()
    selectors = raw_selectors(slos)
    main = selectors[0]
    now = time.time()
    result: dict = {"days": days}
    gauge = copy_gauge(stack, days, now, say)  # first: Prometheus loads its blocks while the rest is backfilled
    records = range_read_records(root.rule_files())
    scrape_s = slo_backfill_seconds(api.config(stack.prometheus_url, stack.auth).get("global", {})
                                    .get("scrape_interval", "1m"))
    if has_history(stack, main, days, now):
        result["raw"] = "present"
        hist_start = None
    else:
        first = wait_first_sample(stack, main, days, max(scrape_s, 60),
                                  f"no sample of {main} in Prometheus yet: deploy the stack and let it scrape first")
        if time.time() - first < 60:  # a rate over a minute of traffic at least
            say(f"history: waiting {60 - (time.time() - first):.0f}s for a minute of scraped traffic")
            time.sleep(60 - (time.time() - first))
        age = int(min(max(time.time() - first, 60), 300))
        rps = _scalar(stack, f"sum(rate({main}[{age}s]))") or 0.0
        if rps <= 0:
            raise HistoryError(f"no traffic on {main}: the history is backfilled at the rate of the steady traffic "
                               f"(demo_platform_traffic_rps), which is not running")
        # The gateway counted requests before its first scrape: its first sample's value. The history ends where
        # those requests began, so the junction's counter reset adds them once (not twice).
        counted = _scalar(stack, f"sum({main})", at=first) or 0.0
        end = int(first - 1 - min(counted / rps, days * 86400 / 2))
        hist_start = int(end - days * 86400) // STEP_S * STEP_S
        plan = raw_series_plan(stack, slos)
        say(f"history: backfilling {days:g} days of in-SLO traffic ({rps:.1f} req/s, {len(plan)} series) before "
            f"the first scrape at {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(first))} UTC")
        samples, blocks = backfill(stack, "raw", lambda path: write_raw(path, plan, rps, hist_start, end))
        waited = wait_loaded(stack, main, hist_start + 3600)
        result["raw"] = {"start": hist_start, "end": end, "rps": rps, "series": len(plan), "samples": samples,
                         "blocks": blocks, "load_wait_s": round(waited, 1)}
        say(f"history: {samples} raw samples in {len(blocks)} blocks, loaded after {waited:.0f}s")
    if not records:
        result["recorded"] = "none needed"
    elif all(has_history(stack, r["rule"]["record"], days, now) for r in records):
        result["recorded"] = "present"
    else:
        if hist_start is None:
            first = first_sample(stack, main, days + 1, 3600) or now
            hist_start = int(first) // STEP_S * STEP_S
        end_for = {}
        for rec in records:
            name, step = rec["rule"]["record"], rec["interval_s"]
            f = first_sample(stack, name, days, step) or now
            end_for[name] = f - step / 2
        samples, blocks = backfill(stack, "recorded",
                                   lambda path: write_recorded(stack, path, records, hist_start + 600, end_for))
        name = records[0]["rule"]["record"]
        waited = wait_loaded(stack, name, hist_start + 600 + 3600)
        result["recorded"] = {"rules": [r["rule"]["record"] for r in records], "samples": samples,
                              "blocks": blocks, "load_wait_s": round(waited, 1)}
        say(f"history: {samples} recorded samples ({', '.join(result['recorded']['rules'])}) loaded after "
            f"{waited:.0f}s")
    result["gauges"] = wait_gauge(stack, gauge, say)
    result["seconds"] = round(time.time() - t_start, 1)
    return result


def main(argv=None) -> int:
    import argparse
    import json
    from alertstack.drills.runner import stack_from_env
    parser = argparse.ArgumentParser(description="Backfill days of in-SLO history into the local stack's Prometheus.")
    parser.add_argument("--days", type=float, default=30)
    args = parser.parse_args(argv)
    try:
        print(json.dumps(ensure(stack_from_env(), args.days), indent=1))
    except (HistoryError, api.ApiError, rendered.RenderedError) as exc:
        print(f"error: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
