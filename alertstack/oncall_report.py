"""`invoke oncall-report`: the on-call health (alertstack.oncall) as Markdown plus a chart.

Writes OUT/oncall-report.md and OUT/oncall.png: pages per week per team and per receiver, the noisiest alerts,
out-of-hours pages, and the MTTD / MTTR of the incidents in the period with their trend.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from alertstack import oncall
from alertstack.oncall import Health

REPORT = "oncall-report.md"
CHART = "oncall.png"


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M")


def _s(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} s" if abs(value) < 60 else f"{value / 60:.1f} min"


def _week_table(h: Health, key: str) -> list[str]:
    table = h.pages_per_week(key)
    head = [key] + [f"week of {oncall.week_label(w)}" for w in h.weeks] + ["total"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, counts in table.items():
        rows.append("| " + " | ".join([f"`{name}`" if key == "receiver" else name] + [str(c) for c in counts]
                                      + [str(sum(counts))]) + " |")
    if not table:
        rows.append("| (no pages) |" + " 0 |" * (len(head) - 1))
    return rows


def markdown(h: Health, sources: dict[str, str]) -> str:
    total = len(h.pages)
    ooh = h.out_of_hours()
    lines = [f"# On-call report: {_utc(h.start)} to {_utc(h.end)} UTC ({len(h.weeks)} weeks)", "",
             f"- notification history: {sources.get('history')}",
             f"- incidents: {sources.get('incidents')} ({len(h.incidents)} in the period)",
             f"- {len(h.notifications)} notifications on human receivers, {total} pages "
             f"({total / len(h.weeks):.1f} per week), {len(ooh)} out of hours "
             f"({(100 * len(ooh) / total) if total else 0:.0f} %)",
             f"- a page: a critical or high alert's notifications within {oncall.PAGE_MERGE_S / 60:.0f} min of each "
             f"other; out of hours: outside the policy's business_hours; not counted: "
             + (", ".join(f"{v} {k}" for k, v in sorted(h.skipped.items())) or "nothing"),
             "", f"![pages and incident times]({CHART})", "",
             "## Pages per week per team", "", *_week_table(h, "team"), "",
             "## Pages per week per receiver", "",
             "A page counts once on every receiver it reached.", "", *_week_table(h, "receiver"), "",
             "## Noisiest alerts", "",
             "| alert | severity | notifications | pages | out of hours | receivers |", "|---|---|---|---|---|---|"]
    for row in h.noisiest():
        lines.append(f"| {row['alertname']} | {row['severity']} | {row['notifications']} | {row['pages']} | "
                     f"{row['out_of_hours']} | {row['receivers']} |")
    lines += ["", "## Out-of-hours pages", ""]
    if ooh:
        lines += ["| when (UTC) | alert | severity | team | receivers |", "|---|---|---|---|---|"]
        lines += [f"| {_utc(p.at)} {datetime.fromtimestamp(p.at, timezone.utc):%a} | {p.alertname} | {p.severity} | "
                  f"{p.team} | {', '.join(p.receivers)} |" for p in ooh]
    else:
        lines.append("None.")
    lines += ["", "## MTTD and MTTR across incidents", "",
              "| incident | started (UTC) | alert | passed | MTTD | time to notify | MTTR | time to resolve |",
              "|---|---|---|---|---|---|---|---|"]
    for i in h.incidents:
        lines.append(f"| {i.id} | {_utc(i.started_at)} | {i.alertname or '-'} | {'yes' if i.passed else '**no**'} | "
                     f"{_s(i.mttd_s)} | {_s(i.time_to_notify_s)} | {_s(i.mttr_s)} | {_s(i.time_to_resolve_s)} |")
    lines += ["", "| measure | incidents | first half (mean) | last half (mean) | median | trend |",
              "|---|---|---|---|---|---|"]
    for measure, label in (("mttd_s", "MTTD"), ("time_to_notify_s", "time to notify"), ("mttr_s", "MTTR"),
                           ("time_to_resolve_s", "time to resolve")):
        t = h.trend(measure)
        trend = "-" if t["change"] is None or t["count"] < 2 else \
            f"{'faster' if t['change'] < 0 else 'slower' if t['change'] > 0 else 'same'} by {_s(abs(t['change']))}"
        lines.append(f"| {label} | {t['count']} | {_s(t['first'])} | {_s(t['last'])} | {_s(t['median'])} | {trend} |")
    return "\n".join(lines) + "\n"


def write_chart(path: Path, h: Health) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7))
    weeks = [oncall.week_label(w) for w in h.weeks]
    base = [0] * len(weeks)
    for team, counts in h.pages_per_week("team").items():
        top.bar(weeks, counts, bottom=base, label=team)
        base = [b + c for b, c in zip(base, counts)]
    ooh = [0] * len(weeks)
    for p in h.out_of_hours():
        ooh[h.week_of(p.at)] += 1
    top.plot(weeks, ooh, "k--o", label="out of hours")
    top.set_title("pages per week, by team")
    top.set_ylabel("pages")
    top.yaxis.get_major_locator().set_params(integer=True)
    top.legend(fontsize=8)
    if h.incidents:
        x = [f"{datetime.fromtimestamp(i.started_at, timezone.utc):%m-%d %H:%M}\n{i.scenario}" for i in h.incidents]
        for measure, label in (("mttd_s", "MTTD"), ("time_to_notify_s", "time to notify"), ("mttr_s", "MTTR"),
                               ("time_to_resolve_s", "time to resolve")):
            bottom.plot(x, [(getattr(i, measure) or float("nan")) / 60 for i in h.incidents], "o-", label=label)
        bottom.legend(fontsize=8)
        bottom.tick_params(axis="x", labelsize=7)
    else:
        bottom.text(0.5, 0.5, "no incidents in the period", ha="center", va="center", transform=bottom.transAxes)
    bottom.set_title("incidents in time order: minutes from the fault")
    bottom.set_ylabel("minutes")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write(h: Health, out: str | Path, sources: dict[str, str]) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_chart(out / CHART, h)
    report = out / REPORT
    report.write_text(markdown(h, sources))
    return report


def run(env: str, weeks: int, history: str | None, incidents_dir: str | Path, out: str | Path,
        now: float | None = None) -> Path:
    """Read the history (a sink's messages.jsonl, else the environment's sink over HTTP), the incidents, and the
    business hours of the environment's rendered alertmanager.yml; write the report; its path."""
    from alertstack import rendered
    if history:
        messages, source = oncall.read_history(history), history
    else:
        from alertstack import endpoints, sink
        url = endpoints.for_env(env).sink_url
        if not url:
            raise oncall.OncallError(f"environment {env} has no notification sink; pass --history "
                                     f"<a copy of the sink's messages.jsonl>")
        try:
            messages, source = sink.messages(url), f"{url}/messages"
        except sink.SinkError as exc:
            raise oncall.OncallError(str(exc)) from None
    config = rendered.for_env(env).alertmanager_config()
    h = oncall.health(messages, oncall.read_incidents(incidents_dir), config, weeks, now)
    return write(h, out, {"history": source, "incidents": str(incidents_dir)})
