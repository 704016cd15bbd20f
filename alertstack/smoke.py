"""Smoke check of a deployed stack: every component healthy, every target up, rules and config loaded, and a
synthetic alert posted to Alertmanager comes out of a receiver.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone


from alertstack import api
from alertstack.endpoints import Endpoints
from alertstack.progress import say, wait_until

SMOKE_ALERT = "SmokeTest"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class SmokeReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str = "") -> Check:
        check = Check(name, bool(ok), detail)
        self.checks.append(check)
        say(f"[{'PASS' if check.ok else 'FAIL'}] {name}{': ' + detail if detail else ''}")
        return check


def _get(url: str, auth, **params):
    return api.call("GET", url, auth, params=params or None)


def _query(ep: Endpoints, promql: str) -> list:
    return _get(f"{ep.prometheus_url}/api/v1/query", ep.auth, query=promql).json()["data"]["result"]


def check_ready(report: SmokeReport, ep: Endpoints, timeout_s: float) -> None:
    for name, url in (("Prometheus", ep.prometheus_url), ("Alertmanager", ep.alertmanager_url)):
        ok = wait_until(f"{name} ready", lambda u=url: _get(f"{u}/-/ready", ep.auth).ok, timeout_s, 1)
        report.add(f"{name} is ready", bool(ok), f"{url}/-/ready")


def check_config(report: SmokeReport, ep: Endpoints) -> None:
    result = _query(ep, "prometheus_config_last_reload_successful")
    report.add("Prometheus config loaded", bool(result) and result[0]["value"][1] == "1")
    status = _get(f"{ep.alertmanager_url}/api/v2/status", ep.auth).json()
    report.add("Alertmanager config loaded", bool(status.get("config", {}).get("original")),
               f"cluster {status.get('cluster', {}).get('status', '?')}")
    ams = _get(f"{ep.prometheus_url}/api/v1/alertmanagers", ep.auth).json()["data"]["activeAlertmanagers"]
    report.add("Prometheus sends to Alertmanager", bool(ams), ", ".join(a["url"] for a in ams))


# Groups evaluated at least this often must have run once before the smoke check passes; slower groups (long SLO
# windows, budgets) are checked when they have run, instead of holding a fresh stack's smoke check for minutes.
DUE_INTERVAL_S = 60


def check_rules(report: SmokeReport, ep: Endpoints, timeout_s: float) -> None:
    def not_yet_run(group):
        return [r for r in group["rules"] if r.get("lastEvaluation", "").startswith("0001")]

    def due_groups_evaluated():
        groups = _get(f"{ep.prometheus_url}/api/v1/rules", ep.auth).json()["data"]["groups"]
        due = [g for g in groups if g.get("interval", 0) <= DUE_INTERVAL_S]
        if groups and not any(not_yet_run(g) for g in due):
            return groups
        return None

    groups = wait_until(f"every rule group on an interval of {DUE_INTERVAL_S}s or less evaluated once",
                        due_groups_evaluated, timeout_s, 2) or \
        _get(f"{ep.prometheus_url}/api/v1/rules", ep.auth).json()["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    broken = [f"{r['name']}: {r.get('lastError')}" for r in rules if r.get("health") == "err"]
    alerting = sum(1 for r in rules if r["type"] == "alerting")
    pending = [g["name"] for g in groups if not_yet_run(g)]
    overdue = [g["name"] for g in groups if g.get("interval", 0) <= DUE_INTERVAL_S and not_yet_run(g)]
    report.add("Rules loaded", bool(rules), f"{len(groups)} groups, {len(rules)} rules ({alerting} alerting)"
               + (f"; {len(pending) - len(overdue)} slower groups not due yet" if pending else ""))
    report.add("Rules due so far evaluated", not overdue, "; ".join(overdue[:5]))
    report.add("Rules evaluate without errors", not broken, "; ".join(broken[:5]))


def check_targets(report: SmokeReport, ep: Endpoints, timeout_s: float) -> None:
    def all_up():
        targets = _get(f"{ep.prometheus_url}/api/v1/targets", ep.auth, state="active").json()["data"]["activeTargets"]
        return targets if targets and all(t["health"] == "up" for t in targets) else None

    targets = wait_until("every scrape target up", all_up, timeout_s, 2)
    if targets is None:
        targets = _get(f"{ep.prometheus_url}/api/v1/targets", ep.auth, state="active").json()["data"]["activeTargets"]
    down = [f"{t['labels'].get('job')}/{t['labels'].get('instance')} ({t.get('lastError') or t['health']})"
            for t in targets if t["health"] != "up"]
    jobs = sorted({t["labels"].get("job") for t in targets})
    report.add("Every scrape target is up", bool(targets) and not down,
               "; ".join(down) if down else f"{len(targets)} targets: {', '.join(jobs)}")


def _post_alert(ep: Endpoints, labels: dict, starts_at: datetime, ends_at: datetime) -> None:
    body = [{"labels": labels,
             "annotations": {"summary": "Synthetic smoke-test alert", "description": "Posted by invoke smoke."},
             "startsAt": starts_at.isoformat(), "endsAt": ends_at.isoformat()}]
    api.call("POST", f"{ep.alertmanager_url}/api/v2/alerts", ep.auth, "Alertmanager", json=body)


def _notifications_sent(ep: Endpoints) -> float:
    result = _get(f"{ep.alertmanager_url}/metrics", ep.auth).text
    total = 0.0
    for line in result.splitlines():
        if line.startswith("alertmanager_notifications_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def check_synthetic_alert(report: SmokeReport, ep: Endpoints, timeout_s: float) -> None:
    smoke_id = uuid.uuid4().hex[:8]
    labels = {"alertname": SMOKE_ALERT, "severity": "info", "team": "ai-infra", "service": "monitoring",
              "smoke_id": smoke_id}
    since = time.time() - 1
    sent_before = _notifications_sent(ep)
    started = datetime.now(timezone.utc)
    _post_alert(ep, labels, started, started + timedelta(minutes=10))
    try:
        if ep.sink_url:
            from alertstack import sink

            def delivered():
                found = sink.messages(ep.sink_url, since=since, alertname=SMOKE_ALERT)
                return found or None

            found = wait_until("synthetic alert delivered to the notification sink", delivered, timeout_s, 1)
            where = ", ".join(sorted({f"{m.get('kind')}:{m.get('channel')}" for m in found or []}))
            report.add("Synthetic alert comes out of a receiver", bool(found), where)
        else:
            sent = wait_until("Alertmanager sends a notification for the synthetic alert",
                              lambda: _notifications_sent(ep) > sent_before, timeout_s, 2)
            report.add("Synthetic alert comes out of a receiver", bool(sent),
                       "alertmanager_notifications_total increased")
    finally:
        _post_alert(ep, labels, started, datetime.now(timezone.utc))  # resolve it


def check_demo_platform(report: SmokeReport, ep: Endpoints) -> None:
    """The system under observation answers a real prediction (local environment only)."""
    if not ep.gateway_url:
        return
    body = {"user_id": "smoke-1", "features": {"user_age": 42, "account_balance": 1234.5}}
    try:
        resp = api.call("POST", f"{ep.gateway_url}/predict", service="the inference gateway", json=body)
    except api.ApiError as exc:
        report.add("Demo inference gateway serves /predict", False, str(exc))
        return
    report.add("Demo inference gateway serves /predict", True, f"HTTP {resp.status_code}: {resp.text[:120]}")


def smoke(ep: Endpoints, timeout_s: float = 120) -> SmokeReport:
    """Run every check against `ep`; never raises for a failed check (see report.ok)."""
    report = SmokeReport()
    say(f"Smoke-checking {ep.env}: Prometheus {ep.prometheus_url}, Alertmanager {ep.alertmanager_url}")
    for step in (lambda: check_ready(report, ep, timeout_s), lambda: check_config(report, ep),
                 lambda: check_rules(report, ep, timeout_s), lambda: check_targets(report, ep, timeout_s),
                 lambda: check_demo_platform(report, ep), lambda: check_synthetic_alert(report, ep, timeout_s)):
        try:
            step()
        except api.ApiError as exc:
            report.add("API reachable", False, str(exc))
            break
    passed = sum(c.ok for c in report.checks)
    say(f"smoke checks: {passed} ok, {len(report.checks) - passed} failing")
    return report
