"""Evaluate rule files over history with a real Prometheus, and turn alert expressions into firing intervals.

1. The raw history (OpenMetrics) becomes TSDB blocks (`promtool tsdb create-blocks-from openmetrics`, from the
   Prometheus image, via alertstack.slo_backfill) in a data directory; a Prometheus of the same image runs on it
   with no rules of its own (slo_backfill.Prometheus).
2. Recording rules are evaluated level by level in dependency order: level 0 reads only raw series, level n reads
   series recorded at levels < n. Each rule is evaluated over the whole period with range queries at its group's
   interval (what the rule manager would have written, one sample per evaluation), the results become blocks in
   the same data directory, and Prometheus restarts to read them before the next level.
3. Each alert expression is evaluated the same way; `for` (and `keep_firing_for`) is then applied per output series
   exactly as the rule manager does on each evaluation: pending from the first evaluation that returns the series,
   firing once it has been pending for `for`, resolved at the first evaluation that does not return it.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from alertstack import api, slo_backfill
from alertstack.progress import say

MAX_POINTS = 10_000
"""Points per range query (Prometheus refuses more than 11,000 per series)."""
_DURATION_RE = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


class EngineError(RuntimeError):
    pass


def seconds(duration: str | int | float | None) -> float:
    """Seconds of a Prometheus duration (`1h30m`, `30s`); 0 for None or ''."""
    if not duration:
        return 0.0
    if isinstance(duration, (int, float)):
        return float(duration)
    parts = _DURATION_RE.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise EngineError(f"not a duration: {duration!r}")
    return sum(int(n) * _UNITS[u] for n, u in parts)


@dataclass
class Rule:
    group: str
    interval: float
    record: str | None
    alert: str | None
    expr: str
    labels: dict
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    level: int = 0
    source: str = ""

    @property
    def name(self) -> str:
        return self.record or self.alert


@dataclass
class Episode:
    """One firing of one alert series: pending from `active_at`, firing from `fired_at` until `resolved_at`."""
    alert: str
    labels: dict
    active_at: float
    fired_at: float
    resolved_at: float | None   # None: still firing at the end of the history
    budget: float | None = None  # share of the monthly error budget spent from pending to resolved (SLO alerts)

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")


@dataclass
class Evaluation:
    episodes: list[Episode]
    rules: list[Rule]
    levels: int
    start: int
    end: int
    stats: dict = field(default_factory=dict)


def load_rules(rules_dir: Path, default_interval: float) -> list[Rule]:
    """Every rule of every *.yml / *.yaml file in rules_dir, with its group's interval."""
    files = sorted([*Path(rules_dir).glob("*.yml"), *Path(rules_dir).glob("*.yaml")])
    if not files:
        raise EngineError(f"no rule files (*.yml) in {rules_dir}")
    rules = []
    for path in files:
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise EngineError(f"{path}: not YAML: {exc}") from exc
        for group in doc.get("groups") or []:
            interval = seconds(group.get("interval")) or default_interval
            for r in group.get("rules") or []:
                rules.append(Rule(group["name"], interval, r.get("record"), r.get("alert"), r["expr"],
                                  dict(r.get("labels") or {}), seconds(r.get("for")),
                                  seconds(r.get("keep_firing_for")), source=path.name))
    return rules


def assign_levels(rules: list[Rule]) -> int:
    """Set each rule's level (1 + the highest level of the recorded series its expression reads; raw series are
    level -1) and return the number of recording levels. Raises EngineError on a cycle."""
    recorded = {r.record for r in rules if r.record}
    reads = {id(r): {n for n in _NAME_RE.findall(r.expr) if n in recorded} for r in rules}
    level = {name: None for name in recorded}
    for _ in range(len(recorded) + 1):
        changed = False
        for r in rules:
            if not r.record:
                continue
            deps = [level[n] for n in reads[id(r)] if n != r.record]
            if any(d is None for d in deps):
                continue
            new = 1 + max(deps, default=-1)
            if level[r.record] is None or new > level[r.record]:
                level[r.record] = new
                changed = True
        if not changed:
            break
    unresolved = sorted(n for n, lv in level.items() if lv is None)
    if unresolved:
        raise EngineError(f"recording rules in a dependency cycle: {', '.join(unresolved)}")
    for r in rules:
        deps = [level[n] for n in reads[id(r)] if n != r.record]
        r.level = 1 + max(deps, default=-1)
    return 1 + max((r.level for r in rules if r.record), default=-1)


def backfill(workdir: Path, source: str, out: str) -> None:
    """slo_backfill.backfill with blocks of up to 20 days: promtool re-reads its whole input once per block, so
    30 days in its default 2-hour blocks would parse the input 360 times."""
    slo_backfill.backfill(workdir, source, out, max_block_duration=BLOCK)


BLOCK = "486h"


def alerts_in_scope(rules: list[Rule], metric_names: set[str]) -> set[str]:
    """Alerts whose expression reads, directly or through recording rules, a metric present in the history.
    The others (GPU, host, monitoring alerts here) have nothing to be scored on."""
    by_record: dict[str, list[Rule]] = {}
    for r in rules:
        if r.record:
            by_record.setdefault(r.record, []).append(r)

    def reads(expr: str, seen: set[str]) -> bool:
        for name in set(_NAME_RE.findall(expr)):
            if name in metric_names:
                return True
            if name in by_record and name not in seen:
                seen.add(name)
                if any(reads(r.expr, seen) for r in by_record[name]):
                    return True
        return False

    return {r.alert for r in rules if r.alert and reads(r.expr, set())}


def metric_names(url: str) -> set[str]:
    """Every metric name the Prometheus at url holds."""
    try:
        return set(api.label_values(url, "__name__") or [])
    except api.ApiError as exc:
        raise EngineError(f"cannot list the metric names: {exc}") from None


def _grid(start: int, end: int, step: float) -> list[tuple[float, float]]:
    """Range-query pieces [a, b] of at most MAX_POINTS evaluation times start + k*step."""
    pieces, span = [], MAX_POINTS * step
    a = float(start)
    while a <= end:
        b = min(a + (MAX_POINTS - 1) * step, float(end))
        pieces.append((a, b))
        a += span
    return pieces


def range_query(url: str, expr: str, start: int, end: int, step: float) -> dict[tuple, dict]:
    """{labels (sorted tuple): {t: value text}} of expr evaluated at start + k*step up to end."""
    out: dict[tuple, dict] = {}
    for a, b in _grid(start, end, step):
        try:
            matrix = api.query_range(url, expr, a, b, step, timeout=600)
        except api.ApiError as exc:
            raise EngineError(f"range query of {' '.join(expr.split())[:120]} failed: {exc}") from None
        for result in matrix:
            key = tuple(sorted(result["metric"].items()))
            out.setdefault(key, {}).update({float(t): v for t, v in result["values"]})
    return out


def _write_recorded(rule: Rule, results: dict[tuple, dict], f) -> int:
    n = 0
    for key, values in results.items():
        labels = {**dict(key), **rule.labels}
        labels.pop("__name__", None)
        text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        f.writelines(f"{rule.record}{{{text}}} {v} {t:.3f}\n" for t, v in sorted(values.items()))
        n += 1
    return n


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def firing_episodes(rule: Rule, results: dict[tuple, dict], start: int, end: int) -> list[Episode]:
    """Apply the rule manager's `for` / `keep_firing_for` to the evaluations of an alert expression."""
    times = [start + k * rule.interval for k in range(int((end - start) // rule.interval) + 1)]
    episodes = []
    for key, values in results.items():
        labels = {**{k: v for k, v in key if k != "__name__"}, **rule.labels, "alertname": rule.alert}
        active_at = fired_at = last_true = None
        for t in times:
            if t in values:
                last_true = t
                if active_at is None:
                    active_at = t
                if fired_at is None and t - active_at >= rule.for_s:
                    fired_at = t
                continue
            if active_at is None:
                continue
            if fired_at is not None and t - last_true < rule.keep_firing_for_s:
                continue
            if fired_at is not None:
                episodes.append(Episode(rule.alert, labels, active_at, fired_at, t))
            active_at = fired_at = None
        if fired_at is not None:
            episodes.append(Episode(rule.alert, labels, active_at, fired_at, None))
    return episodes


class Engine:
    """A Prometheus (the project's image) on a data directory of backfilled blocks, in workdir."""

    def __init__(self, workdir: Path, prefix: str = "backtest"):
        self.workdir = Path(workdir)
        self.prefix = prefix
        self.prom: slo_backfill.Prometheus | None = None
        self.data = self.workdir / "data"
        self.levels_written = 0

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def load(self, openmetrics: Path) -> None:
        """Blocks from the raw history, then a Prometheus on them."""
        say(f"  backfilling raw history ({openmetrics.stat().st_size / 1e6:.0f} MB) with promtool")
        backfill(self.workdir, openmetrics.name, "raw")
        slo_backfill.copy_blocks(self.workdir / "raw", self.data)
        shutil.rmtree(self.workdir / "raw", ignore_errors=True)
        slo_backfill.chown(self.workdir, "data")
        empty = self.workdir / "no-rules"
        empty.mkdir(exist_ok=True)
        self.prom = slo_backfill.Prometheus(self.prefix, self.workdir, empty, self.data, evaluation_interval="1h")
        self.prom.wait_ready()
        say(f"  Prometheus {self.prom.name} serving the history at {self.prom.url}")

    @property
    def url(self) -> str:
        return self.prom.url

    def add_blocks(self, openmetrics: Path) -> None:
        """Backfill more series into the running Prometheus's data dir and restart it to read them."""
        name = f"blocks-{self.levels_written}"
        backfill(self.workdir, openmetrics.name, name)
        slo_backfill.docker("stop", "-t", "30", self.prom.name)
        slo_backfill.copy_blocks(self.workdir / name, self.data)
        slo_backfill.chown(self.workdir, "data")
        shutil.rmtree(self.workdir / name, ignore_errors=True)
        slo_backfill.docker("start", self.prom.name)
        self.prom.wait_ready()
        self.levels_written += 1

    def evaluate(self, rules: list[Rule], start: int, end: int, alerts_from: int | None = None) -> Evaluation:
        """Record every level, then evaluate every alert; episodes of alerts evaluated from `alerts_from`."""
        levels = assign_levels(rules)
        recorded_series = 0
        for level in range(levels):
            batch = [r for r in rules if r.record and r.level == level]
            say(f"  recording level {level + 1}/{levels}: {len(batch)} rules")
            path = self.workdir / f"recorded-{level}.om"
            with path.open("w") as f:
                for rule in batch:
                    first = _aligned(start + 600, rule.interval)   # every 5m rate has a full window
                    recorded_series += _write_recorded(rule, range_query(self.url, rule.expr, first, end,
                                                                         rule.interval), f)
                f.write("# EOF\n")
            self.add_blocks(path)
            path.unlink()
        alerts = [r for r in rules if r.alert]
        say(f"  evaluating {len(alerts)} alert expressions over {(end - start) / 86400:.1f} days")
        episodes = []
        for rule in alerts:
            first = _aligned(alerts_from if alerts_from is not None else start, rule.interval)
            results = range_query(self.url, rule.expr, first, end, rule.interval)
            episodes += firing_episodes(rule, results, first, end)
        return Evaluation(episodes, rules, levels, start, end, {"recorded_series": recorded_series})

    def query(self, expr: str, at: float) -> list[dict]:
        return self.prom.query(expr, at)

    def stop(self) -> None:
        if self.prom is not None:
            self.prom.stop()
            self.prom = None


def _aligned(t: float, step: float) -> int:
    return int(-(-t // step) * step)
