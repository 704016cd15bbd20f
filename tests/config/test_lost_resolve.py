"""A page whose resolve Alertmanager lost: why a drill closes it first, on a real Alertmanager and the real sink.

Alertmanager remembers what it notified (its notification log, kept on disk) but not the alerts (memory). If it
restarts while an alert is firing and the alert clears meanwhile, nobody sends the resolve: the page stays open,
and when the alert fires again Alertmanager sees nothing new to notify until repeat_interval (4h). The drill runner
sees that state in the sink (`open_pages`) and closes it by sending Alertmanager the resolved alert as Prometheus
would have (`close_lost_page`), after which the next incident is paged again.
"""
from __future__ import annotations

import time
import uuid

from am_sink import alertmanager, notification_sink, pages, post_alerts, restart, wait_until, webhook_config

from alertstack.drills import runner
from alertstack.localstack import LocalStack

WEBHOOK = ("webhook", None)


def test_a_lost_resolve_blocks_the_next_page_until_the_drill_closes_it(tmp_path):
    container = f"alertstack-test-am-{uuid.uuid4().hex[:8]}"
    with notification_sink() as sink, \
            alertmanager(webhook_config(sink.url), {}, tmp_path, name=container) as am_url:
        stack = LocalStack(alertmanager_url=am_url, sink_url=sink.url, auth=None)
        lost, control = ({"labels": {"alertname": n, "service": "inference-gateway", "severity": "critical"},
                          "annotations": {"summary": n}} for n in ("DrillTarget", "OtherAlert"))
        t0 = time.time()
        post_alerts(am_url, [lost, control])
        for alert in (lost, control):
            wait_until(lambda: pages(sink.url, alert["labels"]["alertname"], t0), 30,
                       f"the first page of {alert['labels']['alertname']}")

        # Alertmanager restarts while both fire; meanwhile they clear, and no resolve is ever sent.
        restart(container, am_url)
        assert runner.open_pages(stack, "DrillTarget", [WEBHOOK]) == [WEBHOOK]

        # Control: the other alert fires again; Alertmanager finds nothing new and does not page it.
        t1 = time.time()
        post_alerts(am_url, [control])
        time.sleep(8)  # group_wait 1s + three group_intervals of 2s
        assert pages(sink.url, "OtherAlert", t1) == []

        # The drill's fix: the lost page is resolved through Alertmanager, on the channel that had the page.
        sent = runner.close_lost_page(stack, "DrillTarget")
        assert sent == [lost["labels"]]
        wait_until(lambda: runner.open_pages(stack, "DrillTarget", [WEBHOOK]) == [], 30,
                   "the resolve of the lost page")

        # ...and the next incident is paged again.
        t2 = time.time()
        post_alerts(am_url, [lost])
        wait_until(lambda: pages(sink.url, "DrillTarget", t2), 30, "the page of the next incident")
