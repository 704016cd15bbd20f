"""Score alert episodes against labelled incidents: TP/FP per alert, detection and reset times, pages, targets.

An episode answers an incident when the alert's `family` label is the incident's family (the SLO's runbook slug:
inference-errors, inference-latency, feature-drift ...) and it starts firing between the incident's onset and
ATTRIBUTION_S after its end (long windows fire late). An episode that answers no incident is a false positive.
A page is an episode of an alert whose severity is in PAGE_SEVERITIES (the policy's two page tiers: critical, which
goes to PagerDuty, and high, e-mail to on-call at any hour).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from alertstack.backtest.engine import Episode, Evaluation
from alertstack.backtest.history import History, Incident

PAGE_SEVERITIES = ("critical", "high")
SCORED_SEVERITIES = ("critical", "high", "warning")
"""info alerts (Watchdog) are never for a human: not scored."""
ATTRIBUTION_S = 6 * 3600
SIGNIFICANT_BUDGET = 0.02
"""An incident that consumes at least 2 % of the monthly error budget must page (issue 12)."""
TARGETS = {"outage_page_s": 120, "burst10_page_s": 300}


@dataclass
class AlertScore:
    alert: str
    severity: str
    family: str
    episodes: int = 0
    true_positives: int = 0
    false_positives: int = 0
    detected: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    detection_s: list[float] = field(default_factory=list)
    reset_s: list[float] = field(default_factory=list)
    firing_s: float = 0.0
    false_episodes: list[Episode] = field(default_factory=list)

    @property
    def is_page(self) -> bool:
        return self.severity in PAGE_SEVERITIES


@dataclass
class IncidentScore:
    incident: Incident
    alerts: dict[str, Episode] = field(default_factory=dict)   # alert -> first episode that answered it
    last_resolved: dict[str, float | None] = field(default_factory=dict)

    @property
    def first_page(self) -> tuple[str, float] | None:
        pages = [(ep.fired_at, name) for name, ep in self.alerts.items() if ep.severity in PAGE_SEVERITIES]
        if not pages:
            return None
        at, name = min(pages)
        return name, at - self.incident.start

    @property
    def must_page(self) -> bool:
        return self.incident.kind != "drift" and (self.incident.budget or 0) >= SIGNIFICANT_BUDGET


@dataclass
class Score:
    alerts: list[AlertScore]
    incidents: list[IncidentScore]
    days: float
    episodes: list[Episode]
    out_of_scope: list[str] = field(default_factory=list)
    labelled: bool = True
    """False for a real Prometheus's history (--from-prometheus): no incident is known, so no episode can be called
    false and no target applies; the report lists the alerts, their episodes and durations."""

    @property
    def false_pages(self) -> list[Episode]:
        return [ep for a in self.alerts if a.is_page for ep in a.false_episodes]

    def pages_per_week(self, alert: AlertScore | None = None) -> float:
        chosen = [alert] if alert else [a for a in self.alerts if a.is_page]
        return sum(a.episodes for a in chosen) / (self.days / 7)

    def targets(self) -> list[tuple[str, bool, str]]:
        """The issue's targets: (name, met, detail); none for unlabelled history."""
        if not self.labelled:
            return []
        out = [("0 false pages", not self.false_pages, f"{len(self.false_pages)} false page(s)")]
        must = [s for s in self.incidents if s.must_page]
        unpaged = [s.incident.id for s in must if not s.first_page]
        out.append((f"every incident consuming >= {SIGNIFICANT_BUDGET:.0%} of the budget paged", not unpaged,
                    f"{len(must) - len(unpaged)}/{len(must)} paged" + (f"; missed: {', '.join(unpaged)}"
                                                                       if unpaged else "")))
        for kind, limit, label in (("outage", TARGETS["outage_page_s"], "total outage paged <= 2 min"),
                                   ("burst-10pct", TARGETS["burst10_page_s"], "10 % error burst paged <= 5 min")):
            chosen = [s for s in self.incidents if s.incident.kind == kind or s.incident.id == kind]
            if not chosen:
                continue
            times = {s.incident.id: (s.first_page[1] if s.first_page else None) for s in chosen}
            ok = all(t is not None and t <= limit for t in times.values())
            detail = ", ".join(f"{i}: {fmt_s(t) if t is not None else 'not paged'}" for i, t in times.items())
            out.append((label, ok, detail))
        return out

    @property
    def ok(self) -> bool:
        return all(met for _, met, _ in self.targets())


def fmt_s(s: float | None) -> str:
    if s is None:
        return "-"
    sign = "-" if s < 0 else ""
    s = abs(s)
    if s < 120:
        return f"{sign}{s:.0f} s"
    if s < 7200:
        return f"{sign}{s / 60:.1f} min"
    return f"{sign}{s / 3600:.1f} h"


def _answers(ep: Episode, incident: Incident) -> bool:
    return (ep.labels.get("family") == incident.family
            and incident.start <= ep.fired_at <= incident.end + ATTRIBUTION_S)


def score(evaluation: Evaluation, history: History, scope: set[str] | None = None) -> Score:
    """Score the alerts named in `scope` (all if None) whose severity is in SCORED_SEVERITIES."""
    alerts: dict[str, AlertScore] = {}
    for rule in evaluation.rules:
        if rule.alert and rule.labels.get("severity") in SCORED_SEVERITIES and (scope is None or rule.alert in scope):
            alerts.setdefault(rule.alert, AlertScore(rule.alert, rule.labels.get("severity", ""),
                                                     rule.labels.get("family", "")))
    incidents = {i.id: IncidentScore(i) for i in history.incidents}
    end = evaluation.end
    for ep in sorted(evaluation.episodes, key=lambda e: e.fired_at):
        a = alerts.get(ep.alert)
        if a is None:
            continue
        a.episodes += 1
        a.firing_s += (ep.resolved_at or end) - ep.fired_at
        answered = [s for s in incidents.values() if _answers(ep, s.incident)]
        if not answered:
            a.false_positives += 1
            a.false_episodes.append(ep)
            continue
        a.true_positives += 1
        for s in answered:
            s.alerts.setdefault(ep.alert, ep)
            s.last_resolved[ep.alert] = ep.resolved_at
    for a in alerts.values():
        for s in incidents.values():
            if s.incident.family != a.family:
                continue
            ep = s.alerts.get(a.alert)
            if ep is None:
                a.missed.append(s.incident.id)
                continue
            a.detected.append(s.incident.id)
            a.detection_s.append(ep.fired_at - s.incident.start)
            resolved = s.last_resolved.get(a.alert)
            if resolved is not None:
                a.reset_s.append(resolved - s.incident.end)
    return Score(sorted(alerts.values(), key=lambda a: (a.family, a.alert)),
                 sorted(incidents.values(), key=lambda s: s.incident.start),
                 (evaluation.end - evaluation.start) / 86400, [e for e in evaluation.episodes if e.alert in alerts],
                 sorted({r.alert for r in evaluation.rules if r.alert and r.alert not in alerts}),
                 labelled=history.source == "synthetic")


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None
