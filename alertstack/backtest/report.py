"""The backtest's report: backtests/<id>/report.md, timeline.png (incidents vs alerts) and results.json."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from alertstack.backtest.engine import Evaluation
from alertstack.backtest.history import History
from alertstack.backtest.score import (ATTRIBUTION_S, PAGE_SEVERITIES, SIGNIFICANT_BUDGET, Score, fmt_s, median)


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f} %"


def alert_table(s: Score) -> str:
    rows = ["| alert | severity | TP | FP | incidents detected | missed | detection (median / max) | "
            "reset (median) | pages/week |", "|---|---|---|---|---|---|---|---|---|"]
    for a in s.alerts:
        if not a.episodes and not a.detected and not a.missed:
            continue
        det = f"{fmt_s(median(a.detection_s))} / {fmt_s(max(a.detection_s))}" if a.detection_s else "-"
        ppw = f"{s.pages_per_week(a):.2f}" if a.is_page else "-"
        rows.append(f"| {a.alert} | {a.severity} | {a.true_positives} | {a.false_positives} | "
                    f"{len(a.detected)}/{len(a.detected) + len(a.missed)} | {', '.join(a.missed) or '-'} | {det} | "
                    f"{fmt_s(median(a.reset_s))} | {ppw} |")
    return "\n".join(rows)


def incident_table(s: Score) -> str:
    rows = ["| incident | onset (UTC) | duration | budget consumed | must page | first page (after onset) | "
            "alerts that answered (detection / reset) |", "|---|---|---|---|---|---|---|"]
    for inc_s in s.incidents:
        i = inc_s.incident
        page = inc_s.first_page
        answered = "; ".join(
            f"{name} ({fmt_s(ep.fired_at - i.start)} / "
            f"{fmt_s(inc_s.last_resolved[name] - i.end) if inc_s.last_resolved.get(name) else 'still firing'})"
            for name, ep in sorted(inc_s.alerts.items(), key=lambda kv: kv[1].fired_at)) or "none"
        rows.append(f"| {i.id}: {i.description} | {_utc(i.start)} | {fmt_s(i.duration_s)} | {_pct(i.budget)} | "
                    f"{'yes' if inc_s.must_page else 'no'} | "
                    f"{f'{page[0]} after {fmt_s(page[1])}' if page else 'NOT PAGED'} | {answered} |")
    return "\n".join(rows)


def episode_table(s: Score) -> str:
    rows = ["| alert | severity | pending from (UTC) | firing | resolved after | budget spent meanwhile |",
            "|---|---|---|---|---|---|"]
    for ep in sorted(s.episodes, key=lambda e: e.fired_at):
        if ep.severity not in ("critical", "high", "warning"):
            continue
        dur = fmt_s((ep.resolved_at - ep.fired_at)) if ep.resolved_at else "still firing"
        rows.append(f"| {ep.alert} | {ep.severity} | {_utc(ep.active_at)} | {_utc(ep.fired_at)} | {dur} | "
                    f"{_pct(ep.budget)} |")
    return "\n".join(rows)


def targets_table(s: Score) -> str:
    rows = ["| target | met | detail |", "|---|---|---|"]
    rows += [f"| {name} | {'yes' if met else '**no**'} | {detail} |" for name, met, detail in s.targets()]
    return "\n".join(rows)


def write_chart(path: Path, s: Score, hist: History) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    alerts = [a for a in s.alerts if a.episodes]
    fig, ax = plt.subplots(figsize=(14, 1.2 + 0.45 * (len(alerts) + 2)))
    day0 = hist.start
    days = lambda t: (t - day0) / 86400  # noqa: E731
    y = 0
    for inc in hist.incidents:
        ax.broken_barh([(days(inc.start), max(days(inc.end) - days(inc.start), 0.02))], (y - 0.4, 0.8),
                       color="black")
        ax.annotate(inc.id, (days(inc.start), y + 0.45), fontsize=6, rotation=30)
    labels = ["labelled incidents"]
    colours = {"critical": "tab:red", "high": "tab:orange", "warning": "tab:olive"}
    for a in alerts:
        y += 1
        labels.append(f"{a.alert} ({a.severity})")
        for ep in s.episodes:
            if ep.alert != a.alert:
                continue
            end = ep.resolved_at or hist.end
            false = ep in a.false_episodes
            ax.broken_barh([(days(ep.fired_at), max(days(end) - days(ep.fired_at), 0.02))], (y - 0.35, 0.7),
                           color=colours.get(a.severity, "grey"), edgecolor="blue" if false else None,
                           hatch="//" if false else None)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, (hist.end - hist.start) / 86400)
    ax.set_xlabel(f"days since {_utc(hist.start)} UTC (hatched: false positive)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def markdown(s: Score, hist: History, ev: Evaluation, rules_dir: str, seed: int, env: str) -> str:
    synthetic = hist.source == "synthetic"
    head = [f"# Backtest: {env if rules_dir.find('rendered') >= 0 else rules_dir}",
            "",
            f"- rules: `{rules_dir}` ({sum(1 for r in ev.rules if r.alert)} alerts, "
            f"{sum(1 for r in ev.rules if r.record)} recording rules in {ev.levels} dependency levels)",
            f"- history: {'synthetic, seed ' + str(seed) if synthetic else 'raw series of ' + hist.source}, "
            f"{_utc(hist.start)} to {_utc(hist.end)} UTC ({s.days:.0f} days, {hist.series} series)"
            + (f", {len(hist.incidents)} labelled incidents, {len(hist.noise)} unlabelled blips and deploys"
               if synthetic else ""),
            "- engine: Prometheus (the project's image) on backfilled blocks; recording rules evaluated level by "
            "level at their group's interval, alerts with their `for` (docs/alerting-policy.md, Backtest)",
            f"- a page is an alert of severity {' or '.join(PAGE_SEVERITIES)}; an alert answers an incident of its "
            f"family if it fires between onset and {ATTRIBUTION_S // 3600} h after the end; scored from "
            f"hour 6 on (the page windows are full)",
            f"- not scored ({len(s.out_of_scope)}): alerts that read no series of the history, and info alerts "
            f"(Watchdog)",
            f"- pages per week (all page alerts): {s.pages_per_week():.2f}; false pages: {len(s.false_pages)}",
            f"- run time: {ev.stats.get('seconds', 0):.0f} s",
            "", "![timeline](timeline.png)", ""]
    if synthetic:
        head += ["## Targets (issue 12)", "", targets_table(s), "",
                 "## Per alert", "", alert_table(s), "",
                 "## Per incident", "",
                 f"Budget consumed: bad events during the incident / the SLO's monthly allowance at this history's "
                 f"traffic. Must page: consumes >= {SIGNIFICANT_BUDGET:.0%}.", "", incident_table(s), ""]
    head += ["## Alert episodes", "", episode_table(s), ""]
    return "\n".join(head)


def results_json(s: Score, hist: History, ev: Evaluation, rules_dir: str) -> dict:
    return {
        "rules": rules_dir, "history": hist.as_dict(), "levels": ev.levels, "stats": ev.stats,
        "targets": [{"target": n, "met": m, "detail": d} for n, m, d in s.targets()],
        "pages_per_week": s.pages_per_week(),
        "alerts": [{"alert": a.alert, "severity": a.severity, "tp": a.true_positives, "fp": a.false_positives,
                    "detected": a.detected, "missed": a.missed, "detection_s": a.detection_s, "reset_s": a.reset_s}
                   for a in s.alerts],
        "episodes": [{"alert": e.alert, "severity": e.severity, "active_at": e.active_at, "fired_at": e.fired_at,
                      "resolved_at": e.resolved_at, "budget": e.budget} for e in s.episodes],
    }


def write(out: Path, s: Score, hist: History, ev: Evaluation, rules_dir: str, seed: int, env: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    write_chart(out / "timeline.png", s, hist)
    (out / "report.md").write_text(markdown(s, hist, ev, rules_dir, seed, env))
    (out / "results.json").write_text(json.dumps(results_json(s, hist, ev, rules_dir), indent=1))
    return out


def summary(s: Score) -> str:
    """The console summary: targets, then the alert table."""
    lines = ["targets:"] if s.labelled else [
        "targets: none (a real Prometheus's history has no labelled incidents: every episode counts under FP)"]
    lines += [f"  [{'ok' if met else 'FAIL'}] {name}: {detail}" for name, met, detail in s.targets()]
    lines += ["", alert_table(s)]
    return "\n".join(lines)
