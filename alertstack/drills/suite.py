"""Every runnable drill, one after the other, unattended: `invoke drill all [--report]` (a weekly chaos run).

A scenario is runnable when the evaluator of its alert runs on the stack: Prometheus alerts always; Grafana-managed
log alerts only where Grafana answers (offline mode deploys neither Grafana nor Loki). Each drill writes its own
incident directory; with `report`, the suite writes DRILLS-<UTC time>/ next to them: summary.md (a table of MTTD,
time to notify, time to resolve and pass/fail per scenario, the predicted bound, links to the incidents),
summary.json and chart.png. The suite passes when every drill that ran passed.
"""
from __future__ import annotations

import json
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from alertstack import faults
from alertstack.drills import scenarios
from alertstack.drills.runner import DrillConfig, DrillResult, run_drill
from alertstack.localstack import LocalStack

GRAFANA_HEALTH = "http://127.0.0.1:3000/api/health"


@dataclass
class SuiteResult:
    results: list[DrillResult] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)     # scenario -> why it did not run
    summary_dir: Path | None = None
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)


def _grafana_up(url: str = GRAFANA_HEALTH) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return resp.status == 200
    except OSError:
        return False


def runnable(names=None, grafana_up: bool | None = None) -> tuple[list[str], dict[str, str]]:
    """(scenarios to run, {scenario: why not}) in SCENARIOS order, or among `names`."""
    grafana = _grafana_up() if grafana_up is None else grafana_up
    run, skipped = [], {}
    for name, sc in scenarios.SCENARIOS.items():
        if names and name not in names:
            continue
        if sc.evaluator == "grafana" and not grafana:
            skipped[name] = "its alert is evaluated by Grafana, which does not run on this stack (offline mode)"
        elif name == "network-latency" and faults.netem_supported():
            skipped[name] = faults.netem_supported()
        else:
            run.append(name)
    return run, skipped


def row(result: DrillResult) -> dict:
    m = result.measurements
    agreement = result.timeline.meta.get("bound_agreement") or {}
    return {"scenario": result.scenario, "alert": result.timeline.meta.get("alertname"),
            "passed": result.passed, "mttd_s": m["mttd_s"], "time_to_notify_s": m["time_to_notify_s"],
            "mitigation_to_resolved_s": m["mitigation_to_resolved_s"],
            "mitigation_to_resolved_notification_s": m["mitigation_to_resolved_notification_s"],
            "bound_s": result.bound.total_s if result.bound else None,
            "bound_agrees": agreement.get("agrees"), "bound_is_estimate": bool(agreement.get("estimate")),
            "failed_steps": [s.name for s in result.failed_steps] + list(result.errors),
            "incident": str(result.incident_dir) if result.incident_dir else None}


def _s(v) -> str:
    return "n/a" if v is None else f"{v:.0f} s"


def summary_markdown(suite: SuiteResult) -> str:
    rows = [row(r) for r in suite.results]
    out = [f"# Drill suite {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(suite.started_at))}", "",
           f"Verdict: **{'PASSED' if suite.passed else 'FAILED'}** ({sum(r['passed'] for r in rows)}/{len(rows)} "
           f"drills passed, {(suite.finished_at - suite.started_at) / 60:.1f} min).", "", "![times](chart.png)", "",
           "| Scenario | Alert | Result | MTTD | Time to notify | Predicted bound | Mitigation -> resolved | "
           "Mitigation -> resolved notification | Incident |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["bound_agrees"] is None:
            verdict = ""
        elif r.get("bound_is_estimate"):  # a threshold alert's bound: an estimate, not checked
            verdict = " (estimate)"
        else:
            verdict = " (agrees)" if r["bound_agrees"] else " (does NOT agree)"
        bound = _s(r["bound_s"]) + verdict
        result = "pass" if r["passed"] else "FAIL: " + "; ".join(r["failed_steps"])
        incident = f"[{Path(r['incident']).name}](../{Path(r['incident']).name}/review.md)" if r["incident"] else "-"
        out.append(f"| {r['scenario']} | {r['alert']} | {result} | {_s(r['mttd_s'])} | {_s(r['time_to_notify_s'])} "
                   f"| {bound} | {_s(r['mitigation_to_resolved_s'])} | "
                   f"{_s(r['mitigation_to_resolved_notification_s'])} | {incident} |")
    if suite.skipped:
        out += ["", "Not run here:", ""] + [f"- {k}: {v}" for k, v in suite.skipped.items()]
    return "\n".join(out) + "\n"


def write_chart(suite: SuiteResult, path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [row(r) for r in suite.results]
    names = [r["scenario"] for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(rows)), 4))
    width = 0.25
    for i, (key, label) in enumerate((("mttd_s", "MTTD"), ("time_to_notify_s", "time to notify"),
                                      ("mitigation_to_resolved_s", "mitigation -> resolved"))):
        ax.bar([x + (i - 1) * width for x in range(len(rows))], [r[key] or 0 for r in rows], width, label=label)
    for x, r in enumerate(rows):
        if r["bound_s"]:
            ax.plot([x - 1.5 * width, x + 1.5 * width], [r["bound_s"]] * 2, "k--", linewidth=1)
        if not r["passed"]:
            ax.annotate("FAIL", (x, 0), ha="center", va="bottom", color="red", fontweight="bold")
    ax.set_xticks(range(len(rows)), names)
    ax.set_ylabel("seconds")
    ax.set_title("Drill suite: detection, notification and resolution (dashed: predicted bound)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_summary(suite: SuiteResult, out_dir: Path) -> Path:
    d = Path(out_dir) / f"DRILLS-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(suite.started_at))}"
    d.mkdir(parents=True, exist_ok=True)
    write_chart(suite, d / "chart.png")
    (d / "summary.md").write_text(summary_markdown(suite))
    (d / "summary.json").write_text(json.dumps({"passed": suite.passed, "started_at": suite.started_at,
                                                "finished_at": suite.finished_at, "drills": [row(r) for r in
                                                                                              suite.results],
                                                "skipped": suite.skipped}, indent=2) + "\n")
    return d


def run_all(stack: LocalStack, out_dir: Path, report: bool = True, names=None, config: DrillConfig | None = None,
            out: TextIO | None = None) -> SuiteResult:
    """Run every runnable drill (or those in `names`) in order; Ctrl-C stops the suite after the current drill's
    clean-up (run_drill rolls its fault back) and still writes the summary of the drills that ran."""
    out = out or sys.stdout
    todo, skipped = runnable(names)
    suite = SuiteResult(skipped=skipped, started_at=time.time())
    print(f"drill suite: {', '.join(todo)}" + (f"; not run: {', '.join(skipped)}" if skipped else ""), file=out,
          flush=True)
    try:
        for i, name in enumerate(todo, 1):
            print(f"=== drill {i}/{len(todo)}: {name}", file=out, flush=True)
            suite.results.append(run_drill(name, stack, out_dir=out_dir, config=config, out=out))
    finally:
        suite.finished_at = time.time()
        if report and suite.results:
            suite.summary_dir = write_summary(suite, out_dir)
            print(f"drill suite summary: {suite.summary_dir / 'summary.md'}", file=out, flush=True)
    for r in suite.results:
        print(f"  {'PASS' if r.passed else 'FAIL'}  {r.scenario}", file=out)
    return suite
