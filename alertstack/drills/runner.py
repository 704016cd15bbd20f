"""Run a drill end to end on the deployed stack: inject, detect, notify, mitigate, resolve, document.

Unattended by default; `interactive=True` pauses for a human to follow the runbook before the mitigation.
Every wait has a deadline and prints progress with the elapsed time. Whatever happens (a missed step, an
exception, Ctrl-C), the `finally` block mitigates an injected fault and stops the load, so a drill can run again
at once, and the incident directory is written.

CLI: python -m alertstack.drills.runner latency [--interactive] [--out incidents]   (exit 1 when a step missed)
"""
from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, TextIO

from alertstack import api, rendered
from alertstack.drills import bounds, channels, scenarios
from alertstack.drills import timeline as tl
from alertstack.drills.timeline import FAILED, PASSED, SKIPPED, Timeline
from alertstack.localstack import LocalStack


@dataclass
class DrillConfig:
    """Timing knobs. None = read the deployed value (Prometheus config, Alertmanager root route)."""
    scrape_interval_s: float | None = None
    evaluation_interval_s: float | None = None
    group_wait_s: float | None = None
    poll_s: float = 2.0
    progress_every_s: float = 15.0
    precondition_timeout_s: float = 420.0   # a previous drill's alert must clear first
    settle_s: float = 10.0                  # extra wait for stray notifications before the channel check
    load_max_s: float = 1800.0


@dataclass
class DrillResult:
    """What a drill proved: the timeline (events and steps), the predicted bound and the incident directory."""
    scenario: str
    timeline: Timeline
    bound: bounds.MttdBound | None = None
    incident_dir: Path | None = None
    interrupted: bool = False
    errors: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.timeline.passed and not self.interrupted and not self.errors

    @property
    def failed_steps(self) -> list:
        return self.timeline.failed_steps()

    @property
    def measurements(self) -> dict:
        return self.timeline.measurements()

    def summary(self) -> str:
        """The human-readable verdict printed at the end of a drill."""
        lines = [f"Drill {self.scenario} ({self.timeline.incident_id}): {'PASSED' if self.passed else 'FAILED'}"]
        for s in self.timeline.steps:
            took = f"{s.elapsed_s:.0f}s" if s.elapsed_s is not None else "-"
            limit = f" / deadline {s.deadline_s:.0f}s" if s.deadline_s is not None else ""
            lines.append(f"  [{s.status:7}] {s.name}: {took}{limit}{'  ' + s.message if s.message else ''}")
        m = self.measurements
        lines.append("  MTTD (fault -> firing): " + _fmt(m["mttd_s"]) + "   time to notify: "
                     + _fmt(m["time_to_notify_s"]) + "   predicted bound: "
                     + (self.bound.describe() if self.bound else "n/a"))
        lines.append("  MTTR (fault -> mitigated): " + _fmt(m["mttr_s"]) + "   mitigation -> resolved: "
                     + _fmt(m["mitigation_to_resolved_s"]) + "   mitigation -> resolved notification: "
                     + _fmt(m["mitigation_to_resolved_notification_s"]))
        for e in self.errors:
            lines.append(f"  error: {e}")
        if self.incident_dir:
            lines.append(f"  incident report: {self.incident_dir}")
        return "\n".join(lines)


def _fmt(s: float | None) -> str:
    if s is None:
        return "n/a"
    s = int(round(s))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class _Progress:
    def __init__(self, out: TextIO):
        self.out = out
        self.t0 = time.time()

    def say(self, msg: str) -> None:
        e = int(time.time() - self.t0)
        print(f"[{e // 60:02d}:{e % 60:02d}] {msg}", file=self.out, flush=True)


def _wait(progress: _Progress, what: str, check: Callable[[], tuple], deadline_at: float, cfg: DrillConfig,
          since: float) -> bool:
    """Call check() -> (done, state text) every poll until done or deadline_at (Unix s); print progress."""
    last_state, last_print = None, 0.0
    while True:
        try:
            done, state = check()
        except api.ApiError as exc:  # a blip must not end the drill; the deadline does
            done, state = False, f"API error: {exc}"
        except Exception as exc:  # noqa: BLE001  (the sink client raises its own errors)
            done, state = False, f"error: {exc}"
        now = time.time()
        if done:
            return True
        if now >= deadline_at:
            progress.say(f"{what}: deadline missed after {now - since:.0f}s ({state})")
            return False
        if state != last_state or now - last_print >= cfg.progress_every_s:
            progress.say(f"waiting for {what}: {now - since:.0f}s elapsed, {deadline_at - now:.0f}s left ({state})")
            last_state, last_print = state, now
        time.sleep(min(cfg.poll_s, max(deadline_at - now, 0.05)))


def notifications_about(stack: LocalStack, alertname: str | None = None, dedup_keys=(), **kw) -> list:
    """Notification-sink messages (filters: since, kind, channel, status) about `alertname`: those the sink attributes to it, and those whose payload names it (the
    sink cannot always parse the name out of a templated PagerDuty summary or e-mail), or that carry the PagerDuty
    dedup key of a message already attributed (a resolve event need not repeat the summary)."""
    from alertstack import sink
    items = sink.messages(stack.sink_url, **kw)
    if alertname is None:
        return items
    word = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(alertname)}(?![A-Za-z0-9_])")
    return [m for m in items if alertname in (m.get("alertnames") or [])
            or (m.get("dedup_key") and m.get("dedup_key") in dedup_keys)
            or word.search(json.dumps(m.get("payload"), default=str))]


def key_metric_query(scenario: scenarios.Scenario, slos: dict) -> str:
    """The PromQL charted in the report: the scenario's, or its SLO's bad-event ratio over 1m.
    `slos`: {name: SLO} as deployed (alertstack.rendered)."""
    if scenario.key_metric:
        return scenario.key_metric
    from alertstack import slo
    return " ".join(slo.bad_ratio_expr(slos[scenario.detection.slo], "1m").split())


def deployed_timing(stack: LocalStack, cfg: DrillConfig, am_config: dict | None = None,
                    group_wait: str | None = None) -> dict:
    """scrape and evaluation intervals from Prometheus; group_wait of the alert's routes (`group_wait`, from
    alertstack.drills.channels) or of Alertmanager's root route. DrillConfig values override."""
    out = {"scrape_interval_s": cfg.scrape_interval_s, "evaluation_interval_s": cfg.evaluation_interval_s,
           "group_wait_s": cfg.group_wait_s}
    if out["scrape_interval_s"] is None or out["evaluation_interval_s"] is None:
        g = api.config(stack.prometheus_url, stack.auth).get("global", {})
        if out["scrape_interval_s"] is None:
            out["scrape_interval_s"] = bounds.seconds(g.get("scrape_interval", "1m"))
        if out["evaluation_interval_s"] is None:
            out["evaluation_interval_s"] = bounds.seconds(g.get("evaluation_interval", "1m"))
    if out["group_wait_s"] is None:
        if group_wait is None:
            route = (am_config if am_config is not None
                     else api.alertmanager_config(stack.alertmanager_url, stack.auth)).get("route", {})
            group_wait = route.get("group_wait", "30s")
        out["group_wait_s"] = bounds.seconds(group_wait)
    return out


def alert_labels(sc: scenarios.Scenario, deployed: dict | None) -> dict:
    """The labels routing sees: the deployed rule's (or the log alert's) plus alertname."""
    if deployed is not None:
        return {"alertname": sc.alertname, **deployed.get("labels", {})}
    try:
        from alertstack.logs import alerts as log_alerts
        alert = next(a for a in log_alerts.LOG_ALERTS if a.name == sc.alertname)
        return {"alertname": sc.alertname, **log_alerts.labels(alert, "grafana")}
    except (ImportError, StopIteration, AttributeError):
        return {"alertname": sc.alertname, "severity": sc.severity}


def expected_delivery(am_config: dict | None, labels: dict, start: float, end: float,
                      written_config: dict | None = None) -> channels.Expectation:
    """Channels the running Alertmanager's routing tree (`am_config`, from its API) delivers the alert to during
    the drill. Without it, the human channels of the alertmanager.yml Ansible wrote (`written_config`) at `start`,
    the events webhook then allowed, not required."""
    if am_config:
        return channels.expected_channels(am_config, labels, datetime.fromtimestamp(start, timezone.utc),
                                          datetime.fromtimestamp(end, timezone.utc))
    exp = channels.expected_channels(written_config or {}, labels, datetime.fromtimestamp(start, timezone.utc))
    human = [c for c in exp.required if c[0] != "webhook"]
    return channels.Expectation(required=human, optional=[("webhook", None)],
                                resolved=[c for c in exp.resolved if c in human], group_wait=exp.group_wait,
                                receivers=exp.receivers)


def predicted_bound(scenario: scenarios.Scenario, timing: dict, deployed: dict | None,
                    slos: dict) -> bounds.MttdBound:
    """The MTTD bound of the scenario's alert from the deployed rule (`deployed`, from bounds.deployed_rule) and
    the deployed SLOs (`slos`, {name: SLO})."""
    common = {"scrape_interval": timing["scrape_interval_s"], "group_wait": timing["group_wait_s"]}
    if deployed:
        common["evaluation_interval"] = deployed["evaluation_interval_s"] or timing["evaluation_interval_s"]
        common["recording_interval"] = deployed["recording_interval_s"]
    else:
        common["evaluation_interval"] = timing["evaluation_interval_s"]
    det = scenario.detection
    if det.kind == "slo":
        slo_def = slos[det.slo]
        return bounds.slo_alert_bound(slo_def, scenario.alertname, det.bad_ratio,
                                      for_=deployed["for_s"] if deployed else None, **common)
    for_s = deployed["for_s"] if deployed else _log_alert_for(scenario.alertname)
    return bounds.threshold_alert_bound(deployed["query"] if deployed else "", for_s,
                                        detection_s=det.detection_s, **common)


def _log_alert_for(alertname: str) -> float:
    try:
        from alertstack.logs.alerts import LOG_ALERTS
        alert = next(a for a in LOG_ALERTS if a.name == alertname)
        return bounds.seconds(alert.for_)
    except (ImportError, StopIteration, AttributeError, ValueError):
        return 0.0


def _fault_left_over(name: str, stack: LocalStack) -> bool:
    """A fault of an earlier, killed drill still applied?"""
    from alertstack import faults
    try:
        if name in faults.BAD_RELEASES:
            return stack.previous_release_file.exists()
        if name == "feature-store":
            return not faults._container_running(stack.container(faults.FEATURE_STORE))
        if name == "drift":
            return faults.drift_running(stack)
    except Exception:  # noqa: BLE001  (a check only; the preflight reports real problems)
        return False
    return False


def _shielded(fn: Callable[[], object]) -> object:
    """Run fn with Ctrl-C ignored (main thread only), so a second Ctrl-C cannot interrupt the clean-up."""
    if threading.current_thread() is not threading.main_thread():
        return fn()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return fn()
    finally:
        signal.signal(signal.SIGINT, previous)


def run_drill(scenario: str, stack: LocalStack, interactive: bool = False, out_dir: Path = Path("incidents"),
              config: DrillConfig | None = None, out: TextIO | None = None) -> DrillResult:
    """Run the drill `scenario` on `stack` and write incidents/<incident-id>/; returns a DrillResult.

    Steps (each with a deadline): alert firing, notification on every expected channel, mitigation (the
    runbook's command, run for real), alert resolved, resolved notification, and no notification on an unexpected
    channel. Ctrl-C and exceptions still mitigate and clean up; KeyboardInterrupt is re-raised afterwards.
    """
    from alertstack import faults
    from alertstack.drills import report as incident_report
    from alertstack.loadgen import BackgroundLoad

    sc = scenarios.get(scenario)
    cfg = config or DrillConfig()
    out = out or sys.stdout
    progress = _Progress(out)
    timeline = Timeline.new(sc.name, alertname=sc.alertname, severity=sc.severity, title=sc.title, fault=sc.fault,
                            channels=[], evaluator=sc.evaluator,
                            mitigation_command=faults.MITIGATION_COMMANDS[sc.name],
                            mitigation_action=faults.MITIGATION_ACTIONS.get(sc.name, ""),
                            key_metric=None, key_metric_label=sc.key_metric_label, note=sc.note,
                            budget_slos=list(sc.budget_slos), interactive=interactive,
                            prometheus_url=stack.prometheus_url, alertmanager_url=stack.alertmanager_url)
    n = 1
    base_id = timeline.incident_id
    while (Path(out_dir) / timeline.incident_id).exists():  # two drills in the same second
        n += 1
        timeline.incident_id = f"{base_id}-{n}"
    result = DrillResult(sc.name, timeline)
    load = None
    injected = mitigated = False
    interrupted: KeyboardInterrupt | None = None
    progress.say(f"drill {sc.name}: {sc.title}; incident {timeline.incident_id}")
    if sc.note:
        progress.say(f"note: {sc.note}")
    try:
        # --- preflight: the rule is loaded, the timing and the routing are known, nothing is already wrong -----
        written = rendered.deployed(stack.root)  # what Ansible wrote for this stack: SLOs, alertmanager.yml
        try:
            slos = written.slos_by_name()
        except rendered.RenderedError as exc:
            timeline.step("SLO definitions read", FAILED, message=str(exc))
            progress.say(f"cannot run: {exc}")
            return result
        timeline.meta["slos"] = [slos[name] for name in sc.budget_slos if name in slos]
        timeline.meta["key_metric"] = key_metric_query(sc, slos)
        deployed = None
        if sc.evaluator == "prometheus":
            try:
                deployed = bounds.deployed_rule(api.rules(stack.prometheus_url, stack.auth), sc.alertname)
            except LookupError as exc:
                timeline.step("alert rule loaded", FAILED, message=str(exc))
                progress.say(f"cannot run: {exc}")
                return result
            timeline.step("alert rule loaded", PASSED, message=f"for {deployed['for_s']:.0f}s, evaluated every "
                                                               f"{deployed['evaluation_interval_s']:.0f}s")
        try:
            am_config = api.alertmanager_config(stack.alertmanager_url, stack.auth)
        except api.ApiError as exc:
            am_config = None
            progress.say(f"Alertmanager configuration unavailable ({exc}); using the alertmanager.yml Ansible wrote")
        try:
            written_config = written.alertmanager_config()
        except (rendered.RenderedError, OSError) as exc:
            written_config = None
            progress.say(f"note: {exc}")
        labels = alert_labels(sc, deployed)
        now = time.time()
        horizon = now + cfg.precondition_timeout_s + (sc.notify_deadline_s or 1800) + sc.resolve_deadline_s
        expect = expected_delivery(am_config, labels, now, horizon, written_config)
        timing = deployed_timing(stack, cfg, am_config, expect.group_wait)
        timeline.meta.update(timing=timing, alert_labels_routed=labels, receivers=expect.receivers,
                             channels=[list(c) for c in expect.required],
                             optional_channels=[list(c) for c in expect.optional],
                             resolved_channels=[list(c) for c in expect.resolved])
        progress.say("expected notifications: " + ", ".join(_chan(c) for c in expect.required)
                     + (f" (maybe: {', '.join(_chan(c) for c in expect.optional)})" if expect.optional else ""))
        policy = scenarios.policy_channels(written_config or am_config or {}, labels)  # business hours
        human = [c for c in policy if not any(channels.channel_matches(e, c) for e in expect.required)]
        if human:
            progress.say("note: the deployed routing does not deliver to " + ", ".join(_chan(c) for c in human)
                         + " now (time interval or changed policy); following the deployed routing")
        bound = predicted_bound(sc, timing, deployed, slos)
        result.bound = bound
        timeline.meta["bound"] = bound.to_dict()
        timeline.meta["bound_text"] = bound.describe()
        progress.say(f"predicted bound for {sc.alertname}: {bound.describe()}")
        notify_deadline = sc.notify_deadline_s or (bound.total_s * 1.5 + 60 if bound.total_s != float("inf")
                                                   else 1800.0)

        if _fault_left_over(sc.name, stack):
            progress.say("a fault of an earlier drill is still applied: mitigating it first")
            timeline.meta["preflight_cleanup"] = _shielded(lambda: faults.mitigate(sc.name, stack))

        def quiet():
            active = _active(stack, sc)
            return (not active), ("clear" if not active else f"{sc.alertname} still {active[0]}")
        t = time.time()
        if not _wait(progress, f"{sc.alertname} to be inactive before the fault", quiet,
                     t + cfg.precondition_timeout_s, cfg, t):
            timeline.step("alert inactive before the fault", FAILED, cfg.precondition_timeout_s, time.time() - t,
                          f"{sc.alertname} is active before any fault was injected")
            return result

        if sc.load:
            load = BackgroundLoad(f"{stack.gateway_url.rstrip('/')}/predict", rps=sc.load.rps,
                                  duration_s=cfg.load_max_s).start()
            progress.say(f"load: {sc.load.rps:g} req/s to {stack.gateway_url} (127.0.0.1 only); "
                         f"warming up {sc.load.warmup_s:.0f}s")
            time.sleep(sc.load.warmup_s)

        # --- inject ------------------------------------------------------------------------------------------
        injected = True  # from here on the finally block mitigates, even if inject() fails half-way
        detail = faults.inject(sc.name, stack)
        t_inject = float(detail.get("at") or time.time())  # when the fault is live (the new release reported)
        timeline.add(tl.FAULT_INJECTED, at=t_inject, **_without_at(detail))
        progress.say(f"fault injected: {detail.get('detail', sc.fault)}")

        # --- detection and notification ----------------------------------------------------------------------
        seen: dict = {}

        def detect():
            _observe_alert(stack, sc, timeline)
            for msg in notifications_about(stack, since=t_inject, alertname=sc.alertname, status="firing"):
                ch = (msg["kind"], msg["channel"])
                if ch not in seen:
                    seen[ch] = msg
                    timeline.add(tl.NOTIFICATION, at=msg["received_at"], kind=msg["kind"], channel=msg["channel"],
                                 alertname=sc.alertname, status="firing", payload=msg.get("payload"))
                    progress.say(f"notification on {_chan(ch)}")
            missing = [c for c in expect.required if not any(channels.channel_matches(c, a) for a in seen)]
            done = timeline.first(tl.ALERT_FIRING) is not None and not missing
            return done, f"{_state_text(timeline)}; waiting on " + (", ".join(_chan(c) for c in missing) or "-")
        _wait(progress, f"{sc.alertname} to fire and notify", detect, t_inject + notify_deadline, cfg, t_inject)
        _detection_steps(timeline, sc, expect, t_inject, notify_deadline)
        firing = timeline.first(tl.ALERT_FIRING)
        m = timeline.measurements()
        progress.say(f"MTTD {_fmt(m['mttd_s'])} (time to notify {_fmt(m['time_to_notify_s'])}); "
                     f"predicted bound {_fmt(bound.total_s)}")

        # --- mitigation --------------------------------------------------------------------------------------
        if interactive and firing is not None:
            runbook = (timeline.meta.get("alert_annotations") or {}).get("runbook_url", "(see the alert)")
            progress.say(f"follow the runbook: {runbook}")
            input(f"Press Enter to run the mitigation ({faults.MITIGATION_COMMANDS[sc.name]}) ... ")
        t_mitigate = time.time()
        detail = _shielded(lambda: faults.mitigate(sc.name, stack))
        mitigated = True
        timeline.add(tl.MITIGATION, at=t_mitigate, **_without_at(detail))
        timeline.step("mitigation executed", PASSED, elapsed_s=t_mitigate - t_inject,
                      message=f"{detail.get('command')}: {detail.get('detail', '')}")
        progress.say(f"mitigation executed: {detail.get('command')} ({detail.get('detail', '')})")

        # --- resolution --------------------------------------------------------------------------------------
        if firing is not None:
            resolved_seen: dict = {}

            def resolve():
                if timeline.first(tl.ALERT_RESOLVED) is None and not _active(stack, sc):
                    timeline.add(tl.ALERT_RESOLVED, alertname=sc.alertname)
                    progress.say(f"{sc.alertname} resolved")
                keys = {m.get("dedup_key") for m in seen.values() if m.get("dedup_key")}
                for msg in notifications_about(stack, since=t_mitigate, alertname=sc.alertname, status="resolved",
                                               dedup_keys=keys):
                    ch = (msg["kind"], msg["channel"])
                    if ch not in resolved_seen:
                        resolved_seen[ch] = msg
                        timeline.add(tl.RESOLVED_NOTIFICATION, at=msg["received_at"], kind=msg["kind"],
                                     channel=msg["channel"], alertname=sc.alertname, status="resolved",
                                     payload=msg.get("payload"))
                        progress.say(f"resolved notification on {_chan(ch)}")
                missing = [c for c in expect.resolved if not any(channels.channel_matches(c, a) for a in resolved_seen)]
                done = timeline.first(tl.ALERT_RESOLVED) is not None and not missing
                return done, ("alert " + ("resolved" if timeline.first(tl.ALERT_RESOLVED) else "still active")
                              + "; waiting on " + (", ".join(_chan(c) for c in missing) or "-"))
            _wait(progress, f"{sc.alertname} to resolve", resolve, t_mitigate + sc.resolve_deadline_s, cfg,
                  t_mitigate)
            _resolution_steps(timeline, sc, expect, t_mitigate)
            time.sleep(cfg.settle_s)
            _channel_check(stack, sc, expect, timeline, t_inject)
        else:
            timeline.step("alert resolved", SKIPPED, message="the alert never fired")
            timeline.step("resolved notification", SKIPPED, message="the alert never fired")
    except KeyboardInterrupt as exc:
        interrupted = exc
        result.interrupted = True
        timeline.step("drill completed", FAILED, message="interrupted (Ctrl-C)")
        progress.say("interrupted: cleaning up")
    except Exception as exc:  # noqa: BLE001  (reported, cleaned up, and the drill fails)
        result.errors.append(f"{type(exc).__name__}: {exc}")
        timeline.step("drill completed", FAILED, message=f"{type(exc).__name__}: {exc}")
        progress.say(f"error: {exc}")
        traceback.print_exc(file=out)
    finally:
        if injected and not mitigated:
            try:
                detail = _shielded(lambda: faults.mitigate(sc.name, stack))
                timeline.add(tl.MITIGATION, cleanup=True, **_without_at(detail))
                progress.say(f"clean-up: {detail.get('command')} ({detail.get('detail', '')})")
            except Exception as exc:  # noqa: BLE001
                result.errors.append(f"clean-up failed: {exc}")
                progress.say(f"CLEAN-UP FAILED, run `{faults.MITIGATION_COMMANDS[sc.name]}` by hand: {exc}")
        if load is not None:
            stats = load.stop()
            timeline.meta["load"] = stats
        timeline.finished_at = time.time()
        if injected:
            try:
                result.incident_dir = _shielded(lambda: incident_report.write_incident(
                    timeline, Path(out_dir), prometheus_url=stack.prometheus_url, auth=stack.auth))
            except Exception as exc:  # noqa: BLE001  (a report failure must not hide the drill's verdict)
                result.errors.append(f"incident report failed: {exc}")
                (Path(out_dir) / timeline.incident_id).mkdir(parents=True, exist_ok=True)
                result.incident_dir = Path(out_dir) / timeline.incident_id
                timeline.save(result.incident_dir / "timeline.json")
        print(result.summary(), file=out, flush=True)
    if interrupted is not None:
        raise interrupted
    return result


def _without_at(detail: dict) -> dict:
    return {k: v for k, v in (detail or {}).items() if k != "at"}


def _active(stack: LocalStack, sc: scenarios.Scenario) -> list:
    """States of the scenario's alert now: Prometheus (pending/firing) or, for log alerts, Alertmanager."""
    if sc.evaluator == "prometheus":
        return [a["state"] for a in api.alerts(stack.prometheus_url, stack.auth, sc.alertname)]
    return ["firing" for a in api.alertmanager_alerts(stack.alertmanager_url, stack.auth, sc.alertname)
            if a.get("status", {}).get("state") in ("active", "suppressed")]


def _observe_alert(stack: LocalStack, sc: scenarios.Scenario, timeline: Timeline) -> None:
    """Record alert_pending / alert_firing the first time each is seen."""
    if sc.evaluator == "prometheus":
        items = api.alerts(stack.prometheus_url, stack.auth, sc.alertname)
        for a in items:
            if timeline.first(tl.ALERT_PENDING) is None and a["state"] in ("pending", "firing"):
                at = api.parse_time(a.get("activeAt")) or time.time()
                timeline.add(tl.ALERT_PENDING, at=at, alertname=sc.alertname, labels=a.get("labels", {}),
                             observed_as=a["state"])
            if a["state"] == "firing" and timeline.first(tl.ALERT_FIRING) is None:
                timeline.add(tl.ALERT_FIRING, alertname=sc.alertname, labels=a.get("labels", {}),
                             annotations=a.get("annotations", {}), value=a.get("value"))
                timeline.meta["alert_annotations"] = a.get("annotations", {})
                timeline.meta["alert_labels"] = a.get("labels", {})
    else:
        for a in api.alertmanager_alerts(stack.alertmanager_url, stack.auth, sc.alertname):
            if timeline.first(tl.ALERT_FIRING) is None:
                timeline.add(tl.ALERT_FIRING, alertname=sc.alertname, labels=a.get("labels", {}),
                             annotations=a.get("annotations", {}), source="alertmanager")
                timeline.meta["alert_annotations"] = a.get("annotations", {})
                timeline.meta["alert_labels"] = a.get("labels", {})


def _state_text(timeline: Timeline) -> str:
    if timeline.first(tl.ALERT_FIRING):
        return "alert firing"
    if timeline.first(tl.ALERT_PENDING):
        return "alert pending"
    return "alert inactive"


def _chan(c) -> str:
    kind, channel = c
    if channel is None:
        return f"{kind} (any)"
    return scenarios.channel_name(c)


def _first_on(timeline: Timeline, name: str, expected: tuple):
    return next((e for e in timeline.named(name)
                 if channels.channel_matches(expected, (e.detail.get("kind"), e.detail.get("channel")))), None)


def _detection_steps(timeline: Timeline, sc: scenarios.Scenario, expect: channels.Expectation, t_inject: float,
                     deadline: float) -> None:
    pending, firing = timeline.first(tl.ALERT_PENDING), timeline.first(tl.ALERT_FIRING)
    if pending is not None:
        timeline.step("alert pending", PASSED, elapsed_s=pending.at - t_inject)
    elif sc.evaluator != "prometheus":
        timeline.step("alert pending", SKIPPED, message="log alerts are pending in Grafana, not visible here")
    elif firing is not None:
        timeline.step("alert pending", SKIPPED, message="went straight to firing (no `for`)")
    else:
        timeline.step("alert pending", FAILED, deadline, message="never became pending")
    if firing is not None and firing.at - t_inject <= deadline:
        timeline.step("alert firing", PASSED, deadline, firing.at - t_inject)
    else:
        timeline.step("alert firing", FAILED, deadline, firing.at - t_inject if firing else None,
                      f"{sc.alertname} did not fire within {deadline:.0f}s")
    for ch in expect.required:
        ev = _first_on(timeline, tl.NOTIFICATION, ch)
        name = f"notification on {_chan(ch)}"
        if ev is not None and ev.at - t_inject <= deadline:
            timeline.step(name, PASSED, deadline, ev.at - t_inject)
        else:
            timeline.step(name, FAILED, deadline, ev.at - t_inject if ev else None,
                          f"no firing notification for {sc.alertname} within {deadline:.0f}s")


def _resolution_steps(timeline: Timeline, sc: scenarios.Scenario, expect: channels.Expectation,
                      t_mitigate: float) -> None:
    deadline = sc.resolve_deadline_s
    ev = timeline.first(tl.ALERT_RESOLVED)
    if ev is not None and ev.at - t_mitigate <= deadline:
        timeline.step("alert resolved", PASSED, deadline, ev.at - t_mitigate)
    else:
        timeline.step("alert resolved", FAILED, deadline, ev.at - t_mitigate if ev else None,
                      f"{sc.alertname} still active {deadline:.0f}s after the mitigation")
    for ch in expect.resolved:
        r = _first_on(timeline, tl.RESOLVED_NOTIFICATION, ch)
        name = f"resolved notification on {_chan(ch)}"
        if r is not None and r.at - t_mitigate <= deadline:
            timeline.step(name, PASSED, deadline, r.at - t_mitigate)
        else:
            timeline.step(name, FAILED, deadline, r.at - t_mitigate if r else None,
                          f"no resolved notification within {deadline:.0f}s of the mitigation")
    if not expect.resolved:
        timeline.step("resolved notification", SKIPPED, message="no expected channel sends resolved notifications")


def _channel_check(stack: LocalStack, sc: scenarios.Scenario, expect: channels.Expectation, timeline: Timeline,
                   t_inject: float) -> None:
    """The alert must not have been notified anywhere but its expected (or optional) channels."""
    allowed = list(expect.required) + list(expect.optional)
    stray = sorted({(m["kind"], m["channel"]) for m in notifications_about(stack, since=t_inject, alertname=sc.alertname)
                    if not any(channels.channel_matches(a, (m["kind"], m["channel"])) for a in allowed)})
    if stray:
        timeline.step("no unexpected notifications", FAILED,
                      message="also notified on " + ", ".join(_chan(c) for c in stray))
    else:
        timeline.step("no unexpected notifications", PASSED,
                      message="only " + ", ".join(_chan(c) for c in expect.required + expect.optional))


def stack_from_env(env: str = "local") -> LocalStack:
    """The deployed local stack: URLs from the inventory (alertstack.endpoints), API credentials as
    alertstack.silences.credentials() finds them (process environment first, never the command line)."""
    from alertstack import endpoints
    from alertstack.silences import credentials
    ep = endpoints.for_env(env)
    stack = LocalStack(prometheus_url=ep.prometheus_url, alertmanager_url=ep.alertmanager_url, auth=credentials(env))
    if ep.sink_url:
        stack.sink_url = ep.sink_url
    return stack


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run an incident drill against the locally deployed stack.")
    parser.add_argument("scenario", choices=sorted(scenarios.SCENARIOS))
    parser.add_argument("--interactive", action="store_true", help="pause for a human to follow the runbook")
    parser.add_argument("--out", default="incidents", help="directory for incidents/<incident-id>/")
    args = parser.parse_args(argv)
    try:
        result = run_drill(args.scenario, stack_from_env(), interactive=args.interactive, out_dir=Path(args.out))
    except KeyboardInterrupt:
        return 130
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
