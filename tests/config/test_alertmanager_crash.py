"""What an Alertmanager crash loses, on real Alertmanagers killed with SIGKILL (a crash, an OOM kill, a power loss).

Alertmanager keeps silences and its notification log (what it paged, and whether the resolve went out) in memory,
and writes them to disk every --data.maintenance-interval (and on a clean shutdown). After a crash it starts from
the last snapshot:
- a silence created since then is gone: the maintenance it covered pages people;
- a resolve sent since then is forgotten: the log says the page is still open, so when the alert fires again
  Alertmanager finds nothing new to notify and stays quiet until repeat_interval (4h). This happened on a CI
  machine: a drill's alert fired with no page.

The stack runs Alertmanager with the interval the role renders (alertmanager_data_maintenance_interval, 1m), so a
crash loses at most that much. The test runs it beside one with upstream's 15m. Each pages an alert, restarts
cleanly (a snapshot with the page open), sends the resolve and takes a silence, and is crashed one interval and a
few seconds later: ours keeps both and pages the next incident; upstream's loses both, as on the CI machine.
"""
from __future__ import annotations

import time
import uuid

from am_sink import (alertmanager, crash_and_start, notification_sink, pages, post_alerts, restart, wait_until,
                     webhook_config)

from alertstack import api, rendered, silences
from alertstack.drills import runner
from alertstack.vocabulary import duration_seconds as seconds

UPSTREAM_INTERVAL = "15m"


def _rendered_data_flags() -> list[str]:
    command = rendered.for_env("local").service_command("alertmanager", "alertmanager")
    return [flag for flag in command if flag.startswith("--data.")]


def test_the_rendered_alertmanager_snapshots_its_state_every_minute():
    flags = dict(f[2:].split("=", 1) for f in _rendered_data_flags())
    assert seconds(flags["data.maintenance-interval"]) == 60, flags
    assert seconds(flags["data.retention"]) >= 4 * 3600, "the notification log must outlive repeat_interval"


def test_a_crash_keeps_silences_and_resolves_at_the_rendered_interval_and_loses_them_at_upstreams(tmp_path):
    ours_flags = _rendered_data_flags()
    interval_s = seconds(next(f.split("=", 1)[1] for f in ours_flags if f.startswith("--data.maintenance-interval")))
    theirs_flags = [f for f in ours_flags if not f.startswith("--data.maintenance-interval")] + \
        [f"--data.maintenance-interval={UPSTREAM_INTERVAL}"]
    suffix = uuid.uuid4().hex[:8]
    alert = {"labels": {"alertname": "CrashTarget", "service": "inference-gateway", "severity": "critical"},
             "annotations": {"summary": "CrashTarget"}}
    with notification_sink() as snk, \
            alertmanager(webhook_config(snk.url), {}, tmp_path / "ours", name=f"alertstack-test-am-ours-{suffix}",
                         storage=tmp_path / "ours-data", flags=tuple(ours_flags)) as ours, \
            alertmanager(webhook_config(snk.url), {}, tmp_path / "theirs", name=f"alertstack-test-am-theirs-{suffix}",
                         storage=tmp_path / "theirs-data", flags=tuple(theirs_flags)) as theirs:
        names = {ours: f"alertstack-test-am-ours-{suffix}", theirs: f"alertstack-test-am-theirs-{suffix}"}
        ids = {}
        for url in (ours, theirs):
            t0 = time.time()
            post_alerts(url, [alert])
            wait_until(lambda: pages(snk.url, "CrashTarget", t0), 30, f"the page from {url}")
            # A clean restart writes a snapshot: the page is on disk, still open. It starts the snapshot cycle anew.
            restart(names[url], url)
            post_alerts(url, [alert], resolved=True)
            wait_until(lambda: pages(snk.url, "CrashTarget", t0, "resolved"), 30, f"the resolve from {url}")
            ids[url] = silences.add(url, ["service=maintenance-window"], "2h", "planned maintenance", "crash-test")

        time.sleep(interval_s + 10)  # one snapshot of ours has been written since; none of upstream's
        for url in (ours, theirs):
            crash_and_start(names[url], url)

        kept = {url: {s["id"] for s in silences.list_silences(url)} for url in (ours, theirs)}
        assert ids[ours] in kept[ours], "the silence did not survive a crash at the rendered interval"
        assert ids[theirs] not in kept[theirs], "control: upstream's interval should have lost the silence"

        t1 = time.time()
        post_alerts(ours, [alert])
        wait_until(lambda: pages(snk.url, "CrashTarget", t1), 30,
                   "the page of the next incident after the crash (rendered interval)")
        t2 = time.time()
        post_alerts(theirs, [alert])
        time.sleep(8)  # group_wait 1s + three group_intervals of 2s
        assert pages(snk.url, "CrashTarget", t2) == [], \
            "control: upstream's interval should have forgotten the resolve and stayed quiet"
        # A drill that meets this state says why nobody was paged.
        reason = runner._unnotified_reason(api.alertmanager_alerts(theirs, alertname="CrashTarget"))
        assert "notification log records this alert as paged and not resolved" in reason, reason
