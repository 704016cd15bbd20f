"""SLOs as a typed spec: validation, and generation of recording rules and multi-window multi-burn-rate alerts.

An SLO (OpenSLO-like, see roles/prometheus/defaults/main/slos.yml) is parsed once, by validate_slos, into an SLO
(frozen dataclasses SLO, SLI, BurnRateAlert, BurnRate); everything else in the package reads those attributes:

    name: inference-availability          # unique, [a-z0-9-]
    service: inference-gateway
    team: ml-platform
    objective: 0.999                       # 0 < objective < 1
    window: 30d                            # compliance window of the error budget
    sli:                                   # availability: a bad-event counter and a total counter
      type: availability
      errors: inference_requests_total{job="inference-gateway",endpoint="/predict",status=~"5.."}
      total: inference_requests_total{job="inference-gateway",endpoint="/predict"}
    sli:                                   # latency: a classic histogram with a bucket boundary at the threshold
      type: latency
      histogram: inference_request_duration_seconds
      selector: job="inference-gateway",endpoint="/predict"
      threshold: 0.3                       # seconds; a request slower than this is bad
    runbook: inference-errors              # optional runbook slug (default: the SLO name)
    dashboard: slo-overview                # optional Grafana dashboard uid
    alerts:                                # optional; default: DEFAULT_ALERTS (two pages and one ticket)
      - name: InferenceErrorRateCritical
        severity: critical
        for: 0m
        tier: page-quick                   # a named tier of prometheus_slo_burn_rate_tiers, or instead:
        # burn_rates: [{factor: 14.4, long: 30m, short: 5m}]

The burn-rate tiers are named window data (prometheus_slo_burn_rate_tiers, in the same defaults file):

    page-quick: [{factor: 14.4, long: 30m, short: 5m}]
    page-slow: [{factor: 3, long: 6h, short: 30m}]
    ticket: [{factor: 3, long: 1d, short: 2h}, {factor: 1, long: 3d, short: 6h}]

Every ratio the alerts use is a recording rule `slo:sli_error:ratio_rate<window>` with labels slo, sli, service.

Shape (docs/alerting-policy.md, "How the SLO rules are shaped"): rules are shared by the SLOs of a family (same
metric and selector shape, differing only in the values of `=` matchers such as job or endpoint): each window is one
rule per family, `sum by (<key labels>)` over all its SLOs, mapped to one series per SLO (labels slo, sli, service)
through the info series `slo:sli:info` (group `slo:info`, every INFO_INTERVAL). Group `slo:fast` (30 s): the short
windows that a page tier reads (fast_windows: 5m and 30m with the policy's tiers) from the raw counters, and the
alerts without a long `for` that read a short window (critical tier). Group `slo:sustained` (twice the fast interval):
the alerts that read a short window and wait at least SUSTAINED_FOR (high tier). Group `slo:long` (LONG_INTERVAL): the
5m event rates (`slo:sli_bad:rate5m`, `slo:sli_total:rate5m`), the other short windows and 2h from the raw counters;
the long windows (DERIVED_WINDOWS) and each compliance window derived for all SLOs at once as
sum_over_time(bad[w]) / sum_over_time(total[w]); objective, budget, projected exhaustion (RECORD_EXHAUSTION); the
alerts that read long windows only and the budget forecast tickets (FORECAST_ALERT).

The burn-rate tiers (windows, factors) are data: prometheus_slo_burn_rate_tiers (the role default is the policy's,
alertstack.defaults.default_burn_rate_tiers), referred to by name from the `alerts` of each SLO in prometheus_slos
(or DEFAULT_ALERTS for SLOs without `alerts`); which group evaluates an alert follows from its windows and `for`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from alertstack import vocabulary
from alertstack.vocabulary import SEVERITIES, TEAMS

WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
"""The rate windows that are recorded for every SLO; burn-rate alerts may only use these."""
SHORT_WINDOWS = ("5m", "30m", "1h")
"""Windows an alert may need fresh: computed from the raw counters in the fast group (every 30 s) when an alert of
the fast or sustained group reads them (fast_windows), otherwise from the raw counters every LONG_INTERVAL."""
DERIVED_WINDOWS = ("6h", "1d", "3d")
"""Windows derived from the recorded 5m rates every LONG_INTERVAL (and the SLO's compliance window, for the budget).
The remaining windows (2h) are computed from the raw counters every LONG_INTERVAL: a 2h window read as 4-minute
pieces would drift by a piece's offset (up to ~1 % when the error ratio moves fast), at little saving."""
RAW_LONG_WINDOWS = tuple(w for w in WINDOWS if w not in SHORT_WINDOWS + DERIVED_WINDOWS)
"""Windows computed from the raw counters every LONG_INTERVAL (2h)."""
LONG_INTERVAL = "4m"
"""Interval of the group that derives the longer windows. Below the 5m lookback delta on purpose: the 30 s alerts
read its series, and the previous sample stays visible while the next evaluation is being written."""

SLI_TYPES = ("availability", "latency")

TIERS_VARIABLE = "prometheus_slo_burn_rate_tiers"
"""The inventory variable of the named burn-rate tiers (role default: roles/prometheus/defaults/main/slos.yml)."""
DEFAULT_ALERTS = (
    # (alert name suffix, severity, for, tier): the policy's alerts of an SLO without `alerts` (Google SRE Workbook,
    # "Alerting on SLOs": two page tiers, one ticket tier made of two windows; tuned with the backtest,
    # docs/alerting-policy.md, "Backtest": critical 14.4x over 30m/5m with no `for`, high 3x over 6h/30m).
    ("critical", "critical", "0m", "page-quick"),
    ("high", "high", "5m", "page-slow"),
    ("slow", "warning", "15m", "ticket"),
)

RECORD_PREFIX = "slo:sli_error:ratio_rate"
RECORD_BUDGET = "slo:error_budget:remaining_ratio"
RECORD_OBJECTIVE = "slo:objective:ratio"
RECORD_EXHAUSTION = "slo:error_budget:exhaustion_seconds"
"""Seconds until the error budget is spent at the burn of the last FORECAST_BURN_WINDOW (0: already spent; no series
while nothing burns). The SLO dashboard shows it as a date; FORECAST_ALERT tickets on it."""
FORECAST_BURN_WINDOW = "1d"
"""The burn the projection assumes: a day smooths the daily traffic cycle and single deploys, which a 6h window would
turn into a projection that swings by days between morning and night."""
FORECAST_HORIZON = "7d"
FORECAST_FOR = "30m"
FORECAST_ALERT = "ErrorBudgetExhaustionProjected"
FORECAST_RUNBOOK = "error-budget-forecast"
RECORD_BAD = "slo:sli_bad:rate5m"
"""Bad events per second over 5m, recorded every LONG_INTERVAL: the samples every long window is summed from."""
RECORD_TOTAL = "slo:sli_total:rate5m"
"""All events per second over 5m, recorded every LONG_INTERVAL."""
RECORD_INFO = "slo:sli:info"
"""One series per SLO, value 1, labels slo, sli, service, slo_family and the SLO's key labels (e.g. job, endpoint):
how a family rule's series (one per key) become series per SLO."""
INFO_PLACEHOLDER = "alertstack_slo_info_placeholder"
"""A metric that never exists: absent(placeholder{labels}) is how the info rule writes a series with given labels."""
GROUP_INFO = "slo:info"
INFO_INTERVAL = "1m"
"""Interval of the group that writes the info series. It changes only when prometheus_slos does, but must be written
more often than the 5m lookback (the joins read it as an instant vector), and at most every 60 s so that a fresh
stack's smoke check (alertstack/smoke.py DUE_INTERVAL_S) waits for it before anything is measured."""
GROUP_FAST = "slo:fast"
FAST_INTERVAL = "30s"
"""Default interval of the fast group (prometheus_slo_rule_interval overrides it, passed in by rules.rule_files)."""
GROUP_LONG = "slo:long"
GROUP_SUSTAINED = "slo:sustained"
"""The alerts that read a short window and wait a `for` of at least SUSTAINED_FOR (the policy's high tier): evaluated
at half the rate of the fast group (every 1m with the default 30 s). One more interval of granularity is at most a
fifth of their own wait; the alerts without `for` (the critical tier) stay in the fast group."""
SUSTAINED_FOR = "5m"

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_ALERT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_METRIC_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_SELECTOR_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?$", re.S)

SLO_FIELDS = ("name", "service", "team", "description", "objective", "window", "sli", "runbook", "dashboard",
              "alerts", "labels")
ALERT_FIELDS = ("name", "severity", "for", "tier", "burn_rates")


class SLOError(ValueError):
    """A malformed SLO or burn-rate tier; the message names the SLO (or tier) and the field."""


@dataclass(frozen=True)
class BurnRate:
    """One window pair of a burn-rate alert: fires while both windows' error ratios exceed factor x budget."""
    factor: float
    long: str
    short: str

    def windows(self) -> tuple[str, str]:
        return self.long, self.short


@dataclass(frozen=True)
class BurnRateAlert:
    """One alert of an SLO: fires when any of its burn rates holds (for `for_`)."""
    name: str
    severity: str
    for_: str
    burn_rates: tuple[BurnRate, ...]
    tier: str | None = None
    """The name of the tier of prometheus_slo_burn_rate_tiers its burn rates come from (None: written out)."""

    def windows(self) -> tuple[str, ...]:
        """Every window it reads, in order, once."""
        return tuple(dict.fromkeys(w for b in self.burn_rates for w in b.windows()))


@dataclass(frozen=True)
class SLI:
    """availability: `errors` and `total` counter selectors; latency: `histogram` (base name), `selector` (label
    matchers, without braces) and `threshold` (seconds, a bucket boundary)."""
    type: str
    errors: str = ""
    total: str = ""
    histogram: str = ""
    selector: str = ""
    threshold: float = 0.0


@dataclass(frozen=True)
class SLO:
    name: str
    service: str
    team: str
    objective: float
    window: str
    sli: SLI
    runbook: str
    dashboard: str
    alerts: tuple[BurnRateAlert, ...]
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    description: str | None = None

    @property
    def budget(self) -> float:
        """The error budget: the share of bad events the objective allows (1 - objective)."""
        return round(1 - self.objective, 12)

    def alert(self, name: str) -> BurnRateAlert:
        found = next((a for a in self.alerts if a.name == name), None)
        if found is None:
            raise ValueError(f"SLO {self.name!r} has no alert {name!r}")
        return found

    def to_dict(self) -> dict:
        """The SLO as prometheus_slos writes it, with every alert's burn rates written out (no tier reference), so
        that validate_slo reads it back without the tier table (JSON of drill timelines)."""
        sli = {"type": self.sli.type}
        sli.update({"errors": self.sli.errors, "total": self.sli.total} if self.sli.type == "availability" else
                   {"histogram": self.sli.histogram, "selector": self.sli.selector, "threshold": self.sli.threshold})
        out: dict[str, Any] = {"name": self.name, "service": self.service, "team": self.team}
        if self.description is not None:
            out["description"] = self.description
        out.update(objective=self.objective, window=self.window, sli=sli, runbook=self.runbook,
                   dashboard=self.dashboard, labels=dict(self.labels))
        out["alerts"] = [{"name": a.name, "severity": a.severity, "for": a.for_,
                          "burn_rates": [{"factor": b.factor, "long": b.long, "short": b.short} for b in a.burn_rates]}
                         for a in self.alerts]
        return out


Tiers = dict[str, tuple[BurnRate, ...]]
"""Validated burn-rate tiers: name -> its burn rates."""


def _seconds(duration: str) -> int:
    return int(vocabulary.duration_seconds(duration))


def duration_seconds(duration: str) -> int:
    """Seconds of a duration such as 5m, 4h or 30d (alertstack.vocabulary's parser)."""
    return _seconds(duration)


def format_le(threshold: float) -> str:
    """The `le` label value of a bucket boundary as Prometheus 3 stores it (le="1" is normalised to "1.0").

    Prometheus 3 formats float label values like Go's strconv.FormatFloat(f, 'g', -1, 64) and appends ".0" to
    integers; Python's repr() is the same shortest round-trip form for the range of sensible thresholds.
    """
    f = float(threshold)
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    s = repr(f)
    if "e" in s:
        mantissa, exp = s.split("e")
        mantissa = mantissa[:-2] if mantissa.endswith(".0") else mantissa
        sign, digits = (exp[0], exp[1:]) if exp[0] in "+-" else ("+", exp)
        s = f"{mantissa}e{sign}{int(digits):02d}"
    return s


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[-_]", name) if part)


def _matchers(selector: str) -> str:
    """`{a="b"}`, `a="b"` or `` -> `a="b"` (the inside of the braces)."""
    s = selector.strip()
    if s.startswith("{") and s.endswith("}"):
        s = s[1:-1]
    return s.strip().strip(",")


def _with_matchers(metric: str, matchers: str, extra: str = "") -> str:
    inner = ",".join(x for x in (matchers, extra) if x)
    return f"{metric}{{{inner}}}" if inner else metric


def _check_selector(slo: str, field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SLOError(f"SLO {slo!r}: sli.{field} is missing (a metric selector such as "
                       f"'inference_requests_total{{job=\"inference-gateway\"}}')")
    if not _SELECTOR_RE.match(value.strip()):
        raise SLOError(f"SLO {slo!r}: sli.{field} {value!r} is not a metric selector "
                       f"(metric name, optionally followed by {{label matchers}})")
    if value.count("{") != value.count("}") or value.count('"') % 2:
        raise SLOError(f"SLO {slo!r}: sli.{field} {value!r} has unbalanced braces or quotes")
    return value.strip()


def _parse_burn_rates(rates: Any, where: str) -> tuple[BurnRate, ...]:
    """A list of {factor, long, short} (explicit `burn_rates` or a tier); `where` names it in errors."""
    if not isinstance(rates, list) or not rates:
        raise SLOError(f"{where} must be a non-empty list of {{factor, long, short}}")
    out = []
    for j, br in enumerate(rates):
        bw = f"{where}[{j}]"
        if not isinstance(br, dict):
            raise SLOError(f"{bw} must be a mapping with factor, long, short")
        unknown = sorted(set(br) - {"factor", "long", "short"})
        if unknown:
            raise SLOError(f"{bw}: unknown field(s) {', '.join(unknown)} (known: factor, long, short)")
        factor = br.get("factor")
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor <= 0:
            raise SLOError(f"{bw}.factor {factor!r} must be a positive number")
        for w in ("long", "short"):
            if br.get(w) not in WINDOWS:
                raise SLOError(f"{bw}.{w} window {br.get(w)!r} is not one of the recorded windows "
                               f"{', '.join(WINDOWS)}")
        if _seconds(br["short"]) >= _seconds(br["long"]):
            raise SLOError(f"{bw}: short window {br['short']} must be shorter than long window {br['long']}")
        out.append(BurnRate(float(factor), br["long"], br["short"]))
    return tuple(out)


def validate_tiers(tiers: Any) -> Tiers:
    """Check prometheus_slo_burn_rate_tiers ({name: [{factor, long, short}, ...]}); raise SLOError naming the tier."""
    if not isinstance(tiers, dict) or not tiers:
        raise SLOError(f"{TIERS_VARIABLE} must be a non-empty mapping of tier name -> list of "
                       f"{{factor, long, short}}, got {type(tiers).__name__}")
    out: Tiers = {}
    for name, rates in tiers.items():
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise SLOError(f"{TIERS_VARIABLE}: tier name {name!r} is invalid (lower-case letters, digits, '-')")
        out[name] = _parse_burn_rates(rates, f"{TIERS_VARIABLE}.{name}")
    return out


def _parse_sli(name: str, sli: Any) -> SLI:
    if not isinstance(sli, dict):
        raise SLOError(f"SLO {name!r}: sli is missing (a mapping with type: availability|latency)")
    kind = sli.get("type")
    if kind not in SLI_TYPES:
        raise SLOError(f"SLO {name!r}: sli.type {kind!r} must be one of {', '.join(SLI_TYPES)}")
    if kind == "availability":
        allowed = {"type", "errors", "total"}
        parsed = SLI(kind, errors=_check_selector(name, "errors", sli.get("errors")),
                     total=_check_selector(name, "total", sli.get("total")))
    else:
        allowed = {"type", "histogram", "selector", "threshold"}
        hist = sli.get("histogram")
        if not isinstance(hist, str) or not _METRIC_RE.match(hist or ""):
            raise SLOError(f"SLO {name!r}: sli.histogram {hist!r} must be the histogram's base metric name "
                           f"(e.g. inference_request_duration_seconds)")
        if hist.endswith(("_bucket", "_count", "_sum")):
            raise SLOError(f"SLO {name!r}: sli.histogram {hist!r} must be the base name, without _bucket/_count/_sum")
        selector = sli.get("selector", "")
        if not isinstance(selector, str):
            raise SLOError(f"SLO {name!r}: sli.selector must be a string of label matchers")
        if "le=" in selector.replace(" ", ""):
            raise SLOError(f"SLO {name!r}: sli.selector must not match on le; the threshold chooses the bucket")
        threshold = sli.get("threshold")
        if threshold is None:
            raise SLOError(f"SLO {name!r}: sli.threshold is missing (seconds; must be a bucket boundary, e.g. 0.3)")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < math.inf:
            raise SLOError(f"SLO {name!r}: sli.threshold {threshold!r} must be a positive number of seconds")
        parsed = SLI(kind, histogram=hist, selector=_matchers(selector), threshold=float(threshold))
    extra = sorted(set(sli) - allowed)
    if extra:
        raise SLOError(f"SLO {name!r}: sli field(s) {', '.join(extra)} do not apply to type {kind} "
                       f"(allowed: {', '.join(sorted(allowed))})")
    return parsed


def _parse_alert(name: str, budget: float, alert: Any, i: int, tiers: Tiers) -> BurnRateAlert:
    where = f"SLO {name!r}: alerts[{i}]"
    if not isinstance(alert, dict):
        raise SLOError(f"{where} must be a mapping")
    aname = alert.get("name")
    if not isinstance(aname, str) or not _ALERT_RE.match(aname):
        raise SLOError(f"{where}.name {aname!r} is missing or not a valid alert name")
    where = f"SLO {name!r}: alert {aname}"
    unknown = sorted(set(alert) - set(ALERT_FIELDS))
    if unknown:
        raise SLOError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(ALERT_FIELDS)})")
    if alert.get("severity") not in SEVERITIES:
        raise SLOError(f"{where}: severity {alert.get('severity')!r} must be one of {', '.join(SEVERITIES)}")
    for_ = alert.get("for", "0m")
    if not isinstance(for_, str) or not vocabulary.DURATION_RE.match(for_):
        raise SLOError(f"{where}: for {for_!r} must be a duration such as 2m")
    tier = alert.get("tier")
    if "tier" in alert and "burn_rates" in alert:
        raise SLOError(f"{where}: has both tier and burn_rates; give one of them")
    if "tier" not in alert and "burn_rates" not in alert:
        raise SLOError(f"{where}: needs a tier (one of {', '.join(tiers)}, from {TIERS_VARIABLE}) or its own "
                       f"burn_rates (a list of {{factor, long, short}})")
    if "tier" in alert:
        if tier not in tiers:
            raise SLOError(f"{where}: tier {tier!r} is not one of the burn-rate tiers {', '.join(tiers)} "
                           f"({TIERS_VARIABLE})")
        rates, rates_at = tiers[tier], f"{where}: tier {tier}"
    else:
        rates, rates_at = _parse_burn_rates(alert["burn_rates"], f"{where}: burn_rates"), f"{where}: burn_rates"
    for j, b in enumerate(rates):
        if b.factor * budget >= 1:
            raise SLOError(f"{rates_at}[{j}].factor {b.factor:g} can never fire: {b.factor:g} x budget {budget} "
                           f">= 100 %")
    return BurnRateAlert(aname, alert["severity"], for_, rates, tier)


def validate_slo(slo: Any, index: int = 0, tiers: Tiers | None = None) -> SLO:
    """Parse one SLO into an SLO (defaults filled in); raise SLOError naming the SLO and field.
    `tiers`: validated burn-rate tiers (validate_tiers); default: the role's (alertstack.defaults)."""
    if tiers is None:
        from alertstack.defaults import default_burn_rate_tiers
        tiers = validate_tiers(default_burn_rate_tiers())
    if not isinstance(slo, dict):
        raise SLOError(f"SLO #{index}: must be a mapping, got {type(slo).__name__}")
    name = slo.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise SLOError(f"SLO #{index}: name {name!r} is missing or invalid (lower-case letters, digits, '-')")
    unknown = sorted(set(slo) - set(SLO_FIELDS))
    if unknown:
        raise SLOError(f"SLO {name!r}: unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(SLO_FIELDS))})")
    for field_ in ("service", "team"):
        if not isinstance(slo.get(field_), str) or not slo[field_].strip():
            raise SLOError(f"SLO {name!r}: {field_} is missing")
    if slo["team"] not in TEAMS:
        raise SLOError(f"SLO {name!r}: team {slo['team']!r} is not one of {', '.join(TEAMS)}")

    objective = slo.get("objective")
    if isinstance(objective, bool) or not isinstance(objective, (int, float)):
        raise SLOError(f"SLO {name!r}: objective {objective!r} must be a number between 0 and 1 (e.g. 0.999)")
    if not 0 < objective < 1:
        raise SLOError(f"SLO {name!r}: objective {objective!r} must be > 0 and < 1 (e.g. 0.999 for 99.9 %)")
    budget = round(1 - float(objective), 12)

    window = slo.get("window", "30d")
    if not isinstance(window, str) or not re.match(r"^[0-9]+d$", window) or not 7 <= _seconds(window) / 86400 <= 90:
        raise SLOError(f"SLO {name!r}: window {window!r} must be a number of days between 7d and 90d (e.g. 30d)")

    sli = _parse_sli(name, slo.get("sli"))

    for field_ in ("runbook", "dashboard"):
        if field_ in slo and (not isinstance(slo[field_], str) or not _NAME_RE.match(slo[field_])):
            raise SLOError(f"SLO {name!r}: {field_} {slo[field_]!r} must be a slug/uid ([a-z0-9-])")
    labels = slo.get("labels", {})
    if not isinstance(labels, dict) or any(k in ("severity", "team", "service", "slo", "sli") for k in labels):
        raise SLOError(f"SLO {name!r}: labels must be a mapping and must not redefine severity/team/service/slo/sli")
    description = slo.get("description")
    if description is not None and not isinstance(description, str):
        raise SLOError(f"SLO {name!r}: description must be a string")

    alerts = slo.get("alerts")
    if alerts is None:
        alerts = [{"name": f"{_camel(name)}BurnRate{_camel(suffix)}", "severity": severity, "for": for_,
                   "tier": tier} for suffix, severity, for_, tier in DEFAULT_ALERTS]
    if not isinstance(alerts, list) or not alerts:
        raise SLOError(f"SLO {name!r}: alerts must be a non-empty list")
    return SLO(name=name, service=slo["service"], team=slo["team"], objective=float(objective), window=window,
               sli=sli, runbook=slo.get("runbook", name), dashboard=slo.get("dashboard", "slo-overview"),
               alerts=tuple(_parse_alert(name, budget, a, i, tiers) for i, a in enumerate(alerts)),
               labels=dict(labels), description=description)


def validate_slos(slos: Any, tiers: Any = None) -> list[SLO]:
    """Parse a list of SLOs (unique names) against the burn-rate tiers (prometheus_slo_burn_rate_tiers; default:
    the role's); raise SLOError on the first problem."""
    if slos is None:
        return []
    if not isinstance(slos, list):
        raise SLOError(f"prometheus_slos must be a list of SLOs, got {type(slos).__name__}")
    if tiers is None:
        from alertstack.defaults import default_burn_rate_tiers
        tiers = default_burn_rate_tiers()
    table = validate_tiers(tiers)
    out = [validate_slo(s, i, table) for i, s in enumerate(slos)]
    seen: dict[str, int] = {}
    alert_keys: set[tuple[str, str]] = set()
    for i, s in enumerate(out):
        if s.name in seen:
            raise SLOError(f"SLO {s.name!r}: name is used twice (SLO #{seen[s.name]} and #{i})")
        seen[s.name] = i
        for a in s.alerts:
            key = (a.name, s.service)
            if key in alert_keys:
                raise SLOError(f"SLO {s.name!r}: alert {a.name} is defined twice for service {s.service}")
            alert_keys.add(key)
    return out


def _num(x: float) -> str:
    """A float as PromQL literal, without binary noise (0.0144, not 0.014400000000000001)."""
    return repr(round(x, 12))


def _event_rates(slo: SLO, window: str) -> tuple[str, str]:
    """PromQL of (bad events per second, all events per second) over `window` from the raw counters."""
    sli = slo.sli
    if sli.type == "availability":
        return f"sum(rate({sli.errors}[{window}]))", f"sum(rate({sli.total}[{window}]))"
    hist, sel = sli.histogram, sli.selector
    count = f"sum(rate({_with_matchers(hist + '_count', sel)}[{window}]))"
    good = f"sum(rate({_with_matchers(hist + '_bucket', sel, 'le=' + chr(34) + format_le(sli.threshold) + chr(34))}[{window}]))"
    return f"{count}\n-\n{good}", count


def total_rate_expr(slo: SLO, window: str) -> str:
    """PromQL of all events per second over `window` for a validated SLO, from the raw counters."""
    return _event_rates(slo, window)[1]


def bad_ratio_expr(slo: SLO, window: str) -> str:
    """PromQL of the ratio of bad events over `window` for a validated SLO, from the raw counters."""
    bad, total = _event_rates(slo, window)
    if slo.sli.type == "availability":
        return f"({bad} or vector(0))\n/\n{total}"
    bad = bad.replace("\n", "\n  ")
    return f"(\n  {bad}\n)\n/\n{total}"


def _labels(slo: SLO) -> dict:
    return {"slo": slo.name, "sli": slo.sli.type, "service": slo.service}


def _selector(slo: SLO) -> str:
    return f'{{slo="{slo.name}"}}'


def _describe_sli(slo: SLO) -> str:
    if slo.sli.type == "latency":
        return f"requests took longer than {format_le(slo.sli.threshold)} s"
    return "requests failed"


def _alert_rule(slo: SLO, alert: BurnRateAlert) -> dict:
    budget = slo.budget
    conds = []
    for br in alert.burn_rates:
        thr = _num(br.factor * budget)
        conds.append(f"(\n  {RECORD_PREFIX}{br.long}{_selector(slo)} > {thr}\nand\n"
                     f"  {RECORD_PREFIX}{br.short}{_selector(slo)} > {thr}\n)")
    expr = "\nor\n".join(conds)
    first = alert.burn_rates[0]
    objective_pct = f"{round(slo.objective * 100, 6):g} %"
    tiers = "; ".join(f"{b.factor:g}x over {b.long} and {b.short} (error ratio > "
                      f"{round(b.factor * budget * 100, 6):g} %)" for b in alert.burn_rates)
    hours_to_exhaust = _seconds(slo.window) / 3600 / first.factor
    burn_query = (f'{{{{ with query "{RECORD_PREFIX}{first.long}{{slo=\\"{slo.name}\\"}} / {_num(budget)}" }}}}'
                  f'{{{{ . | first | value | printf "%.1f" }}}}{{{{ end }}}}')
    longs = " or ".join(b.long for b in alert.burn_rates)
    description = (
        f"{{{{ $value | humanizePercentage }}}} of {slo.service} {_describe_sli(slo)} over the last "
        f"{longs} (SLO {slo.name}: {objective_pct} over {slo.window}, error budget "
        f"{round(budget * 100, 6):g} %). The {first.long} burn rate is {burn_query}x; this alert fires above "
        f"{tiers}. At {first.factor:g}x the whole {slo.window} budget is spent in about "
        f"{hours_to_exhaust:.0f} hours."
    )
    what = "latency" if slo.sli.type == "latency" else "error"
    summary = (f"{slo.service}: {what} budget of SLO {slo.name} burning at >= {first.factor:g}x "
               f"({{{{ $value | humanizePercentage }}}} bad over {first.long})")
    labels = {"severity": alert.severity, "team": slo.team, **_labels(slo), **slo.labels}
    rule = {"alert": alert.name, "expr": expr}
    if alert.for_ not in ("0m", "0h", "0d"):
        rule["for"] = alert.for_
    rule["labels"] = labels
    rule["annotations"] = {"summary": summary, "description": description,
                           "runbook": slo.runbook, "dashboard": slo.dashboard}
    return rule


# --- Families: SLOs that read the same metric with the same selector shape share their recording rules. ---

_MATCHER_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*'
                         r'("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`)\s*(?:,|$)')
_RESERVED = {"__name__", "slo", "sli", "service", "slo_family", "le"}
"""Label names that never become a family key: the SLO labels of the records, the family label, the bucket label."""
_RE2_META = set("\\.+*?()|[]{}^$")


def _parse_matchers(inner: str) -> list[tuple[str, str, str]] | None:
    """`a="b",c=~"d"` -> [(name, op, literal as written)]; None if it is not a plain list of matchers."""
    out, pos, inner = [], 0, inner.strip()
    while inner[pos:].strip():
        m = _MATCHER_RE.match(inner, pos)
        if not m:
            return None
        out.append((m.group(1), m.group(2), m.group(3)))
        pos = m.end()
    return out


def _parse_selector(selector: str) -> tuple[str, list[tuple[str, str, str]]] | None:
    m = _SELECTOR_RE.match(selector.strip())
    if not m:
        return None
    matchers = _parse_matchers(_matchers(m.group(2) or ""))
    return None if matchers is None else (m.group(1), matchers)


def _equalities(matchers: list[tuple[str, str, str]]) -> dict[str, str]:
    """{label: value} of the `label="value"` matchers that can be a family key (plain value, label used once)."""
    names = [m[0] for m in matchers]
    return {n: lit[1:-1] for n, op, lit in matchers
            if op == "=" and names.count(n) == 1 and n not in _RESERVED and lit.startswith('"')
            and "\\" not in lit and len(lit) > 2}


def _q(value: str) -> str:
    """A PromQL double-quoted string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _regex_literal(values: list[str]) -> str:
    """A PromQL string literal of an RE2 alternation that matches exactly these values."""
    return _q("|".join("".join("\\" + c if c in _RE2_META else c for c in v) for v in values))


def _shape(slo: SLO) -> tuple[tuple, dict[str, str], dict]:
    """(family signature, key {label: value}, parsed selectors) of a validated SLO.

    Two SLOs are in one family when they have the same SLI type, metrics and matchers except for the values of
    the key labels: the labels matched with `=` in every selector of the SLO (availability: errors and total
    with the same value). A selector that is not a plain list of matchers makes a family of its own.
    """
    sli = slo.sli
    if sli.type == "availability":
        errors, total = _parse_selector(sli.errors), _parse_selector(sli.total)
        if errors is None or total is None:
            return ("own", slo.name), {}, {}
        e_eq, t_eq = _equalities(errors[1]), _equalities(total[1])
        key = {k: v for k, v in t_eq.items() if e_eq.get(k) == v}
        rest = lambda ms: tuple(sorted(m for m in ms if m[0] not in key))  # noqa: E731
        sig = ("availability", errors[0], rest(errors[1]), total[0], rest(total[1]), tuple(sorted(key)))
        return sig, key, {"errors": errors, "total": total}
    matchers = _parse_matchers(sli.selector)
    if matchers is None:
        return ("own", slo.name), {}, {}
    key = _equalities(matchers)
    sig = ("latency", sli.histogram, format_le(sli.threshold),
           tuple(sorted(m for m in matchers if m[0] not in key)), tuple(sorted(key)))
    return sig, key, {"selector": matchers}


def families(slos: list[SLO]) -> list[dict]:
    """Validated SLOs grouped into families: {"id", "sli", "keys" (label names), "slos", "members" [(slo, key)],
    "parsed" (the first member's parsed selectors)}, in the order of their first SLO."""
    out: dict[tuple, dict] = {}
    for s in slos:
        sig, key, parsed = _shape(s)
        if sig not in out:
            n = sum(f["sli"] == s.sli.type for f in out.values()) + 1
            out[sig] = {"id": f"{s.sli.type}-{n}", "sli": s.sli.type, "keys": sorted(key),
                        "slos": [], "members": [], "parsed": parsed}
        out[sig]["slos"].append(s)
        out[sig]["members"].append((s, key))
    return list(out.values())


def _family_selector(family: dict, metric: str, matchers: list[tuple[str, str, str]], extra: str = "") -> str:
    """metric{the shared matchers, each key label matched against every value of the family}."""
    parts = []
    for name, op, lit in matchers:
        if name in family["keys"]:
            values = sorted({key[name] for _, key in family["members"]})
            parts.append(f"{name}={_q(values[0])}" if len(values) == 1 else f"{name}=~{_regex_literal(values)}")
        else:
            parts.append(f"{name}{op}{lit}")
    return _with_matchers(metric, ",".join(parts), extra)


def _family_event_rates(family: dict, window: str) -> tuple[str, str]:
    """PromQL of (bad events/s, all events/s) over `window`, one series per key of the family, from raw counters."""
    by = f" by ({', '.join(family['keys'])})" if family["keys"] else ""
    first = family["slos"][0]
    sli = first.sli
    if family["sli"] == "availability":
        if family["parsed"]:
            errors = _family_selector(family, *family["parsed"]["errors"])
            total = _family_selector(family, *family["parsed"]["total"])
        else:
            errors, total = sli.errors, sli.total
        total_rate = f"sum{by} (rate({total}[{window}]))"
        # no 5xx series yet is 0 bad events, not no data: 0 for every key of the family (the info series, not a
        # second read of the total counters); a key without any traffic stays without data once divided by total
        zero = f"0 * group{by} ({RECORD_INFO}{{slo_family={_q(family['id'])}}})"
        return f"(\n  sum{by} (rate({errors}[{window}]))\n  or\n  {zero}\n)", total_rate
    le = "le=" + _q(format_le(sli.threshold))
    if family["parsed"]:
        count = _family_selector(family, sli.histogram + "_count", family["parsed"]["selector"])
        bucket = _family_selector(family, sli.histogram + "_bucket", family["parsed"]["selector"], le)
    else:
        count = _with_matchers(sli.histogram + "_count", sli.selector)
        bucket = _with_matchers(sli.histogram + "_bucket", sli.selector, le)
    count_rate = f"sum{by} (rate({count}[{window}]))"
    return f"(\n  {count_rate}\n  -\n  sum{by} (rate({bucket}[{window}]))\n)", count_rate


def _per_slo(family: dict, expr: str) -> str:
    """`expr` (one series per key) as one series per SLO of the family, labelled slo, sli, service only."""
    body = expr.replace("\n", "\n    ")
    return (f"sum by (slo, sli, service) (\n  {RECORD_INFO}{{slo_family={_q(family['id'])}}}\n"
            f"  * on ({', '.join(family['keys'])}) group_left ()\n  (\n    {body}\n  )\n)")


def info_expr(family: dict) -> str:
    """PromQL that returns one series per SLO of the family, value 1, labelled slo, sli, service, slo_family and
    the SLO's key labels: `absent()` of a metric that does not exist returns its equality matchers as labels.
    A balanced tree of `or`, so that evaluating it stays linear in the number of SLOs."""
    leaves = []
    for s, key in family["members"]:
        labels = {**_labels(s), "slo_family": family["id"], **key}
        leaves.append(f"absent({INFO_PLACEHOLDER}{{{','.join(f'{k}={_q(v)}' for k, v in labels.items())}}})")

    def tree(items: list[str]) -> str:
        if len(items) == 1:
            return items[0]
        mid = len(items) // 2
        return f"(\n{tree(items[:mid])}\nor\n{tree(items[mid:])}\n)"
    return tree(leaves)


def _filter(all_slos: list[SLO], subset: list[SLO]) -> str:
    """`{slo=~"a|b"}` selecting the subset's SLOs, or `` when the subset is every SLO."""
    if len(subset) == len(all_slos):
        return ""
    return f"{{slo=~{_regex_literal([s.name for s in subset])}}}"


def _derived(window: str, sel: str = "") -> str:
    """The bad ratio over `window` of every selected SLO, from the recorded 5m event rates; SLOs that are no
    longer defined (no info series) are dropped, not carried for the length of the window."""
    return (f"sum_over_time({RECORD_BAD}{sel}[{window}])\n/\n"
            f"sum_over_time({RECORD_TOTAL}{sel}[{window}])\nand on (slo)\n{RECORD_INFO}")


def derived_ratio_expr(slo: SLO, window: str) -> str:
    """PromQL of one SLO's bad ratio over `window` from the recorded 5m event rates (RECORD_BAD, RECORD_TOTAL).

    sum_over_time of evenly spaced rate samples / sum_over_time of the same spacing = bad events / all events.
    sum (not avg) because the bad rate of an availability SLO also exists (as 0) when there was no traffic.
    """
    sel = _selector(slo)
    return (f"sum_over_time({RECORD_BAD}{sel}[{window}])\n/\n"
            f"sum_over_time({RECORD_TOTAL}{sel}[{window}])")


def _reads_short(alert: BurnRateAlert) -> bool:
    return any(w in SHORT_WINDOWS for b in alert.burn_rates for w in (b.long, b.short))


def _alert_group(alert: BurnRateAlert) -> str:
    """Where an alert is evaluated: after the ratios it reads, at the pace its own wait allows.

    Reads no short window: GROUP_LONG (its inputs change only there). Reads a short window and waits a `for` of at
    least SUSTAINED_FOR: GROUP_SUSTAINED. Otherwise (the critical tier, no `for`): GROUP_FAST, after the ratios of
    this evaluation."""
    if not _reads_short(alert):
        return GROUP_LONG
    return GROUP_SUSTAINED if _seconds(alert.for_) >= _seconds(SUSTAINED_FOR) else GROUP_FAST


def fast_windows(slos: list[SLO]) -> tuple[str, ...]:
    """The short windows an alert of the fast or sustained group reads: computed from the raw counters every fast
    interval. The other short windows (1h with the policy's tiers) are computed every LONG_INTERVAL."""
    read = {w for s in slos for a in s.alerts if _alert_group(a) != GROUP_LONG
            for b in a.burn_rates for w in (b.long, b.short)}
    return tuple(w for w in SHORT_WINDOWS if w in read)


def _interval_times(interval: str, factor: int) -> str:
    """`interval` x factor as a Prometheus duration (30s x 2 = 1m, 5s x 2 = 10s)."""
    if not isinstance(interval, str) or not vocabulary.DURATION_RE.match(interval):
        raise SLOError(f"rule interval {interval!r} is not a duration such as 30s")
    ms = round(vocabulary.duration_seconds(interval) * 1000) * factor
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _exhaustion_expr(window: str, budget: float, sel: str) -> str:
    """Seconds until the error budget is spent at the burn of the last FORECAST_BURN_WINDOW: remaining x window /
    burn rate (burn = bad ratio / budget). 0 once spent; no series while nothing burns (never, at this pace)."""
    scale = _num(budget * _seconds(window))
    return (f"clamp_min({RECORD_BUDGET}{sel}, 0) * {scale}\n/\n({RECORD_PREFIX}{FORECAST_BURN_WINDOW}{sel} > 0)\n"
            f"or\nclamp_min({RECORD_BUDGET}{sel} <= 0, 0)")


def forecast_alert_rules(slos: list[SLO]) -> list[dict]:
    """The ticket when an SLO's budget is projected to run out within FORECAST_HORIZON at the current burn: one
    rule per service (and team, dashboard, extra labels) for its SLOs, one alert per SLO (label slo)."""
    groups: dict[tuple, list[SLO]] = {}
    for s in slos:
        key = (s.service, s.team, s.dashboard, tuple(sorted(s.labels.items())))
        groups.setdefault(key, []).append(s)
    horizon = _seconds(FORECAST_HORIZON)
    left = ("{{ if eq $value 0.0 }}is spent{{ else }}runs out in {{ $value | humanizeDuration }} at the current "
            "burn{{ end }}")
    rules = []
    for (service, team, dashboard, extra), members in groups.items():
        rules.append({
            "alert": FORECAST_ALERT,
            "expr": f"{RECORD_EXHAUSTION}{_filter(slos, members)} < {horizon}",
            "for": FORECAST_FOR,
            "labels": {"severity": "warning", "team": team, "service": service, **dict(extra)},
            "annotations": {
                "summary": f"{service}: error budget of SLO {{{{ $labels.slo }}}} {left}",
                "description": (
                    f"At the error ratio of the last {FORECAST_BURN_WINDOW}, the error budget of SLO "
                    f"{{{{ $labels.slo }}}} ({service}) {left}. This ticket fires when it runs out in less than "
                    f"{FORECAST_HORIZON}, for {FORECAST_FOR}: the rest of the compliance window has little or no "
                    f"budget left for incidents or risky changes."),
                "runbook": FORECAST_RUNBOOK, "dashboard": dashboard}})
    return rules


def rule_groups(slos: list[SLO], fast_interval: str = FAST_INTERVAL) -> list[dict]:
    """The Prometheus rule groups of all validated SLOs (docs/alerting-policy.md, "How the SLO rules are shaped").

    `slo:info` (INFO_INTERVAL): the info series of every SLO (how a family's keys map to SLOs), one rule.
    `slo:fast` (`fast_interval`, FAST_INTERVAL by default; an environment may evaluate it more often): the short
    windows that the fast and sustained alerts read (fast_windows) from the raw counters, one rule per window (per
    family inside); then the alerts without a long wait that read a short window (the critical tier). Recordings and
    the alerts that read them share the group: rules of a group run in order, so an alert sees this evaluation's
    ratios.
    `slo:sustained` (twice `fast_interval`): the alerts that read a short window and wait at least SUSTAINED_FOR
    (the high tier).
    `slo:long` (LONG_INTERVAL): per family the 5m event rates, the other short windows and RAW_LONG_WINDOWS from the
    raw counters; one rule per derived window (DERIVED_WINDOWS and each compliance window) for all SLOs; objective,
    budget and projected exhaustion; then the alerts that read long windows only and the forecast tickets.
    """
    if not slos:
        return []
    fams = families(slos)

    def union(exprs: list[str]) -> str:
        """One rule for several families (or objectives, budgets): one record name is written by one rule only."""
        return exprs[0] if len(exprs) == 1 else "\nor\n".join(f"(\n{e}\n)" for e in exprs)

    def ratios(window: str) -> str:
        return union([_per_slo(f, "{}\n/\n{}".format(*_family_event_rates(f, window))) for f in fams])

    def by(key) -> dict[Any, list[SLO]]:
        out: dict[Any, list[SLO]] = {}
        for s in slos:
            out.setdefault(key(s), []).append(s)
        return out

    fresh = fast_windows(slos)
    info = [{"record": RECORD_INFO, "expr": union([info_expr(f) for f in fams])}]
    fast = [{"record": f"{RECORD_PREFIX}{w}", "expr": ratios(w)} for w in fresh]
    long = [{"record": RECORD_BAD, "expr": union([_per_slo(f, _family_event_rates(f, "5m")[0]) for f in fams])},
            {"record": RECORD_TOTAL, "expr": union([_per_slo(f, _family_event_rates(f, "5m")[1]) for f in fams])}]
    long += [{"record": f"{RECORD_PREFIX}{w}", "expr": ratios(w)}
             for w in (*(w for w in SHORT_WINDOWS if w not in fresh), *RAW_LONG_WINDOWS)]
    long += [{"record": f"{RECORD_PREFIX}{w}", "expr": _derived(w)} for w in DERIVED_WINDOWS]
    long += [{"record": f"{RECORD_PREFIX}{window}", "expr": _derived(window, _filter(slos, members))}
             for window, members in by(lambda s: s.window).items()]
    long.append({"record": RECORD_OBJECTIVE, "expr": union([
        f"{_num(objective)} * sum by (slo, sli, service) ({RECORD_INFO}{_filter(slos, members)})"
        for objective, members in by(lambda s: s.objective).items()])})
    long.append({"record": RECORD_BUDGET, "expr": union([
        f"1 - {RECORD_PREFIX}{window}{_filter(slos, members)} / {_num(budget)}"
        for (window, budget), members in by(lambda s: (s.window, s.budget)).items()])})
    long.append({"record": RECORD_EXHAUSTION, "expr": union([
        _exhaustion_expr(window, budget, _filter(slos, members))
        for (window, budget), members in by(lambda s: (s.window, s.budget)).items()])})
    sustained: list[dict] = []
    placed = {GROUP_FAST: fast, GROUP_SUSTAINED: sustained, GROUP_LONG: long}
    for s in slos:
        for a in s.alerts:
            placed[_alert_group(a)].append(_alert_rule(s, a))
    long += forecast_alert_rules(slos)
    groups = [{"name": GROUP_INFO, "interval": INFO_INTERVAL, "rules": info},
              {"name": GROUP_FAST, "interval": fast_interval, "rules": fast}]
    if sustained:
        groups.append({"name": GROUP_SUSTAINED, "interval": _interval_times(fast_interval, 2), "rules": sustained})
    groups.append({"name": GROUP_LONG, "interval": LONG_INTERVAL, "rules": long})
    return groups


def slo_rule_groups(slo: SLO) -> list[dict]:
    """The rule groups of a single validated SLO (rule_groups of a list of one)."""
    return rule_groups([slo])


def standalone_expr(expr: str, groups: list[dict]) -> str:
    """`expr` with every read of the info series replaced by the info rule's own expression (filtered by the
    selector it had), so that it can be evaluated where that rule never ran (range queries over backfilled
    history, tests)."""
    info = next(r["expr"] for g in groups for r in g["rules"] if r.get("record") == RECORD_INFO)

    def repl(m: re.Match) -> str:
        sel = m.group(1)
        if not sel:
            return f"(\n{info}\n)"
        fam = re.fullmatch(r'\{slo_family="([^"]+)"\}', sel)
        if not fam:
            raise ValueError(f"standalone_expr: cannot inline {RECORD_INFO}{sel}")
        # absent(placeholder{slo_family="x"}) is {slo_family="x"} 1: keeps that family's info series
        return f"(\n(\n{info}\n) and on (slo_family) absent({INFO_PLACEHOLDER}{sel})\n)"
    return re.sub(re.escape(RECORD_INFO) + r"(\{[^}]*\})?", repl, expr)


def detection_time_seconds(objective: float, factor: float, long_window: str, bad_ratio: float) -> float:
    """Time until the long window's error ratio crosses factor x budget, from a steady bad ratio (defect 4).

    detection = (1 - SLO) x burn x window / bad-ratio; infinite when the bad ratio cannot reach the threshold.
    """
    threshold = (1 - objective) * factor
    if bad_ratio <= threshold:
        return math.inf
    return threshold * _seconds(long_window) / bad_ratio
