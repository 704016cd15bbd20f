"""Write incidents/<incident-id>/: timeline.json, review.md (a blameless post-incident review pre-filled from the
measurements) and chart.png (the key metric across the incident, with the events marked).

`collect()` asks Prometheus for the numbers (the queries it used are kept for the review); `write_incident()`
renders. The review fills docs/process/post-incident-review-template.md (its `{{ placeholder }}` part, after the
first `---` line) when it exists, else the built-in structure below; the measured appendix follows either way.
The human sections (root cause, 5 whys, action items with owner and due date) are left for the review meeting.
"""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from alertstack.drills import timeline as tl
from alertstack.drills.timeline import Timeline, iso
from alertstack.paths import REPO_ROOT

if TYPE_CHECKING:
    from alertstack import slo as slo_types

TEMPLATE = REPO_ROOT / "docs" / "process" / "post-incident-review-template.md"
TO_FILL = "_(to be written in the review meeting)_"
SEVERITY_TO_SEV = {"critical": "SEV1", "high": "SEV2", "warning": "SEV3", "info": "SEV4"}
PAYLOAD_LIMIT = 4000

BUILTIN_TEMPLATE = """\
# Post-incident review: {{ title }}

| | |
|---|---|
| Incident | {{ incident_id }} |
| Date | {{ date }} |
| Severity | {{ severity }} |
| Drill | {{ drill }} |
| Authors | {{ authors }} |
| Alerts | {{ alerts }} |
| Runbooks | {{ runbooks }} |

## Summary
{{ summary }}

## Impact
- Users / requests affected: {{ impact_users }}
- Duration: {{ impact_duration }}
- SLO(s): {{ slo }}

## Timeline (UTC)
| Time | Event | Source |
|---|---|---|
{{ timeline_rows }}

## Detection and response times
| Measure | Definition | Value |
|---|---|---|
| Fault start | | {{ fault_start }} |
| Alert fired | | {{ alert_fired_at }} |
| First notification | | {{ notified_at }} |
| Mitigated | | {{ mitigated_at }} |
| Resolved | | {{ resolved_at }} |
| MTTD | alert fired - fault start | {{ mttd }} |
| Time to notify | first notification - fault start | {{ time_to_notify }} |
| MTTR | mitigated - fault start | {{ mttr }} |

Detection: {{ detection }}

Response: {{ response }}

## Error budget consumed
- Consumed by this incident: {{ error_budget_consumed }} of the 30-day budget
- Remaining after the incident: {{ error_budget_remaining }}

## Root cause
{{ root_cause }}

### 5 whys
1. Why? {{ why_1 }}
2. Why? {{ why_2 }}
3. Why? {{ why_3 }}
4. Why? {{ why_4 }}
5. Why? {{ why_5 }}

Contributing factors: {{ contributing_factors }}

## What went well
{{ went_well }}

## What could be improved
{{ to_improve }}

## Action items
| Action | Owner | Due date | Priority | Status |
|---|---|---|---|---|
{{ action_item_rows }}

## Lessons learned
{{ lessons_learned }}
"""

EVENT_STYLE = {  # event -> (label, colour, line style)
    tl.FAULT_INJECTED: ("fault injected", "tab:red", "-"),
    tl.ALERT_PENDING: ("alert pending", "tab:orange", ":"),
    tl.ALERT_FIRING: ("alert firing", "tab:red", "--"),
    tl.NOTIFICATION: ("first notification", "tab:purple", "--"),
    tl.MITIGATION: ("mitigation", "tab:green", "-"),
    tl.ALERT_RESOLVED: ("alert resolved", "tab:blue", "--"),
    tl.RESOLVED_NOTIFICATION: ("resolved notification", "tab:cyan", ":"),
}


def duration_text(seconds: float | None) -> str:
    """105 -> '1 min 45 s'; None -> 'n/a'."""
    if seconds is None or (isinstance(seconds, float) and math.isinf(seconds)):
        return "n/a"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def _incident_window(timeline: Timeline) -> tuple[float, float]:
    """[fault injected, alert resolved (or the end of the drill)]: the interval the budget is charged for."""
    start = timeline.first(tl.FAULT_INJECTED)
    t0 = start.at if start else timeline.started_at
    end = timeline.first(tl.ALERT_RESOLVED)
    t1 = end.at if end else (timeline.finished_at or max((e.at for e in timeline.events), default=t0))
    return t0, max(t1, t0 + 1)


# --- measurement from Prometheus --------------------------------------------------------------------------------

HELD_SHARE = 0.95
"""A remaining budget computed over less than this share of the SLO window is not yet the SLO's figure."""


def budget_queries(slo_def: slo_types.SLO, duration_s: int) -> dict:
    """The PromQL of the bad-event ratio over the incident, of the budget remaining (read at the fault and at the
    resolve) and of the seconds of the SLO window that Prometheus holds the recorded event rates for (one sample
    per evaluation of their group), for a validated SLO."""
    from alertstack import slo as slo_mod
    from alertstack import vocabulary
    sel = f'{{slo="{slo_def.name}"}}'
    interval_s = vocabulary.duration_seconds(slo_mod.LONG_INTERVAL)
    return {"bad_ratio": " ".join(slo_mod.bad_ratio_expr(slo_def, f"{duration_s}s").split()),
            "incident_rate": " ".join(slo_mod.total_rate_expr(slo_def, f"{duration_s}s").split()),
            "window_rate": f"avg_over_time({slo_mod.RECORD_TOTAL}{sel}[{slo_def.window}])",
            "remaining": f"{slo_mod.RECORD_BUDGET}{sel}",
            "held_s": f"count_over_time({slo_mod.RECORD_TOTAL}{sel}[{slo_def.window}]) * {interval_s:g}"}


def budget_consumed(bad_ratio: float, duration_s: float, objective: float, window_s: float,
                    incident_rate: float | None = None, window_rate: float | None = None) -> float:
    """Share of the SLO window's error budget spent: the incident's bad events over the bad events the budget
    allows in the window, bad ratio x incident rate x duration / ((1 - SLO) x window rate x window).

    Without both rates (events/s during the incident and on average over the window), the incident's rate is taken
    to be the window's average (the burn-rate model): a drill under extra load would then be under-counted.
    """
    traffic = incident_rate / window_rate if incident_rate and window_rate else 1.0
    return bad_ratio * traffic * duration_s / ((1 - objective) * window_s)


def collect(timeline: Timeline, prometheus_url: str, auth=None) -> dict:
    """Query Prometheus for the chart series and the error budget; every query is recorded, failures too."""
    from alertstack import api
    from alertstack import slo as slo_mod
    from alertstack.drills import bounds
    data = {"series": [], "budget": [], "queries": [], "errors": []}
    t0, t1 = _incident_window(timeline)
    start = min(timeline.started_at, t0 - 120)
    end = max(timeline.finished_at or t1, t1) + 60
    step = max(5.0, (end - start) / 300)
    expr = timeline.meta.get("key_metric")
    if expr:
        data["queries"].append({"purpose": f"chart: {timeline.meta.get('key_metric_label', 'key metric')}",
                                "query": expr, "range": [iso(start), iso(end)], "step_s": step})
        try:
            data["series"] = api.query_range(prometheus_url, expr, start, end, step, auth)
        except api.ApiError as exc:
            data["errors"].append(f"chart query failed: {exc}")
    wanted = timeline.meta.get("budget_slos") or []
    # as deployed (the runner read them and wrote them out with their burn rates: SLO.to_dict)
    slos = {s.name: s for s in (slo_mod.validate_slo(d) for d in timeline.meta.get("slos") or [])}
    if set(wanted) - set(slos):
        data["errors"].append(f"SLO definitions missing: {', '.join(sorted(set(wanted) - set(slos)))}")
    duration = int(round(t1 - t0))
    for name in wanted:
        s = slos.get(name)
        if s is None:
            continue
        q = budget_queries(s, duration)
        entry = {"slo": name, "objective": s.objective, "window": s.window, "duration_s": duration,
                 "queries": q, "bad_ratio": None, "incident_rate": None, "window_rate": None, "consumed": None,
                 "remaining_before": None, "remaining_recorded": None, "remaining": None, "held_s": None}
        asked = [("bad_ratio", "bad ratio over the incident", "bad_ratio", t1),
                 ("incident_rate", "events/s over the incident", "incident_rate", t1),
                 ("window_rate", f"events/s on average over the {s.window} window", "window_rate", t1),
                 ("remaining_before", f"remaining ({s.window}) at the fault", "remaining", t0),
                 ("remaining_recorded", f"remaining ({s.window}) at the resolve", "remaining", t1),
                 ("held_s", f"seconds of the {s.window} window Prometheus holds", "held_s", t1)]
        for _, purpose, query, at in asked:
            data["queries"].append({"purpose": f"error budget of {name}: {purpose}", "query": q[query], "at": iso(at)})
        try:
            for field, _, query, at in asked:
                entry[field] = api.scalar(prometheus_url, q[query], at, auth)
        except api.ApiError as exc:
            data["errors"].append(f"error budget query for {name} failed: {exc}")
        if entry["bad_ratio"] is not None and not math.isnan(entry["bad_ratio"]):
            entry["consumed"] = budget_consumed(entry["bad_ratio"], duration, s.objective,
                                                bounds.seconds(s.window), entry["incident_rate"],
                                                entry["window_rate"])
        entry["remaining"] = remaining_after(entry)
        data["budget"].append(entry)
    return data


# --- rendering --------------------------------------------------------------------------------------------------

def _points(series: list) -> list:
    """Prometheus matrix -> [(label, [t...], [v...])], NaN/Inf dropped."""
    out = []
    for s in series or []:
        metric = {k: v for k, v in (s.get("metric") or {}).items() if k != "__name__"}
        label = ", ".join(f"{k}={v}" for k, v in sorted(metric.items())) or "value"
        ts, vs = [], []
        for t, v in s.get("values", []):
            f = float(v)
            if math.isfinite(f):
                ts.append(float(t))
                vs.append(f)
        out.append((label, ts, vs))
    return out


def write_chart(timeline: Timeline, series: list, path: Path) -> Path:
    """chart.png: the key metric (minutes relative to the fault) with a vertical line per event."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0, _ = _incident_window(timeline)
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    try:
        plotted = False
        for label, ts, vs in _points(series):
            if ts:
                ax.plot([(t - t0) / 60 for t in ts], vs, label=label, linewidth=1.6)
                plotted = True
        if not plotted:
            ax.text(0.5, 0.5, "no data returned for the key metric", transform=ax.transAxes, ha="center",
                    va="center", color="grey")
        done = set()
        for ev in timeline.events:
            style = EVENT_STYLE.get(ev.name)
            if style is None or ev.name in done:
                continue
            done.add(ev.name)
            label, colour, ls = style
            ax.axvline((ev.at - t0) / 60, color=colour, linestyle=ls, linewidth=1.2, label=label)
        ax.set_xlabel("minutes since the fault was injected")
        ax.set_ylabel(timeline.meta.get("key_metric_label") or "key metric", fontsize=8)
        ax.set_title(f"{timeline.incident_id}: {timeline.meta.get('title', timeline.scenario)}", fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path


def _pct(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x * 100:.3g} %"


def remaining_after(b: dict) -> float | None:
    """The budget left after the incident: recorded at the fault, less what the incident consumed.

    Not the value recorded at the resolve (`remaining_recorded`): the budget record sums the 5m event rates recorded
    every LONG_INTERVAL, so it takes up to 9 minutes to count the incident's last bad requests, and an alert that
    resolves as soon as the fault is gone (gpu-oom, feature-store) resolves before that. That value is kept, to
    compare: on a burn-rate drill, whose alert resolves only once its 5m window is clean, the two agree.
    """
    if b.get("remaining_before") is None or b.get("consumed") is None:
        return b.get("remaining_recorded")
    return b["remaining_before"] - b["consumed"]


def _remaining_text(b: dict) -> str:
    """The remaining budget, with what it means: over how much of the SLO window, exhausted or not, and before."""
    from alertstack import vocabulary
    window_s = vocabulary.duration_seconds(b["window"])
    held = b.get("held_s")
    text = f"{_pct(b['remaining'])} ({b['slo']}"
    if held is not None and held < HELD_SHARE * window_s:
        held_text = duration_text(held) if held < 86400 else f"{held / 86400:.1f} days"
        text += (f", over the {held_text} of data Prometheus holds of the {b['window']} window: "
                 "not yet the SLO's figure")
    elif b["remaining"] < 0:
        text += f": the {b['window']} budget is exhausted, overspent by {_pct(-b['remaining'])} of it"
    if b.get("remaining_before") is not None and b.get("consumed") is not None:
        text += f"; {_pct(b['remaining_before'])} at the fault, less this incident's {_pct(b['consumed'])}"
    return text + ")"


def _source(ev) -> str:
    if ev.name in (tl.FAULT_INJECTED, tl.MITIGATION):
        return "drill runner (alertstack.faults)"
    if ev.name in (tl.ALERT_PENDING, tl.ALERT_FIRING, tl.ALERT_RESOLVED):
        return "Alertmanager" if ev.detail.get("source") == "alertmanager" else "Prometheus /api/v1/alerts"
    return "notification sink"


def _event_text(ev) -> str:
    d = ev.detail
    if ev.name == tl.FAULT_INJECTED:
        return f"Fault injected: {d.get('detail', '')}"
    if ev.name == tl.MITIGATION:
        prefix = "Clean-up" if d.get("cleanup") else "Mitigation"
        return f"{prefix}: `{d.get('command', '')}` ({d.get('detail', '')})"
    if ev.name in (tl.NOTIFICATION, tl.RESOLVED_NOTIFICATION):
        what = "Resolved notification" if ev.name == tl.RESOLVED_NOTIFICATION else "Notification"
        ch = f"#{d.get('channel')}" if d.get("kind") == "slack" else d.get("channel")
        return f"{what} on {d.get('kind')} {ch}"
    name = {tl.ALERT_PENDING: "pending", tl.ALERT_FIRING: "firing", tl.ALERT_RESOLVED: "resolved"}[ev.name] \
        if ev.name in (tl.ALERT_PENDING, tl.ALERT_FIRING, tl.ALERT_RESOLVED) else ev.name
    return f"{d.get('alertname', 'alert')} {name}"


def review_context(timeline: Timeline, data: dict) -> dict:
    """Every placeholder of the review template, as plain strings ('n/a' when unknown)."""
    m = timeline.measurements()
    meta = timeline.meta
    fault = timeline.first(tl.FAULT_INJECTED)
    firing = timeline.first(tl.ALERT_FIRING)
    notified = timeline.first_human_notification()
    mitigated = timeline.first(tl.MITIGATION)
    resolved = timeline.first(tl.ALERT_RESOLVED)
    alertname = meta.get("alertname", "n/a")
    annotations = meta.get("alert_annotations") or {}
    budgets = [b for b in data.get("budget", []) if b.get("consumed") is not None]
    verdict = "passed" if timeline.passed else "failed (" + "; ".join(
        f"{s.name}: {s.message or 'missed'}" for s in timeline.failed_steps()) + ")"
    channels = ", ".join(f"{e.detail.get('kind')} {e.detail.get('channel')}" for e in timeline.named(tl.NOTIFICATION))
    summary = (f"Drill of scenario {timeline.scenario}: {meta.get('fault', 'a fault was injected')}. "
               + (f"{alertname} fired {duration_text(m['mttd_s'])} after the fault and was notified on "
                  f"{channels or 'no channel'}; " if firing else f"{alertname} did not fire; ")
               + (f"the runbook mitigation ran {duration_text(m['mttr_s'])} after the fault"
                  + (f" and the alert resolved {duration_text(m['mitigation_to_resolved_s'])} later."
                     if resolved else "; the alert did not resolve within its deadline.")
                  if mitigated else "no mitigation was recorded.")
               + f" The drill {verdict}.")
    load = meta.get("load") or {}
    if load:
        impact_users = (f"{load.get('sent', 0)} requests sent by the drill's load generator: {load.get('errors', 0)} "
                        f"failed (5xx or no answer), p95 latency {load.get('p95_s', 'n/a')} s, p99 "
                        f"{load.get('p99_s', 'n/a')} s")
    else:
        impact_users = "n/a (no load generated by the drill runner)"
    bound_text = meta.get("bound_text") or "n/a"
    bound_total = (meta.get("bound") or {}).get("total_s")
    if firing and m["time_to_notify_s"] is not None and bound_total:
        within = "within" if m["time_to_notify_s"] <= bound_total else "OVER"
        verdict_bound = f" The first notification came {within} the predicted bound."
    else:
        verdict_bound = ""
    timing = meta.get("timing") or {}
    detection = (f"{alertname} ({meta.get('evaluator', 'prometheus')} rule) fired after {duration_text(m['mttd_s'])}; "
                 f"first notification after {duration_text(m['time_to_notify_s'])}. Predicted bound: {bound_text}."
                 f"{verdict_bound} Deployed timing: scrape {timing.get('scrape_interval_s', 'n/a')} s, evaluation "
                 f"{timing.get('evaluation_interval_s', 'n/a')} s, group_wait {timing.get('group_wait_s', 'n/a')} s.")
    response = (f"{meta.get('mitigation_action', 'mitigation')}: `{meta.get('mitigation_command', 'n/a')}` "
                + ("(run by a human following the runbook). " if meta.get("interactive")
                   else "(run automatically by the unattended drill once the notifications arrived). ")
                + f"Alert resolved {duration_text(m['mitigation_to_resolved_s'])} and the resolved notification "
                  f"arrived {duration_text(m['mitigation_to_resolved_notification_s'])} after the mitigation.")
    rows = "\n".join(f"| {iso(e.at)} | {_event_text(e)} | {_source(e)} |" for e in timeline.events) or "| n/a | | |"
    action_rows = "\n".join(["| _(action)_ | _(owner)_ | _(YYYY-MM-DD)_ | _(P0/P1/P2)_ | open |"] * 3)
    date = datetime.fromtimestamp(fault.at if fault else timeline.started_at, timezone.utc).strftime("%Y-%m-%d")
    return {
        "incident_id": timeline.incident_id, "title": meta.get("title", timeline.scenario), "date": date,
        "severity": SEVERITY_TO_SEV.get(meta.get("severity"), "n/a") + f" (alert severity {meta.get('severity')})",
        "drill": "yes", "authors": "drill runner (alertstack.drills); to be completed by the reviewers",
        "alerts": alertname if firing else f"none ({alertname} expected)",
        "runbooks": annotations.get("runbook_url", "n/a"),
        "summary": summary, "impact_users": impact_users,
        "impact_duration": duration_text(m["mttr_s"]) + " (fault to mitigation)",
        "slo": ", ".join(meta.get("budget_slos") or []) or "n/a",
        "error_budget_consumed": "; ".join(f"{_pct(b['consumed'])} ({b['slo']})" for b in budgets) or "n/a",
        "error_budget_remaining": "; ".join(_remaining_text(b) for b in data.get("budget", [])
                                            if b.get("remaining") is not None) or "n/a",
        "fault_start": iso(fault.at) if fault else "n/a", "alert_fired_at": iso(firing.at) if firing else "n/a",
        "notified_at": iso(notified.at) if notified else "n/a", "mitigated_at": iso(mitigated.at) if mitigated else "n/a",
        "resolved_at": iso(resolved.at) if resolved else "n/a",
        "mttd": duration_text(m["mttd_s"]), "time_to_notify": duration_text(m["time_to_notify_s"]),
        "mttr": duration_text(m["mttr_s"]), "timeline_rows": rows, "detection": detection, "response": response,
        "root_cause": TO_FILL, "why_1": TO_FILL, "why_2": TO_FILL, "why_3": TO_FILL, "why_4": TO_FILL,
        "why_5": TO_FILL, "contributing_factors": TO_FILL, "went_well": TO_FILL, "to_improve": TO_FILL,
        "action_item_rows": action_rows, "lessons_learned": TO_FILL,
    }


def template_text(path: Path = TEMPLATE) -> tuple[str, str]:
    """(template, origin): the project template's placeholder part, or the built-in one when the file is absent."""
    if path.exists():
        text = path.read_text()
        lines = text.splitlines(keepends=True)
        for i, line in enumerate(lines):
            if line.strip() == "---":
                return "".join(lines[i + 1:]).lstrip("\n"), str(path.relative_to(REPO_ROOT)
                                                                if path.is_relative_to(REPO_ROOT) else path)
        return text, str(path)
    return BUILTIN_TEMPLATE, "built-in structure (docs/process/post-incident-review-template.md not found)"


def _payload_block(payload) -> str:
    text = json.dumps(payload, indent=2, sort_keys=True, default=str)
    if len(text) > PAYLOAD_LIMIT:
        text = text[:PAYLOAD_LIMIT] + f"\n... ({len(text) - PAYLOAD_LIMIT} more characters in timeline.json)"
    return f"```json\n{text}\n```"


def appendix(timeline: Timeline, data: dict, origin: str) -> str:
    """The measured part: steps, bound, notifications with payloads, error budget and the queries used."""
    m = timeline.measurements()
    out = ["", "---", "", "## Drill measurements (generated)", "",
           f"Review structure: {origin}. Verdict: **{'PASSED' if timeline.passed else 'FAILED'}**.", "",
           "![key metric across the incident](chart.png)", "",
           "| Step | Status | Took | Deadline | Note |", "|---|---|---|---|---|"]
    for s in timeline.steps:
        out.append(f"| {s.name} | {s.status} | {duration_text(s.elapsed_s)} | "
                   f"{duration_text(s.deadline_s) if s.deadline_s else 'n/a'} | {s.message} |")
    out += ["", "| Measure | Value |", "|---|---|",
            f"| MTTD (fault -> firing) | {duration_text(m['mttd_s'])} |",
            f"| Time to notify | {duration_text(m['time_to_notify_s'])} |",
            f"| Predicted bound | {timeline.meta.get('bound_text', 'n/a')} |",
            f"| MTTR (fault -> mitigated) | {duration_text(m['mttr_s'])} |",
            f"| Fault -> alert resolved | {duration_text(m['time_to_resolve_s'])} |",
            f"| Mitigation -> resolved notification | {duration_text(m['mitigation_to_resolved_notification_s'])} |",
            ""]
    agreement = timeline.meta.get("bound_agreement")
    if agreement:
        out += [f"Measured time to notify {duration_text(agreement['measured_s'])} vs predicted bound "
                f"{duration_text(agreement['bound_s'])}: {agreement['difference_s']:+.0f} s, "
                f"{'within' if agreement['agrees'] else 'OUTSIDE'} one evaluation interval plus group_wait "
                f"({agreement['tolerance_s']:.0f} s).", ""]
    history = timeline.meta.get("history") or {}
    if history.get("days"):
        out += [f"History: {history['days']:g} days of in-SLO traffic backfilled before the stack's first scrape "
                f"(alertstack.drills.history), so the windows and the 30-day budget hold what production holds.", ""]
    shortened = timeline.meta.get("shortened") or []
    if shortened:
        out += ["### Shortened for this environment", "", "| Value | Policy | Deployed here |", "|---|---|---|"]
        out += [f"| {v['value']} | {v['policy']} | {v['deployed']} |" for v in shortened] + [""]
    budgets = data.get("budget") or []
    if budgets:
        out += ["### Error budget", "", "| SLO | Objective | Bad ratio during the incident | Duration | Consumed | "
                "Remaining at the fault | Remaining after | Recorded at the resolve |",
                "|---|---|---|---|---|---|---|---|"]
        for b in budgets:
            out.append(f"| {b['slo']} | {b['objective'] * 100:g} % over {b['window']} | {_pct(b['bad_ratio'])} | "
                       f"{duration_text(b['duration_s'])} | {_pct(b['consumed'])} | "
                       f"{_pct(b.get('remaining_before'))} | {_pct(b['remaining'])} | "
                       f"{_pct(b.get('remaining_recorded'))} |")
        out += ["", "Consumed = bad ratio x incident rate x duration / ((1 - SLO) x the window's average rate x "
                "window): the incident's bad requests over those the budget allows in the window. Remaining after = "
                "remaining at the fault - consumed. The value recorded at the resolve (slo:error_budget:"
                "remaining_ratio) lags: it counts the incident's last bad requests up to 9 minutes later.", ""]
    alerts = [e for e in timeline.events if e.name == tl.ALERT_FIRING]
    if alerts:
        out += ["### Alerts", ""]
        for e in alerts:
            out += [f"**{e.detail.get('alertname')}** firing at {iso(e.at)}", "",
                    _payload_block({"labels": e.detail.get("labels"), "annotations": e.detail.get("annotations"),
                                    "value": e.detail.get("value")}), ""]
    notes = [e for e in timeline.events if e.name in (tl.NOTIFICATION, tl.RESOLVED_NOTIFICATION)]
    out += ["### Notifications", ""]
    if not notes:
        out += ["None received.", ""]
    for e in notes:
        out += [f"**{_event_text(e)}** at {iso(e.at)}", "", _payload_block(e.detail.get("payload")), ""]
    out += ["### Queries used", ""]
    queries = data.get("queries") or []
    if timeline.meta.get("alertname"):
        queries = [{"purpose": "alert state (polled)", "query": "GET /api/v1/alerts (Prometheus), "
                    "GET /messages?alertname=" + timeline.meta["alertname"] + " (notification sink)"}] + queries
    for q in queries:
        where = f" (range {q['range'][0]} .. {q['range'][1]}, step {q['step_s']:.0f}s)" if "range" in q else \
            (f" (at {q['at']})" if q.get("at") else "")
        out += [f"- {q['purpose']}{where}:", "", "  ```promql", f"  {q['query']}", "  ```", ""]
    if data.get("errors"):
        out += ["### Measurement problems", ""] + [f"- {e}" for e in data["errors"]] + [""]
    if timeline.meta.get("note"):
        out += ["### Note", "", timeline.meta["note"], ""]
    return "\n".join(out)


class _NotAvailable(jinja2.Undefined):
    """A placeholder this module does not know renders as n/a, never blank (the template's rule)."""

    def __str__(self) -> str:
        return "n/a"


def write_review(timeline: Timeline, data: dict, path: Path, template: Path = TEMPLATE) -> Path:
    """review.md: the template filled from the measurements, then the generated appendix."""
    text, origin = template_text(template)
    env = jinja2.Environment(undefined=_NotAvailable, autoescape=False, keep_trailing_newline=True)
    body = env.from_string(text).render(**review_context(timeline, data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body.rstrip() + "\n" + appendix(timeline, data, origin) + "\n")
    return path


def write_incident(timeline: Timeline, out_dir: Path, prometheus_url: str | None = None, auth=None,
                   data: dict | None = None, template: Path = TEMPLATE) -> Path:
    """Write <out_dir>/<incident-id>/{timeline.json, review.md, chart.png}; returns the directory.

    `data` is collect()'s result; without it, Prometheus at `prometheus_url` is queried (nothing when None).
    """
    if data is None:
        data = collect(timeline, prometheus_url, auth) if prometheus_url else \
            {"series": [], "budget": [], "queries": [], "errors": ["no Prometheus URL: nothing measured"]}
    directory = Path(out_dir) / timeline.incident_id
    directory.mkdir(parents=True, exist_ok=True)
    timeline.save(directory / "timeline.json")
    write_chart(timeline, data.get("series") or [], directory / "chart.png")
    write_review(timeline, data, directory / "review.md", template)
    (directory / "measurements.json").write_text(json.dumps(
        {"budget": data.get("budget"), "queries": data.get("queries"), "errors": data.get("errors")},
        indent=2, default=str) + "\n")
    return directory
