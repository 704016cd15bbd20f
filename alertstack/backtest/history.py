"""History to backtest on: seeded synthetic traffic with labelled incidents, or a real Prometheus's raw series.

Synthetic history (`synthesize`): for every SLO of the environment, the raw series its SLI reads (a counter of
requests by status for availability, a classic histogram for latency), one sample per SCRAPE_S, with
- a daily traffic cycle (+-40 %) and per-sample noise (+-10 %), an in-SLO baseline (0.02 % errors, 0.03 % slow,
  following the cycle);
- noise that must not page: short blips (15-60 s of 5-30 % errors, or of 5-20 % slow requests, a few a day) and
  deploy blips (90 s of 1-3 % errors and 2-5 % slow requests, one a day in working hours);
- labelled incidents (`Incident`): total outages, error bursts, slow burns, latency regressions, and drift episodes
  of the drift monitor's PSI gauges (`model_drift_psi`, read by FeatureDriftDetected / PredictionDriftDetected).

The same seed gives the same history: timestamps start at 00:00 UTC, so only the calendar dates move.
`read_prometheus` fetches the raw samples of the same series from a real Prometheus instead (bounded).
"""
from __future__ import annotations

import math
import random
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from alertstack import api
from alertstack.slo import SLO

SCRAPE_S = 15
"""One raw sample per 15 s: the production scrape interval (roles/prometheus defaults)."""
DAY_S = 86400
WARMUP_S = 6 * 3600
"""No incident in the first 6 hours: the page tier's windows hold healthy traffic before the first fault."""
BASE_ERROR_RATIO = 0.0002
BASE_SLOW_RATIO = 0.0003
DRIFT_SERIES = (("feature", "amount"), ("feature", "merchant_category"), ("prediction", "prediction"))
DRIFT_MODEL = "fraud-detector"
MAX_SERIES = 2000
"""--from-prometheus refuses selectors that match more series than this (bounded reads)."""


class HistoryError(RuntimeError):
    pass


@dataclass
class Incident:
    """A labelled fault: [start, end) in unix seconds, the SLO (or drift family) it hits, and how hard."""
    id: str
    kind: str            # outage | error-burst | slow-burn | latency-regression | drift
    family: str          # the alert family that should answer: the SLO's runbook slug, or feature-drift ...
    slo: str | None      # the SLO it burns (None for drift)
    start: int
    end: int
    bad_ratio: float     # share of bad events during the incident (drift: the PSI value)
    description: str
    budget: float | None = None   # share of the monthly error budget it consumed (measured by Prometheus)

    @property
    def duration_s(self) -> int:
        return self.end - self.start


@dataclass
class Noise:
    """An unlabelled disturbance (blip, deploy): alerts that answer only these are false."""
    kind: str
    slo: str | None
    start: int
    end: int
    bad_ratio: float


@dataclass
class History:
    start: int
    end: int
    incidents: list[Incident]
    noise: list[Noise] = field(default_factory=list)
    source: str = "synthetic"
    series: int = 0

    def as_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "source": self.source, "series": self.series,
                "incidents": [asdict(i) for i in self.incidents], "noise": len(self.noise)}


# --- SLO selectors -----------------------------------------------------------------------------------------------

_MATCHER_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')


def parse_selector(selector: str) -> tuple[str, list[tuple[str, str, str]]]:
    """`metric{a="b",c=~"d"}` -> ("metric", [("a", "=", "b"), ("c", "=~", "d")]); metric may be empty."""
    s = selector.strip()
    metric, _, rest = s.partition("{")
    inner = rest.rsplit("}", 1)[0] if rest else ""
    matchers, pos = [], 0
    while pos < len(inner.strip()):
        m = _MATCHER_RE.match(inner, pos)
        if not m:
            raise HistoryError(f"cannot read label matchers of selector {selector!r}")
        matchers.append((m.group(1), m.group(2), m.group(3)))
        pos = m.end()
    return metric.strip(), matchers


def _value_matching(op: str, pattern: str) -> str:
    """A label value that the matcher accepts (the bad events' label): `5..` -> `500`, `a|b` -> `a`."""
    if op == "=":
        return pattern
    first = pattern.split("|")[0].strip("()^$")
    return re.sub(r"\\d|\.|\[[^]]*\]", "0", first).replace("+", "").replace("*", "")


def format_le(threshold: float) -> str:
    """The `le` value as Prometheus 3 stores it: 0.3 -> "0.3", 1 -> "1.0"."""
    return repr(float(threshold))


def slo_series(slo: SLO) -> dict:
    """What to write for one SLO: {"kind", "good": labels, "bad": labels} (availability) or
    {"kind", "histogram", "labels", "threshold"} (latency). Raises HistoryError for shapes it cannot synthesize."""
    sli = slo.sli
    if sli.type == "availability":
        total_metric, total_m = parse_selector(sli.total)
        err_metric, err_m = parse_selector(sli.errors)
        if total_metric != err_metric:
            raise HistoryError(f"SLO {slo.name}: errors and total are different metrics; synthetic history "
                               f"supports one counter with a status label")
        base = {k: v for k, op, v in total_m if op == "="}
        if any(op != "=" for _, op, _ in total_m):
            raise HistoryError(f"SLO {slo.name}: sli.total must use only = matchers for synthetic history")
        extra = [(k, op, v) for k, op, v in err_m if (k, op, v) not in total_m]
        bad = {**base, **{k: _value_matching(op, v) for k, op, v in extra}}
        good = {**base, **{k: ("200" if k in ("status", "code") else "ok") for k, _, _ in extra}}
        return {"kind": "availability", "metric": total_metric, "good": good, "bad": bad}
    _, sel = parse_selector("x{" + _strip_braces(sli.selector) + "}")
    labels = {k: v for k, op, v in sel if op == "="}
    return {"kind": "latency", "histogram": sli.histogram, "labels": labels, "threshold": float(sli.threshold)}


def _strip_braces(s: str) -> str:
    s = s.strip()
    return s[1:-1] if s.startswith("{") and s.endswith("}") else s


def _labels_text(labels: dict) -> str:
    return ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))


# --- synthetic history -------------------------------------------------------------------------------------------

# (id, kind, sli type, bad ratio, duration s, description). The budget each consumes is measured, not assumed.
INCIDENTS_30D = (
    ("outage-2m", "outage", "availability", 1.0, 120, "total outage, 2 min"),
    ("outage-10m", "outage", "availability", 1.0, 600, "total outage, 10 min"),
    ("outage-60m", "outage", "availability", 1.0, 3600, "total outage, 60 min"),
    ("burst-2pct", "error-burst", "availability", 0.02, 1800, "2 % errors for 30 min"),
    ("burst-10pct", "error-burst", "availability", 0.10, 900, "10 % errors for 15 min"),
    ("burst-50pct", "error-burst", "availability", 0.50, 300, "50 % errors for 5 min"),
    ("slowburn-2x", "slow-burn", "availability", 0.002, 6 * 3600, "2x burn (0.2 % errors) for 6 h"),
    ("slowburn-5x", "slow-burn", "availability", 0.005, 4 * 3600, "5x burn (0.5 % errors) for 4 h"),
    ("slowburn-10x", "slow-burn", "availability", 0.010, 3 * 3600, "10x burn (1 % errors) for 3 h"),
    ("latency-total-10m", "latency-regression", "latency", 1.0, 600, "every request slower than the threshold, 10 min"),
    ("latency-10pct-30m", "latency-regression", "latency", 0.10, 1800, "10 % of requests slow for 30 min"),
    ("latency-8x-6h", "latency-regression", "latency", 0.008, 6 * 3600, "0.8 % slow (8x burn) for 6 h"),
    ("drift-feature-3h", "drift", "feature", 0.32, 3 * 3600, "feature PSI 0.32 for 3 h"),
    ("drift-prediction-3h", "drift", "prediction", 0.35, 3 * 3600, "prediction PSI 0.35 for 3 h"),
)
SHORT_SET = ("outage-2m", "burst-10pct", "slowburn-10x", "latency-10pct-30m", "drift-feature-3h")
"""One of each key kind, for a short (3-day) backtest such as the test's."""


def _place(rnd: random.Random, specs: list[tuple], start: int, end: int) -> list[tuple[int, tuple]]:
    """Spread incidents over [start + warm-up, end): one per equal slot, at a random offset within it."""
    usable = end - (start + WARMUP_S)
    slot = usable // max(len(specs), 1)
    placed = []
    for i, spec in enumerate(rnd.sample(specs, len(specs))):
        lo = start + WARMUP_S + i * slot
        room = max(slot - spec[4] - 3 * 3600, 0)  # at least 3 h of quiet after each incident
        placed.append((lo + int(rnd.uniform(0, room)) // SCRAPE_S * SCRAPE_S, spec))
    return placed


def plan(slos: list[SLO], days: int, seed: int, end: int, incident_ids: tuple[str, ...] | None = None) -> History:
    """Where the incidents and noise fall over `days` ending at `end` (00:00 UTC); deterministic for a seed."""
    rnd = random.Random(seed)
    start = end - days * DAY_S
    by_type = {s.sli.type: s for s in slos}
    if incident_ids is None:
        incident_ids = tuple(i[0] for i in INCIDENTS_30D) if days >= 14 else SHORT_SET
    specs = [i for i in INCIDENTS_30D if i[0] in incident_ids]
    incidents = []
    for at, (iid, kind, target, ratio, dur, text) in _place(rnd, specs, start, end):
        if target in by_type:
            slo = by_type[target]
            incidents.append(Incident(iid, kind, slo.runbook, slo.name, at, at + dur, ratio,
                                      text))
        elif target in ("feature", "prediction"):
            incidents.append(Incident(iid, kind, f"{target}-drift", None, at, at + dur, ratio, text))
    noise = []
    for day in range(days):
        d0 = start + day * DAY_S
        for slo in slos:
            for _ in range(rnd.randint(2, 4)):          # short blips
                at = d0 + rnd.randrange(0, DAY_S, SCRAPE_S)
                dur = rnd.choice((15, 30, 45, 60))
                ratio = rnd.uniform(0.05, 0.30) if slo.sli.type == "availability" else rnd.uniform(0.05, 0.2)
                noise.append(Noise("blip", slo.name, at, at + dur, ratio))
        at = d0 + rnd.randrange(10 * 3600, 16 * 3600, SCRAPE_S)   # one deploy a day, working hours
        for slo in slos:
            ratio = rnd.uniform(0.01, 0.03) if slo.sli.type == "availability" else rnd.uniform(0.02, 0.05)
            noise.append(Noise("deploy", slo.name, at, at + 90, ratio))
        for kind, name in DRIFT_SERIES:                   # a PSI wobble above the threshold, shorter than `for`
            if rnd.random() < 0.3:
                at = d0 + rnd.randrange(0, DAY_S, 60)
                noise.append(Noise("psi-spike", f"{kind}:{name}", at, at + rnd.choice((300, 600, 900)),
                                   rnd.uniform(0.21, 0.3)))
    # noise never overlaps a labelled incident of the same SLO (it would blur detection and reset times)
    noise = [n for n in noise if not any(n.slo in (i.slo, _drift_key(i)) and n.start < i.end + 3600
                                         and n.end > i.start - 3600 for i in incidents)]
    return History(start, end, sorted(incidents, key=lambda i: i.start), noise)


def _drift_key(incident: Incident) -> str | None:
    if incident.kind != "drift":
        return None
    return "feature:amount" if incident.family == "feature-drift" else "prediction:prediction"


def _ratio_at(events: list, t: int, default: float) -> float:
    for ev in events:
        if ev.start <= t < ev.end:
            return max(default, ev.bad_ratio)
    return default


def write_openmetrics(history: History, slos: list[SLO], path: Path, seed: int) -> int:
    """Write the raw series of the history to `path` (OpenMetrics, one sample per SCRAPE_S); return the count."""
    rnd = random.Random(seed * 7919 + 1)
    steps = (history.end - history.start) // SCRAPE_S
    series = 0
    profiles: dict[str, tuple[float, float]] = {}
    with path.open("w") as f:
        for slo in slos:
            spec = slo_series(slo)
            rps, phase = profiles.setdefault(slo.service, (rnd.uniform(30, 80), rnd.uniform(0, 2 * math.pi)))
            events = sorted([*[i for i in history.incidents if i.slo == slo.name],
                             *[n for n in history.noise if n.slo == slo.name]], key=lambda e: e.start)
            base_ratio = BASE_ERROR_RATIO if spec["kind"] == "availability" else BASE_SLOW_RATIO
            if spec["kind"] == "availability":
                rows = {"good": [], "bad": []}
                good = bad = 0.0
            else:
                les = sorted({0.1, 0.2, spec["threshold"], 0.5, 1.0, 2.5})
                under = [le for le in les if le <= spec["threshold"]]
                rows = {le: [] for le in [*les, math.inf]}
                cum = {le: 0.0 for le in rows}
            for s in range(steps + 1):
                t = history.start + s * SCRAPE_S
                cycle = 1 + 0.4 * math.sin(2 * math.pi * t / DAY_S + phase)
                reqs = rps * cycle * SCRAPE_S * rnd.uniform(0.9, 1.1)
                ratio = _ratio_at(events, t, base_ratio * cycle * rnd.uniform(0.5, 1.5))
                if spec["kind"] == "availability":
                    good += reqs * (1 - ratio)
                    bad += reqs * ratio
                    rows["good"].append(f"{good:.3f} {t}")
                    rows["bad"].append(f"{bad:.3f} {t}")
                    continue
                fast = {0.1: 0.85, 0.2: 0.985}          # p95 about 0.17 s when healthy
                for le in cum:
                    if le <= spec["threshold"]:
                        share = (1 - ratio) * fast.get(le, 1.0)
                    else:                               # the slow requests spread over (threshold, 2.5]
                        share = 1 - ratio + ratio * min(1.0, (le - spec["threshold"]) / (2.5 - spec["threshold"]))
                    cum[le] += reqs * share
                    rows[le].append(f"{cum[le]:.3f} {t}")
            if spec["kind"] == "availability":
                for key in ("good", "bad"):
                    name = f'{spec["metric"]}{{{_labels_text(spec[key])}}}'
                    f.writelines(f"{name} {row}\n" for row in rows[key])
                    series += 1
            else:
                hist = spec["histogram"]
                for le, values in rows.items():
                    le_text = "+Inf" if le == math.inf else format_le(le)
                    name = f'{hist}_bucket{{{_labels_text({**spec["labels"], "le": le_text})}}}'
                    f.writelines(f"{name} {row}\n" for row in values)
                    series += 1
                name = f'{hist}_count{{{_labels_text(spec["labels"])}}}'
                f.writelines(f"{name} {row}\n" for row in rows[math.inf])
                series += 1
        series += _write_drift(history, f, rnd)
        f.write("# EOF\n")
    history.series = series
    return series


def _write_drift(history: History, f, rnd: random.Random) -> int:
    """PSI gauges as the drift monitor exports them, one sample a minute (its computation interval)."""
    count = 0
    for kind, name in DRIFT_SERIES:
        key = f"{kind}:{name}"
        events = [n for n in history.noise if n.slo == key]
        events += [i for i in history.incidents if _drift_key(i) == key]
        labels = _labels_text({"job": "drift-monitor", "instance": "drift-monitor:8000", "metric_type": kind,
                               "feature_name": name, "model_name": DRIFT_MODEL})
        for t in range(history.start, history.end + 1, 60):
            psi = _ratio_at(events, t, rnd.uniform(0.02, 0.08))
            f.write(f"model_drift_psi{{{labels}}} {psi:.4f} {t}\n")
        count += 1
    return count


def synthesize(slos: list[SLO], days: int, seed: int, path: Path, end: int | None = None,
               incident_ids: tuple[str, ...] | None = None) -> History:
    """Plan and write `days` of history ending at 00:00 UTC today (or `end`)."""
    end = end if end is not None else int(time.time()) // DAY_S * DAY_S
    history = plan(slos, days, seed, end, incident_ids)
    write_openmetrics(history, slos, path, seed)
    return history


# --- a real Prometheus's raw series ------------------------------------------------------------------------------

def source_selectors(slos: list[SLO]) -> list[str]:
    """The selectors whose raw samples a backtest needs: every SLI's series, and the drift gauges."""
    out = []
    for slo in slos:
        sli = slo.sli
        if sli.type == "availability":
            out += [sli.total, sli.errors]
        else:
            inner = _strip_braces(sli.selector)
            extra = f",{inner}" if inner else ""
            out.append(f'{{__name__=~"{sli.histogram}_(bucket|count)"{extra}}}')
    out.append("model_drift_psi")
    return list(dict.fromkeys(out))


def read_prometheus(url: str, slos: list[SLO], days: int, path: Path, chunk_s: int = 6 * 3600,
                    auth=None, say=print) -> History:
    """Copy the raw samples of the SLO series (and drift gauges) of the last `days` from the Prometheus at `url`
    to `path` (OpenMetrics), `selector[6h]` at a time. Raises HistoryError if it is unreachable or the selectors
    match more than MAX_SERIES series."""
    end = int(time.time()) // 60 * 60
    start = end - days * DAY_S
    samples: dict[str, dict[float, str]] = {}
    for selector in source_selectors(slos):
        say(f"  reading {selector} from {url} ({days} d in {chunk_s // 3600} h pieces)")
        for t in range(start + chunk_s, end + chunk_s, chunk_s):
            at = min(t, end)
            try:
                result_matrix = api.query(url, f"{selector}[{chunk_s}s]", at=at, auth=auth, timeout=120)
            except api.ApiError as exc:
                raise HistoryError(f"cannot read {selector}: {exc}") from None
            for result in result_matrix:
                labels = dict(result["metric"])
                name = labels.pop("__name__")
                key = f"{name}{{{_labels_text(labels)}}}"
                samples.setdefault(key, {}).update({float(ts): v for ts, v in result["values"]})
            if len(samples) > MAX_SERIES:
                raise HistoryError(f"{url}: the SLO selectors match more than {MAX_SERIES} series; "
                                   f"narrow the SLO selectors or the period")
    if not samples:
        raise HistoryError(f"{url} has no samples of {', '.join(source_selectors(slos))} in the last {days} d")
    with path.open("w") as f:
        for key, values in samples.items():
            f.writelines(f"{key} {v} {ts:.3f}\n" for ts, v in sorted(values.items()) if start <= ts <= end)
        f.write("# EOF\n")
    return History(start, end, [], [], source=url, series=len(samples))
