"""Run a drill end to end on the deployed stack: inject, detect, notify, mitigate, resolve, document.

Unattended by default; `interactive=True` pauses for a human to follow the runbook before the mitigation.
Every wait has a deadline and prints progress with the elapsed time. Whatever happens (a missed step, an
exception, Ctrl-C), the `finally` block mitigates an injected fault and stops the load, so a drill can run again
at once, and the incident directory is written.

CLI: python -m alertstack.drills.runner latency [--interactive] [--out incidents]   (exit 1 when a step missed)
"""
from __future__ import annotations

import argparse
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
from alertstack.drills.timeline import FAILED, PASSED, SKIPPED, Timeline, iso
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
    history_days: float = 30.0              # backfilled in-SLO history before the drill (0: none; drills.history)


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


def notifications_about(stack: LocalStack, alertname: str | None = None, **kw) -> list:
    """Notification-sink messages (filters: since, kind, channel, status) about `alertname`, as the sink attributes
    them (a PagerDuty resolve event by its dedup_key, alert names from payload.custom_details)."""
    from alertstack import sink
    return sink.messages(stack.sink_url, alertname=alertname, **kw)


def open_pages(stack: LocalStack, alertname: str, resolving_channels: list, lookback_s: float = 86400.0) -> list:
    """The channels (of those that send resolved notifications) whose last notification about `alertname` in the
    last `lookback_s` is a firing one. Alertmanager pages a group's alerts once: an alert that fires again before
    its resolved notification went out is not paged again (until repeat_interval), so a drill starts only once
    the previous page is closed."""
    last: dict = {}
    for msg in notifications_about(stack, alertname, since=time.time() - lookback_s):
        last[(msg["kind"], msg["channel"])] = msg["status"]
    return [c for c in resolving_channels
            if any(channels.channel_matches(c, actual) and status == "firing" for actual, status in last.items())]


def close_lost_page(stack: LocalStack, alertname: str, lookback_s: float = 86400.0) -> list:
    """Resolve in Alertmanager the alerts of `alertname`'s last firing page (their labels as the webhook receiver
    got them), so that it sends the resolve it lost and pages the next incident. Returns the label sets sent."""
    pages = [m for m in notifications_about(stack, alertname, since=time.time() - lookback_s, status="firing")
             if m.get("alerts")]
    if not pages:
        return []
    page, now = pages[-1], time.time()

    def rfc3339(t: float) -> str:
        return datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z")
    alerts = []
    for a in page["alerts"]:
        if a.get("labels", {}).get("alertname") == alertname:
            started = api.parse_time(a.get("startsAt")) or page["received_at"]
            alerts.append({"labels": a["labels"], "annotations": a.get("annotations") or {},
                           "startsAt": rfc3339(min(started, page["received_at"])), "endsAt": rfc3339(now)})
    api.post_alerts(stack.alertmanager_url, alerts, stack.auth)
    return [a["labels"] for a in alerts]


def shortened_values(alertname: str, deployed_for_s: float | None) -> list[dict]:
    """The alert's `for` where the environment shortened the policy's (rules_data; prometheus_alert_for_overrides)."""
    from alertstack import rules
    for content in rules.static_rule_files().values():
        for group in (content or {}).get("groups") or []:
            for rule in group.get("rules") or []:
                if rule.get("alert") == alertname and rule.get("for") and deployed_for_s is not None \
                        and bounds.seconds(rule["for"]) > deployed_for_s:
                    return [{"value": f"{alertname} for", "policy": rule["for"],
                             "deployed": f"{deployed_for_s:.0f}s"}]
    return []


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
                    slos: dict, priors: dict | None = None) -> bounds.MttdBound:
    """The MTTD bound of the scenario's alert from the deployed rule (`deployed`, from bounds.deployed_rule) and
    the deployed SLOs (`slos`, {name: SLO}); `priors`: {window: bad ratio before the fault} (burn-rate alerts)."""
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
                                      for_=deployed["for_s"] if deployed else None, priors=priors, **common)
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


def _steady_rps(stack: LocalStack) -> float:
    """Requests per second the gateway served over the last minute (the steady traffic, apps/demo_traffic)."""
    try:
        return api.scalar(stack.prometheus_url, 'sum(rate(inference_requests_total{job="inference-gateway",'
                                                'endpoint="/predict"}[1m]))', auth=stack.auth) or 0.0
    except api.ApiError:
        return 0.0


def _fault_left_over(name: str, stack: LocalStack) -> bool:
    """A fault of an earlier, killed drill still applied?"""
    from alertstack import faults
    try:
        if name in faults.BAD_RELEASES:
            return stack.file_exists(stack.previous_release_file)
        if name == "feature-store":
            return not faults._container_running(stack.container(faults.FEATURE_STORE))
        if name == "drift":
            return faults.drift_running(stack)
        if name == "network-latency":
            return faults.netem_active(stack)
        if name == "model-performance":
            return faults.concept_shift_running(stack)
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
    One method of _Drill per phase, in this order.
    """
    drill = _Drill(scenarios.get(scenario), stack, interactive, Path(out_dir), config or DrillConfig(),
                   out or sys.stdout)
    interrupted: KeyboardInterrupt | None = None
    phases = (drill.check_rule_loaded, drill.ensure_history, drill.plan, drill.wait_until_quiet,
              drill.wait_for_precondition, drill.inject,
              drill.wait_for_firing, drill.check_bound, drill.mitigate, drill.wait_for_resolve)
    try:
        for phase in phases:
            if phase() is False:  # the drill cannot go on; the phase recorded why
                break
    except KeyboardInterrupt as exc:
        interrupted = exc
        drill.result.interrupted = True
        drill.stop("interrupted (Ctrl-C)", "interrupted: cleaning up")
    except Exception as exc:  # noqa: BLE001  (reported, cleaned up, and the drill fails)
        drill.result.errors.append(f"{type(exc).__name__}: {exc}")
        drill.stop(f"{type(exc).__name__}: {exc}", f"error: {exc}")
        traceback.print_exc(file=drill.out)
    finally:
        drill.report()
    if interrupted is not None:
        raise interrupted
    return drill.result


class _Drill:
    """One run of a drill: the state its phases share, and one method per phase (run_drill calls them in order;
    a phase that finds the drill cannot go on records the failed step and returns False)."""

    def __init__(self, sc: scenarios.Scenario, stack: LocalStack, interactive: bool, out_dir: Path,
                 cfg: DrillConfig, out: TextIO):
        from alertstack import faults
        self.sc, self.stack, self.interactive = sc, stack, interactive
        self.out_dir, self.cfg, self.out = out_dir, cfg, out
        self.progress = _Progress(out)
        self.timeline = Timeline.new(
            sc.name, alertname=sc.alertname, severity=sc.severity, title=sc.title, fault=sc.fault, channels=[],
            evaluator=sc.evaluator, mitigation_command=faults.MITIGATION_COMMANDS[sc.name],
            mitigation_action=faults.MITIGATION_ACTIONS.get(sc.name, ""), key_metric=None,
            key_metric_label=sc.key_metric_label, note=sc.note, budget_slos=list(sc.budget_slos),
            interactive=interactive, prometheus_url=stack.prometheus_url, alertmanager_url=stack.alertmanager_url)
        n, base_id = 1, self.timeline.incident_id
        while (out_dir / self.timeline.incident_id).exists():  # two drills in the same second
            n += 1
            self.timeline.incident_id = f"{base_id}-{n}"
        self.result = DrillResult(sc.name, self.timeline)
        self.load = None
        self.injected = self.mitigated = False
        # What the phases learn, in order.
        self.written = self.slos = self.deployed = None
        self.expect: channels.Expectation | None = None
        self.routing: dict = {}
        self.notify_deadline = 0.0
        self.t_inject = self.t_mitigate = 0.0
        self.seen: dict = {}    # (kind, channel) -> first firing notification
        self.firing = None      # the alert_firing event
        self.progress.say(f"drill {sc.name}: {sc.title}; incident {self.timeline.incident_id}")
        if sc.note:
            self.progress.say(f"note: {sc.note}")

    def _cannot_run(self, step: str, exc: Exception) -> bool:
        self.timeline.step(step, FAILED, message=str(exc))
        self.progress.say(f"cannot run: {exc}")
        return False

    # --- preflight: the rule is loaded, the timing and the routing are known, nothing is already wrong ---------
    def check_rule_loaded(self) -> bool:
        """The deployed SLOs are readable and (Prometheus alerts) the alert rule is loaded."""
        sc, timeline = self.sc, self.timeline
        self.written = rendered.deployed(self.stack.root)  # what Ansible wrote for this stack: SLOs, alertmanager.yml
        try:
            self.slos = self.written.slos_by_name()
        except rendered.RenderedError as exc:
            return self._cannot_run("SLO definitions read", exc)
        timeline.meta["slos"] = [self.slos[name].to_dict() for name in sc.budget_slos if name in self.slos]
        timeline.meta["key_metric"] = key_metric_query(sc, self.slos)
        if sc.evaluator == "prometheus":
            try:
                self.deployed = bounds.deployed_rule(api.rules(self.stack.prometheus_url, self.stack.auth),
                                                     sc.alertname)
            except LookupError as exc:
                return self._cannot_run("alert rule loaded", exc)
            timeline.step("alert rule loaded", PASSED, message=f"for {self.deployed['for_s']:.0f}s, evaluated every "
                                                               f"{self.deployed['evaluation_interval_s']:.0f}s")
            timeline.meta["shortened"] = shortened_values(sc.alertname, self.deployed["for_s"])
            for v in timeline.meta["shortened"]:
                self.progress.say(f"shortened in this environment: {v['value']} {v['deployed']} "
                                  f"(policy: {v['policy']})")
        return True

    def ensure_history(self) -> bool:
        """The stack's Prometheus holds `history_days` of in-SLO history (alertstack.drills.history; idempotent)."""
        from alertstack.drills import history
        if not self.cfg.history_days:
            self.timeline.meta["history"] = {"days": 0}
            return True
        try:
            self.timeline.meta["history"] = history.ensure(self.stack, self.cfg.history_days, self.progress.say)
        except (history.HistoryError, api.ApiError) as exc:
            return self._cannot_run("history backfilled", exc)
        h = self.timeline.meta["history"]
        self.timeline.step("history backfilled", PASSED, message=(
            f"{h['days']:g} days before the first scrape: raw {'already there' if h['raw'] == 'present' else 'backfilled'}"
            f", recorded rates {'already there' if h['recorded'] == 'present' else 'backfilled'}"
            f", model performance {'already there' if h.get('gauges', 'present') == 'present' else 'backfilled'}"
            f" ({h['seconds']:.0f}s)"))
        return True

    def plan(self) -> None:
        """Where the alert must be notified (the running routing tree), the deployed timing and the MTTD bound."""
        sc, stack, timeline, say = self.sc, self.stack, self.timeline, self.progress.say
        try:
            am_config = api.alertmanager_config(stack.alertmanager_url, stack.auth)
        except api.ApiError as exc:
            am_config = None
            say(f"Alertmanager configuration unavailable ({exc}); using the alertmanager.yml Ansible wrote")
        try:
            written_config = self.written.alertmanager_config()
        except (rendered.RenderedError, OSError) as exc:
            written_config = None
            say(f"note: {exc}")
        labels = alert_labels(sc, self.deployed)
        now = time.time()
        horizon = now + self.cfg.precondition_timeout_s + (sc.notify_deadline_s or 1800) + sc.resolve_deadline_s
        expect = self.expect = expected_delivery(am_config, labels, now, horizon, written_config)
        self.routing = am_config or written_config or {}  # the routing tree the drill expects (its group_interval)
        timing = deployed_timing(stack, self.cfg, am_config, expect.group_wait)
        timeline.meta.update(timing=timing, alert_labels_routed=labels, receivers=expect.receivers,
                             channels=[list(c) for c in expect.required],
                             optional_channels=[list(c) for c in expect.optional],
                             resolved_channels=[list(c) for c in expect.resolved])
        say("expected notifications: " + ", ".join(_chan(c) for c in expect.required)
            + (f" (maybe: {', '.join(_chan(c) for c in expect.optional)})" if expect.optional else ""))
        policy = scenarios.policy_channels(written_config or am_config or {}, labels)  # business hours
        human = [c for c in policy if not any(channels.channel_matches(e, c) for e in expect.required)]
        if human:
            say("note: the deployed routing does not deliver to " + ", ".join(_chan(c) for c in human)
                + " now (time interval or changed policy); following the deployed routing")
        bound = self.result.bound = predicted_bound(sc, timing, self.deployed, self.slos)
        timeline.meta["bound"] = bound.to_dict()
        timeline.meta["bound_text"] = bound.describe()
        say(f"predicted bound for {sc.alertname}: {bound.describe()}")
        self.notify_deadline = sc.notify_deadline_s or (bound.total_s * 1.5 + 60 if bound.total_s != float("inf")
                                                        else 1800.0)

    def wait_until_quiet(self) -> bool:
        """No fault of an earlier drill left applied, and the alert inactive before the fault."""
        from alertstack import faults
        sc, stack = self.sc, self.stack
        if _fault_left_over(sc.name, stack):
            self.progress.say("a fault of an earlier drill is still applied: mitigating it first")
            self.timeline.meta["preflight_cleanup"] = _shielded(lambda: faults.mitigate(sc.name, stack))

        state = {"text": "clear"}

        def inactive():
            active = _active(stack, sc)
            state["text"] = f"{sc.alertname} still {active[0]}" if active else "clear"
            return not active, state["text"]

        def resolved():
            unresolved = open_pages(stack, sc.alertname, self.expect.resolved)
            state["text"] = (f"its last page on {', '.join(_chan(c) for c in unresolved)} is not resolved yet"
                             if unresolved else "clear")
            return not unresolved, state["text"]
        t = time.time()
        deadline = t + self.cfg.precondition_timeout_s
        quiet = _wait(self.progress, f"{sc.alertname} to be inactive before the fault", inactive, deadline,
                      self.cfg, t)
        if quiet and not resolved()[0]:
            # Alertmanager sends the resolve at the group's next flush: one group_interval after the alert cleared.
            group_interval = bounds.seconds((self.routing.get("route") or {}).get("group_interval", "5m"))
            grace = min(deadline, time.time() + group_interval + 2 * self.cfg.poll_s + 30)
            quiet = _wait(self.progress, f"the last page of {sc.alertname} to be resolved", resolved, grace,
                          self.cfg, t)
            if not quiet:
                self.progress.say(f"{state['text']}, though the alert is inactive: Alertmanager lost the alert "
                                  "(a restart of Prometheus and Alertmanager) and would not page it again before "
                                  "repeat_interval; sending it the resolved alert, as Prometheus would have")
                self.timeline.meta["closed_lost_pages"] = close_lost_page(stack, sc.alertname)
                quiet = _wait(self.progress, f"the last page of {sc.alertname} to be resolved", resolved, deadline,
                              self.cfg, t)
        if not quiet:
            self.timeline.step("alert inactive before the fault", FAILED, self.cfg.precondition_timeout_s,
                               time.time() - t, f"before any fault was injected: {state['text']}")
            return False
        return True

    def wait_for_precondition(self) -> bool:
        """The part of the rule that is not about the fault (sc.precondition; ModelPerformanceDegraded: the AUC-ROC a
        week ago above 0.80) holds from the fault to the notification deadline; waits up to precondition_timeout_s."""
        from alertstack.drills import baseline
        sc, say = self.sc, self.progress.say
        if not sc.precondition:
            return True
        t = time.time()
        need, within = self.notify_deadline, self.cfg.precondition_timeout_s
        try:
            at = baseline.clear_from(self.stack.prometheus_url, sc.precondition, t, need, within, self.stack.auth)
        except api.ApiError as exc:
            return self._cannot_run("alert can fire", exc)
        if at is None:
            return self._cannot_run("alert can fire", RuntimeError(
                f"{sc.alertname} cannot fire in the next {within + need:.0f}s: `{sc.precondition}` does not hold for "
                f"{need:.0f}s on end before {iso(t + within + need)} (its past values: an earlier incident or drill "
                f"a week ago); run the drill later"))
        if at > t:
            say(f"{sc.alertname} can only fire once `{sc.precondition}` holds: waiting {at - t:.0f}s, until "
                f"{iso(at)} (an earlier incident or drill a week ago)")
            _wait(self.progress, f"the week-ago baseline of {sc.alertname}",
                  lambda: (time.time() >= at, "degraded a week ago"), at + self.cfg.poll_s, self.cfg, t)
        self.timeline.step("alert can fire", PASSED, message=f"{sc.precondition} holds for {need:.0f}s"
                           + (f" (waited {at - t:.0f}s)" if at > t else ""))
        return True

    # --- inject ------------------------------------------------------------------------------------------------
    def inject(self) -> None:
        """Healthy load (warmed up), then the fault."""
        from alertstack import faults
        from alertstack.loadgen import BackgroundLoad
        sc, stack = self.sc, self.stack
        steady = _steady_rps(stack)
        self.timeline.meta["steady_rps"] = steady
        if sc.load and steady >= sc.load.rps / 2:
            self.progress.say(f"steady traffic of {steady:.1f} req/s already reaches the gateway: no extra load "
                              f"(the windows see the same rate before and during the fault)")
        elif sc.load:
            self.load = BackgroundLoad(f"{stack.gateway_url.rstrip('/')}/predict", rps=sc.load.rps,
                                       duration_s=self.cfg.load_max_s).start()
            self.progress.say(f"load: {sc.load.rps:g} req/s to {stack.gateway_url} (127.0.0.1 only); "
                              f"warming up {sc.load.warmup_s:.0f}s")
            time.sleep(sc.load.warmup_s)
        self._bound_from_prior()
        self.injected = True  # from here on report() mitigates, even if inject() fails half-way
        detail = faults.inject(sc.name, stack)
        self.t_inject = float(detail.get("at") or time.time())  # when the fault is live (the new release reported)
        self.timeline.add(tl.FAULT_INJECTED, at=self.t_inject, **_without_at(detail))
        self.progress.say(f"fault injected: {detail.get('detail', sc.fault)}")

    def _bound_from_prior(self) -> None:
        """Burn-rate alerts: the bound again, from the bad ratio each window already holds just before the fault."""
        det = self.sc.detection
        if det.kind != "slo" or self.result.bound is None:
            return
        from alertstack import slo as slo_mod
        slo_def = self.slos[det.slo]
        priors = {}
        for w in bounds.alert_windows(slo_def, self.sc.alertname):
            try:
                v = api.scalar(self.stack.prometheus_url, " ".join(slo_mod.bad_ratio_expr(slo_def, w).split()),
                               auth=self.stack.auth)
            except api.ApiError:
                v = None
            priors[w] = v if v is not None and v == v else 0.0
        bound = self.result.bound = predicted_bound(self.sc, self.timeline.meta["timing"], self.deployed, self.slos,
                                                    priors)
        self.timeline.meta.update(bound=bound.to_dict(), bound_text=bound.describe(), bound_priors=priors)
        self.progress.say(f"bad ratio before the fault: {priors}; predicted bound {bound.describe()}")

    # --- detection and notification ----------------------------------------------------------------------------
    def _notifications(self, seen: dict, event: str, status: str, since: float, **kw) -> None:
        """Record each channel's first `status` notification about the alert since `since` in `seen`."""
        label = "notification" if event == tl.NOTIFICATION else "resolved notification"
        for msg in notifications_about(self.stack, since=since, alertname=self.sc.alertname, status=status, **kw):
            ch = (msg["kind"], msg["channel"])
            if ch not in seen:
                seen[ch] = msg
                self.timeline.add(event, at=msg["received_at"], kind=msg["kind"], channel=msg["channel"],
                                  alertname=self.sc.alertname, status=status, payload=msg.get("payload"))
                self.progress.say(f"{label} on {_chan(ch)}")

    def wait_for_firing(self) -> None:
        """The alert fires and every expected channel is notified, within the notification deadline."""
        sc, timeline, expect = self.sc, self.timeline, self.expect

        def detect():
            _observe_alert(self.stack, sc, timeline)
            self._notifications(self.seen, tl.NOTIFICATION, "firing", self.t_inject)
            missing = _missing(expect.required, self.seen)
            done = timeline.first(tl.ALERT_FIRING) is not None and not missing
            return done, f"{_state_text(timeline)}; waiting on " + (", ".join(_chan(c) for c in missing) or "-")
        _wait(self.progress, f"{sc.alertname} to fire and notify", detect, self.t_inject + self.notify_deadline,
              self.cfg, self.t_inject)
        why = ""
        if timeline.first(tl.ALERT_FIRING) is not None and _missing(expect.required, self.seen):
            why = _unnotified_reason(_alertmanager_alerts_or_none(self.stack, sc.alertname))
        _detection_steps(timeline, sc, expect, self.t_inject, self.notify_deadline, why)
        self.firing = timeline.first(tl.ALERT_FIRING)
        m = timeline.measurements()
        self.progress.say(f"MTTD {_fmt(m['mttd_s'])} (time to notify {_fmt(m['time_to_notify_s'])}); "
                          f"predicted bound {_fmt(self.result.bound.total_s)}")

    def check_bound(self) -> None:
        """The measured time to notify agrees with the predicted bound within one evaluation interval plus
        group_wait (burn-rate alerts; a threshold alert's bound is an estimate, reported only)."""
        m, bound, timing = self.timeline.measurements(), self.result.bound, self.timeline.meta.get("timing", {})
        if bound is None or m["time_to_notify_s"] is None or bound.total_s == float("inf"):
            return
        tolerance = bound.evaluation_interval_s + bound.group_wait_s
        diff = m["time_to_notify_s"] - bound.total_s
        agrees = abs(diff) <= tolerance
        self.timeline.meta["bound_agreement"] = {"bound_s": bound.total_s, "measured_s": m["time_to_notify_s"],
                                                 "difference_s": diff, "tolerance_s": tolerance, "agrees": agrees,
                                                 "group_wait_s": timing.get("group_wait_s"),
                                                 "estimate": self.sc.detection.kind != "slo"}
        text = (f"time to notify {m['time_to_notify_s']:.0f}s vs bound {bound.total_s:.0f}s: {diff:+.0f}s "
                f"(tolerance: evaluation {bound.evaluation_interval_s:.0f}s + group_wait {bound.group_wait_s:.0f}s)")
        if self.sc.detection.kind == "slo":
            self.timeline.step("time to notify agrees with the bound", PASSED if agrees else FAILED,
                               message=text)
        else:
            self.timeline.step("time to notify agrees with the bound", SKIPPED,
                               message=f"{text}; a threshold alert's detection is an estimate")
        self.progress.say(text)

    # --- mitigation --------------------------------------------------------------------------------------------
    def mitigate(self) -> None:
        """The runbook's mitigation, run for real (after a human's Enter when interactive and the alert fired)."""
        from alertstack import faults
        sc = self.sc
        if self.interactive and self.firing is not None:
            runbook = (self.timeline.meta.get("alert_annotations") or {}).get("runbook_url", "(see the alert)")
            self.progress.say(f"follow the runbook: {runbook}")
            input(f"Press Enter to run the mitigation ({faults.MITIGATION_COMMANDS[sc.name]}) ... ")
        self.t_mitigate = time.time()
        detail = _shielded(lambda: faults.mitigate(sc.name, self.stack))
        self.mitigated = True
        self.timeline.add(tl.MITIGATION, at=self.t_mitigate, **_without_at(detail))
        self.timeline.step("mitigation executed", PASSED, elapsed_s=self.t_mitigate - self.t_inject,
                           message=f"{detail.get('command')}: {detail.get('detail', '')}")
        self.progress.say(f"mitigation executed: {detail.get('command')} ({detail.get('detail', '')})")

    # --- resolution --------------------------------------------------------------------------------------------
    def wait_for_resolve(self) -> None:
        """The alert resolves and the resolved notifications arrive; then no stray channel was notified."""
        sc, stack, timeline, expect = self.sc, self.stack, self.timeline, self.expect
        if self.firing is None:
            timeline.step("alert resolved", SKIPPED, message="the alert never fired")
            timeline.step("resolved notification", SKIPPED, message="the alert never fired")
            return
        resolved_seen: dict = {}

        def resolve():
            if timeline.first(tl.ALERT_RESOLVED) is None and not _active(stack, sc):
                timeline.add(tl.ALERT_RESOLVED, alertname=sc.alertname)
                self.progress.say(f"{sc.alertname} resolved")
            self._notifications(resolved_seen, tl.RESOLVED_NOTIFICATION, "resolved", self.t_mitigate)
            missing = _missing(expect.resolved, resolved_seen)
            done = timeline.first(tl.ALERT_RESOLVED) is not None and not missing
            return done, ("alert " + ("resolved" if timeline.first(tl.ALERT_RESOLVED) else "still active")
                          + "; waiting on " + (", ".join(_chan(c) for c in missing) or "-"))
        _wait(self.progress, f"{sc.alertname} to resolve", resolve, self.t_mitigate + sc.resolve_deadline_s,
              self.cfg, self.t_mitigate)
        _resolution_steps(timeline, sc, expect, self.t_mitigate)
        time.sleep(self.cfg.settle_s)
        _channel_check(stack, sc, expect, timeline, self.t_inject)

    # --- report ------------------------------------------------------------------------------------------------
    def stop(self, step_message: str, say: str) -> None:
        """The drill ended early (Ctrl-C, an exception): a failed step; report() still cleans up."""
        self.timeline.step("drill completed", FAILED, message=step_message)
        self.progress.say(say)

    def report(self) -> None:
        """Always: mitigate a fault still applied, stop the load, write the incident directory, print the verdict."""
        from alertstack import faults
        from alertstack.drills import report as incident_report
        sc, stack, timeline, result = self.sc, self.stack, self.timeline, self.result
        if self.injected and not self.mitigated:
            try:
                detail = _shielded(lambda: faults.mitigate(sc.name, stack))
                timeline.add(tl.MITIGATION, cleanup=True, **_without_at(detail))
                self.progress.say(f"clean-up: {detail.get('command')} ({detail.get('detail', '')})")
            except Exception as exc:  # noqa: BLE001
                result.errors.append(f"clean-up failed: {exc}")
                self.progress.say(f"CLEAN-UP FAILED, run `{faults.MITIGATION_COMMANDS[sc.name]}` by hand: {exc}")
        if self.load is not None:
            timeline.meta["load"] = self.load.stop()
        timeline.finished_at = time.time()
        if self.injected:
            incident_dir = self.out_dir / timeline.incident_id
            try:
                result.incident_dir = _shielded(lambda: incident_report.write_incident(
                    timeline, self.out_dir, prometheus_url=stack.prometheus_url, auth=stack.auth))
            except Exception as exc:  # noqa: BLE001  (a report failure must not hide the drill's verdict)
                result.errors.append(f"incident report failed: {exc}")
                incident_dir.mkdir(parents=True, exist_ok=True)
                result.incident_dir = incident_dir
                timeline.save(incident_dir / "timeline.json")
        print(result.summary(), file=self.out, flush=True)


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


def _missing(expected: list, seen: dict) -> list:
    """The expected channels no notification in `seen` ({(kind, channel): message}) matches."""
    return [c for c in expected if not any(channels.channel_matches(c, a) for a in seen)]


def _timed_step(timeline: Timeline, name: str, ev, since: float, deadline: float, failure: str) -> None:
    """Step `name` passed if event `ev` came within `deadline` seconds of `since`; else failed with `failure`."""
    if ev is not None and ev.at - since <= deadline:
        timeline.step(name, PASSED, deadline, ev.at - since)
    else:
        timeline.step(name, FAILED, deadline, ev.at - since if ev else None, failure)


def _channel_steps(timeline: Timeline, event: str, label: str, expected: list, since: float, deadline: float,
                   failure: str) -> None:
    """One timed step "<label> on <channel>" per expected channel: its first `event` within the deadline."""
    for ch in expected:
        _timed_step(timeline, f"{label} on {_chan(ch)}", _first_on(timeline, event, ch), since, deadline, failure)


def _alertmanager_alerts_or_none(stack: LocalStack, alertname: str) -> list | None:
    """Alertmanager's alerts named `alertname`, or None when it does not answer."""
    try:
        return api.alertmanager_alerts(stack.alertmanager_url, stack.auth, alertname=alertname)
    except api.ApiError:
        return None


def _unnotified_reason(stack_alerts: list | None) -> str:
    """Why a firing alert paged nobody, from Alertmanager's view of it ('' when it tells nothing)."""
    if stack_alerts is None:
        return "; Alertmanager did not answer"
    if not stack_alerts:
        return "; Alertmanager never received the alert from Prometheus"
    states = {(a.get("status") or {}).get("state") for a in stack_alerts}
    if states == {"suppressed"}:
        return "; Alertmanager holds the alert silenced or inhibited"
    if "active" in states:
        return ("; Alertmanager holds the alert active, neither silenced nor inhibited, and sent nothing: its "
                "notification log records this alert as paged and not resolved (a crash restored a snapshot older "
                "than the resolve; docs/high-availability.md), so it pages again only at repeat_interval")
    return ""


def _detection_steps(timeline: Timeline, sc: scenarios.Scenario, expect: channels.Expectation, t_inject: float,
                     deadline: float, why: str = "") -> None:
    pending, firing = timeline.first(tl.ALERT_PENDING), timeline.first(tl.ALERT_FIRING)
    if pending is not None:
        timeline.step("alert pending", PASSED, elapsed_s=pending.at - t_inject)
    elif sc.evaluator != "prometheus":
        timeline.step("alert pending", SKIPPED, message="log alerts are pending in Grafana, not visible here")
    elif firing is not None:
        timeline.step("alert pending", SKIPPED, message="went straight to firing (no `for`)")
    else:
        timeline.step("alert pending", FAILED, deadline, message="never became pending")
    _timed_step(timeline, "alert firing", firing, t_inject, deadline,
                f"{sc.alertname} did not fire within {deadline:.0f}s")
    _channel_steps(timeline, tl.NOTIFICATION, "notification", expect.required, t_inject, deadline,
                   f"no firing notification for {sc.alertname} within {deadline:.0f}s{why}")


def _resolution_steps(timeline: Timeline, sc: scenarios.Scenario, expect: channels.Expectation,
                      t_mitigate: float) -> None:
    deadline = sc.resolve_deadline_s
    _timed_step(timeline, "alert resolved", timeline.first(tl.ALERT_RESOLVED), t_mitigate, deadline,
                f"{sc.alertname} still active {deadline:.0f}s after the mitigation")
    _channel_steps(timeline, tl.RESOLVED_NOTIFICATION, "resolved notification", expect.resolved, t_mitigate,
                   deadline, f"no resolved notification within {deadline:.0f}s of the mitigation")
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
    if endpoints.monitoring_hostvars(env).get("lab_network"):  # the lab: its hosts reached over SSH
        from alertstack import labstack
        return labstack.from_inventory(env)
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
