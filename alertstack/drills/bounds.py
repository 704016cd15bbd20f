"""The predicted worst-case time from fault to notification, from the alert rule and the deployed intervals.

bound = detection + scrape interval + recording-rule interval + alert evaluation interval + `for` + group_wait

- detection, burn-rate alerts: (1 - SLO) x burn x window / bad-ratio (docs/alerting-policy.md); with a long
  and a short window both must cross, so the larger of the two.
- detection, threshold alerts: the expression's longest range window (a step change is fully inside the window by
  then), or a caller-supplied estimate (a leak that grows over minutes).
The intervals are arguments: the caller passes the values deployed (Prometheus /api/v1/rules gives each group's
interval and each rule's `for`; the environment's inventory gives scrape_interval and group_wait).
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Mapping

from alertstack.vocabulary import duration_seconds as seconds
from alertstack.vocabulary import longest_range_s as expression_window_s  # [5m] -> 300; 0 for an instant expression

if TYPE_CHECKING:
    from alertstack.slo import SLO


def burn_rate_detection_s(objective: float, factor: float, window, bad_ratio: float, prior: float = 0.0) -> float:
    """When the window's bad ratio crosses burn x budget (inf if never), under a steady request rate.

    From a clean window (prior 0): (1 - SLO) x burn x window / bad-ratio. With a bad ratio `prior` already in the
    window when the fault starts, the window's ratio moves linearly from prior to bad-ratio over one window:
    (threshold - prior) x window / (bad-ratio - prior), 0 when the prior is already above the threshold.
    """
    if not 0 < objective < 1:
        raise ValueError(f"objective {objective!r} must be between 0 and 1")
    if not 0 < bad_ratio <= 1:
        raise ValueError(f"bad ratio {bad_ratio!r} must be > 0 and <= 1")
    threshold = (1 - objective) * factor
    prior = min(max(prior or 0.0, 0.0), 1.0)
    if prior > threshold:
        return 0.0
    if bad_ratio <= threshold:
        return math.inf
    return (threshold - prior) * seconds(window) / (bad_ratio - prior)


def multiwindow_detection_s(objective: float, factor: float, long_window, short_window, bad_ratio: float,
                            priors: Mapping | None = None) -> float:
    """A multi-window burn-rate condition fires when both windows have crossed: the larger detection time.
    `priors`: {window: bad ratio in that window when the fault starts} (missing: 0)."""
    priors = priors or {}
    return max(burn_rate_detection_s(objective, factor, long_window, bad_ratio, priors.get(long_window, 0.0)),
               burn_rate_detection_s(objective, factor, short_window, bad_ratio, priors.get(short_window, 0.0)))


@dataclass
class MttdBound:
    """The parts of the predicted bound, in seconds; `total_s` is their sum."""
    detection_s: float
    scrape_interval_s: float
    evaluation_interval_s: float
    for_s: float
    group_wait_s: float
    recording_interval_s: float = 0.0
    basis: str = ""

    @property
    def total_s(self) -> float:
        return (self.detection_s + self.scrape_interval_s + self.recording_interval_s + self.evaluation_interval_s
                + self.for_s + self.group_wait_s)

    def describe(self) -> str:
        """e.g. 'detection 52s + scrape 5s + recording 30s + evaluation 30s + for 120s + group_wait 5s = 242s'."""
        parts = [("detection", self.detection_s), ("scrape", self.scrape_interval_s)]
        if self.recording_interval_s:
            parts.append(("recording", self.recording_interval_s))
        parts += [("evaluation", self.evaluation_interval_s), ("for", self.for_s), ("group_wait", self.group_wait_s)]
        text = " + ".join(f"{name} {_fmt(v)}" for name, v in parts) + f" = {_fmt(self.total_s)}"
        return f"{text} ({self.basis})" if self.basis else text

    def to_dict(self) -> dict:
        d = asdict(self)
        d["total_s"] = self.total_s
        return {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in d.items()}


def _fmt(s: float) -> str:
    return "never" if math.isinf(s) else f"{s:.0f}s"


def predict(detection_s: float, *, scrape_interval, evaluation_interval, for_, group_wait,
            recording_interval=0, basis: str = "") -> MttdBound:
    """Sum detection and the pipeline delays (each a duration string or seconds) into an MttdBound."""
    return MttdBound(detection_s=float(detection_s), scrape_interval_s=seconds(scrape_interval),
                     evaluation_interval_s=seconds(evaluation_interval), for_s=seconds(for_),
                     group_wait_s=seconds(group_wait), recording_interval_s=seconds(recording_interval), basis=basis)


def alert_windows(slo: SLO, alert_name: str) -> list[str]:
    """The long and short windows of every burn-rate pair of the SLO's alert `alert_name`."""
    return list(slo.alert(alert_name).windows())


def slo_alert_bound(slo: SLO, alert_name: str, bad_ratio: float, *, scrape_interval, evaluation_interval,
                    group_wait, recording_interval=0, for_=None, priors: Mapping | None = None) -> MttdBound:
    """Bound for a burn-rate alert of a validated SLO (alertstack.slo), under a steady `bad_ratio` of bad events.

    `for_` overrides the SLO's `for` (pass the deployed rule's); the fastest of the alert's burn-rate pairs counts.
    `priors`: {window: bad ratio already in it when the fault starts} (measured before the fault; missing: 0).
    """
    alert = slo.alert(alert_name)
    detections = [(multiwindow_detection_s(slo.objective, b.factor, b.long, b.short, bad_ratio, priors), b)
                  for b in alert.burn_rates]
    detection, b = min(detections, key=lambda x: x[0])
    basis = (f"{b.factor:g}x over {b.long}/{b.short} of a {slo.objective * 100:g} % SLO at "
             f"{bad_ratio * 100:g} % bad")
    prior = (priors or {}).get(b.long)
    if prior:
        basis += f", {prior * 100:.3g} % bad in the {b.long} window before the fault"
    return predict(detection, scrape_interval=scrape_interval, evaluation_interval=evaluation_interval,
                   for_=alert.for_ if for_ is None else for_, group_wait=group_wait,
                   recording_interval=recording_interval, basis=basis)


def threshold_alert_bound(expr: str, for_, *, scrape_interval, evaluation_interval, group_wait,
                          recording_interval=0, detection_s: float | None = None) -> MttdBound:
    """Bound for a threshold alert: detection = the expression's longest window unless `detection_s` is given."""
    if detection_s is None:
        detection_s = expression_window_s(expr)
        basis = f"threshold; expression window {_fmt(detection_s)}"
    else:
        basis = f"threshold; estimated detection {_fmt(detection_s)}"
    return predict(detection_s, scrape_interval=scrape_interval, evaluation_interval=evaluation_interval,
                   for_=for_, group_wait=group_wait, recording_interval=recording_interval, basis=basis)


def deployed_rule(rules_api: Mapping, alert_name: str) -> dict:
    """Find an alerting rule in Prometheus' /api/v1/rules answer.

    Returns {"query", "for_s", "evaluation_interval_s", "recording_interval_s", "labels"}: the interval of the
    rule's group, and the largest interval of the groups that record a series the query reads (0 if none).
    """
    groups = rules_api.get("data", rules_api).get("groups", [])
    found = None
    for g in groups:
        for r in g.get("rules", []):
            if r.get("type") == "alerting" and r.get("name") == alert_name:
                found = (g, r)
                break
        if found:
            break
    if not found:
        raise LookupError(f"alert {alert_name} is not loaded in Prometheus (not in /api/v1/rules)")
    group, rule = found
    query = rule.get("query", "")
    # A series recorded earlier in the alert's own group is fresh when the alert reads it (one evaluation runs the
    # group's rules in order): no recording delay of its own.
    same_pass = {r.get("name") for r in group.get("rules", [])[:group.get("rules", []).index(rule)]}
    rec_intervals = [0.0 if g is group and r.get("name") in same_pass else float(g.get("interval", 0))
                     for g in groups for r in g.get("rules", [])
                     if r.get("type") == "recording" and re.search(rf"(?<![\w:]){re.escape(r['name'])}(?![\w:])",
                                                                   query)]
    return {"query": query, "for_s": float(rule.get("duration", 0)),
            "evaluation_interval_s": float(group.get("interval", 0)),
            "recording_interval_s": max(rec_intervals, default=0.0), "labels": rule.get("labels", {})}
