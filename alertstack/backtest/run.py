"""`invoke backtest`: rendered rules + history -> a real Prometheus -> alert episodes -> scores -> report."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from alertstack import ansible, rendered
from alertstack.backtest import engine, history, report, score
from alertstack.paths import REPO_ROOT
from alertstack.progress import say
from alertstack.slo import SLO

WARMUP_S = history.WARMUP_S
"""Alerts are scored from 6 h on (the incidents start later): the page tiers' windows (up to 6h) are full, as on a
stack with history. Earlier, a 6h ratio over 50 minutes of data pages on a blip (a cold-start artefact)."""
BACKTESTS = REPO_ROOT / "backtests"


class BacktestError(RuntimeError):
    """A backtest that cannot run (bad rules directory, unreachable Prometheus, unknown environment ...)."""


@dataclass
class Result:
    score: score.Score
    history: history.History
    evaluation: engine.Evaluation
    report_dir: Path | None
    rules_dir: str


def stack_root(env: str, rules_dir: Path | None) -> rendered.StackRoot:
    """Where the rules under test and their SLOs come from, as Ansible wrote them: the stack root around a rules
    directory that has its prometheus/slos.json beside it (a render's own rules), else ENV's cached render
    (alertstack.rendered, rendered again only when its inputs changed)."""
    if rules_dir is not None and (Path(rules_dir).parent / "slos.json").is_file():
        return rendered.StackRoot(Path(rules_dir).parent.parent)
    say(f"reading the rendered rules and SLOs of {env} (rendered first when out of date: a minute or two)")
    try:
        return rendered.for_env(env)
    except rendered.RenderedError as exc:
        raise BacktestError(str(exc).splitlines()[0]) from exc


def default_interval(rules_dir: Path) -> float:
    """global.evaluation_interval of the prometheus.yml next to the rules (Prometheus's default 1m otherwise)."""
    config = Path(rules_dir).parent / "prometheus.yml"
    if config.exists():
        value = ((yaml.safe_load(config.read_text()) or {}).get("global") or {}).get("evaluation_interval")
        if value:
            return engine.seconds(value)
    return 60.0


def _slo_queries(slo: SLO, duration_s: int) -> tuple[str, str]:
    """(bad events, all events) over the last duration_s, PromQL from the SLO's own selectors."""
    sli = slo.sli
    d = f"[{int(duration_s)}s]"
    if sli.type == "availability":
        return f"sum(increase({sli.errors}{d})) or vector(0)", f"sum(increase({sli.total}{d}))"
    inner = history._strip_braces(sli.selector)
    sep = "," if inner else ""
    hist = sli.histogram
    le = history.format_le(sli.threshold)
    total = f"sum(increase({hist}_count{{{inner}}}{d}))"
    return f"{total} - sum(increase({hist}_bucket{{{inner}{sep}le=\"{le}\"}}{d}))", total


def _value(eng: engine.Engine, expr: str, at: float) -> float:
    result = eng.query(expr, at)
    return float(result[0]["value"][1]) if result else 0.0


def monthly_budget_events(eng: engine.Engine, slo: SLO, start: int, end: int) -> float:
    """Bad events the SLO allows in its window, at the history's average traffic: (1 - objective) x events."""
    _, total = _slo_queries(slo, end - start)
    events = _value(eng, total, end)
    window_s = engine.seconds(slo.window)
    return (1 - slo.objective) * events * window_s / (end - start)


def budget_consumed(eng: engine.Engine, slo: SLO, start: float, end: float, allowed: float) -> float:
    """Share of the monthly error budget spent between start and end (measured by the backtest Prometheus)."""
    bad, _ = _slo_queries(slo, max(int(end - start), 60))
    return _value(eng, bad, end) / allowed if allowed else 0.0


def check_series(eng: engine.Engine, slos: list[SLO], at: float) -> None:
    """Every SLO's selectors return traffic: otherwise its alerts would be scored on nothing."""
    for slo in slos:
        _, total = _slo_queries(slo, 3600)
        if not eng.query(total, at):
            raise BacktestError(f"SLO {slo.name}: its selectors match no series in the history "
                                f"({total}); the SLO metrics are missing")


def integer(option: str, value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BacktestError(f"{option} {value!r}: not a whole number") from None


def check_arguments(days: int, env: str, rules_dir: Path | None, from_prometheus: str | None) -> None:
    """Everything that can be wrong with the arguments, before anything is rendered, started or written."""
    if days < 1 or days > 90:
        raise BacktestError(f"--days {days}: between 1 and 90")
    if rules_dir is not None and not Path(rules_dir).is_dir():
        raise BacktestError(f"--rules {rules_dir}: not a directory")
    if from_prometheus and not from_prometheus.startswith(("http://", "https://")):
        raise BacktestError(f"--from-prometheus {from_prometheus!r}: not an http(s) URL")
    try:
        ansible.inventory_path(env)
    except ansible.UnknownEnvironment as exc:
        raise BacktestError(str(exc)) from exc


def _api_credentials(env: str):
    """The environment's API user and password (the stack's basic auth in front of Prometheus), or None when its
    inventory has none (or its vault is not at hand): the Prometheus read with --from-prometheus may need them."""
    from alertstack import endpoints
    try:
        return endpoints.for_env(env).auth
    except (subprocess.CalledProcessError, ValueError) as exc:  # inventory unreadable, or no monitoring host
        reason = (exc.stderr or "").strip().splitlines()[-1:] if isinstance(exc, subprocess.CalledProcessError) else [exc]
        say(f"  no API credentials from {env}'s inventory ({'; '.join(map(str, reason)) or exc}); reading without "
            f"(an open Prometheus answers, a closed one says 401)")
        return None


def run(days: int = 30, seed: int = 1, env: str = "production", rules_dir: Path | None = None,
        from_prometheus: str | None = None, out_dir: Path | None = BACKTESTS, incident_ids=None,
        report_id: str | None = None, keep_workdir: bool = False) -> Result:
    """Run one backtest; write backtests/<id>/ (unless out_dir is None). Raises BacktestError."""
    started = time.monotonic()
    check_arguments(days, env, rules_dir, from_prometheus)
    label = Path(rules_dir).name if rules_dir is not None else env
    work = Path(tempfile.mkdtemp(prefix="backtest-"))
    try:
        root = stack_root(env, rules_dir)
        slos = root.slos()
        rules_dir = Path(rules_dir) if rules_dir is not None else root.rules_dir
        try:
            rules = engine.load_rules(rules_dir, default_interval(rules_dir))
        except engine.EngineError as exc:
            raise BacktestError(str(exc)) from exc
        say(f"rules: {len(rules)} from {rules_dir}")
        raw = work / "history.om"
        if from_prometheus:
            say(f"reading {days} d of raw SLO series from {from_prometheus}")
            hist = history.read_prometheus(from_prometheus, slos, days, raw, auth=_api_credentials(env), say=say)
        else:
            say(f"synthesizing {days} d of history (seed {seed})")
            hist = history.synthesize(slos, days, seed, raw, incident_ids=incident_ids)
        say(f"  {hist.series} series, {len(hist.incidents)} labelled incidents, {len(hist.noise)} noise events")
        with engine.Engine(work) as eng:
            eng.load(raw)
            raw.unlink()
            check_series(eng, slos, hist.end)
            scope = engine.alerts_in_scope(rules, engine.metric_names(eng.url))
            by_name = {s.name: s for s in slos}
            allowed = {s.name: monthly_budget_events(eng, s, hist.start, hist.end) for s in slos}
            for inc in hist.incidents:
                if inc.slo in by_name:
                    inc.budget = budget_consumed(eng, by_name[inc.slo], inc.start, inc.end, allowed[inc.slo])
            try:
                evaluation = eng.evaluate(rules, hist.start, hist.end, alerts_from=hist.start + WARMUP_S)
            except engine.EngineError as exc:
                raise BacktestError(str(exc)) from exc
            for ep in evaluation.episodes:
                slo = by_name.get(ep.labels.get("slo", ""))
                if slo:
                    ep.budget = budget_consumed(eng, slo, ep.active_at, ep.resolved_at or hist.end,
                                                allowed[slo.name])
        result_score = score.score(evaluation, hist, scope)
        evaluation.stats["seconds"] = time.monotonic() - started
        say(f"backtest done in {evaluation.stats['seconds']:.0f} s")
        report_dir = None
        if out_dir is not None:
            rid = report_id or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{label}-{days}d-seed{seed}"
            report_dir = report.write(Path(out_dir) / rid, result_score, hist, evaluation, str(rules_dir),
                                      seed=seed, env=env)
        return Result(result_score, hist, evaluation, report_dir, str(rules_dir))
    except history.HistoryError as exc:
        raise BacktestError(str(exc)) from exc
    except RuntimeError as exc:
        if isinstance(exc, BacktestError):
            raise
        raise BacktestError(str(exc).splitlines()[0] if str(exc) else repr(exc)) from exc
    finally:
        if not keep_workdir:
            shutil.rmtree(work, ignore_errors=True)
