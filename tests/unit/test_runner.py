"""alertstack.drills.runner: the pieces a drill decides with, against a real notification sink (in-process)."""
import json
import threading
import time
import urllib.request
from http.server import ThreadingHTTPServer

import pytest

from alertstack import rendered
from alertstack.drills import channels, runner, scenarios
from alertstack.localstack import LocalStack
from notification_sink.server import Sink, make_handler


@pytest.fixture(scope="module")
def local():
    """What `invoke render --env local` wrote: SLOs, rule files, alertmanager.yml (alertstack.rendered)."""
    return rendered.for_env("local")


@pytest.fixture
def sink_stack():
    """The real notification sink on a random 127.0.0.1 port, as the sink of a LocalStack."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(Sink(None)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LocalStack(sink_url=f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()


def _post(stack, path, body):
    req = urllib.request.Request(stack.sink_url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read() or b"null") if path.startswith("/pagerduty") else None


def test_notifications_about_finds_templated_pagerduty_events_and_their_resolve(sink_stack):
    """The sink attributes a PagerDuty event by payload.custom_details and its resolve by dedup_key: the runner
    asks the sink for the alert's messages and needs no matching of its own."""
    since = time.time() - 1
    # The policy's PagerDuty summary is templated; the alert name is in custom_details, as Alertmanager sends it.
    trigger = _post(sink_stack, "/pagerduty/v2/enqueue", {
        "routing_key": "k" * 32, "event_action": "trigger", "dedup_key": "abc123",
        "payload": {"summary": "inference-gateway: latency budget burning at >= 14.4x",
                    "source": "alertmanager", "severity": "critical",
                    "custom_details": {"alertname": "InferenceLatencyBurnRateCritical", "firing": "1"}}})
    assert trigger["dedup_key"] == "abc123"
    _post(sink_stack, "/pagerduty/v2/enqueue", {"routing_key": "k" * 32, "event_action": "resolve",
                                                "dedup_key": "abc123"})
    _post(sink_stack, "/slack/ai-infra-incidents",
          {"text": "[FIRING:1] InferenceLatencyBurnRateHigh (high, inference-gateway)"})  # another alert
    found = runner.notifications_about(sink_stack, "InferenceLatencyBurnRateCritical", since=since, status="firing")
    assert [(m["kind"], m["channel"]) for m in found] == [("pagerduty", "events-v2")]
    # The resolve event carries only the dedup key: the sink attributes it to the trigger's alert.
    resolved = runner.notifications_about(sink_stack, "InferenceLatencyBurnRateCritical", since=since,
                                          status="resolved")
    assert len(resolved) == 1 and resolved[0]["payload"]["event_action"] == "resolve"
    # A name that is a prefix of another is not a match.
    assert runner.notifications_about(sink_stack, "InferenceLatencyBurnRate", since=since) == []


def test_a_page_still_open_holds_the_next_drill_back(sink_stack):
    """Alertmanager does not page again an alert that fires again before its resolved notification went out, so
    a drill waits until the last page on every channel that sends resolved notifications is closed."""
    name = "InferenceLatencyBurnRateCritical"
    resolving = [("pagerduty", "events-v2"), ("webhook", None)]
    assert runner.open_pages(sink_stack, name, resolving) == []
    trigger = {"routing_key": "k" * 32, "event_action": "trigger", "dedup_key": "d1",
               "payload": {"summary": "s", "source": "alertmanager", "severity": "critical",
                           "custom_details": {"alertname": name}}}
    _post(sink_stack, "/pagerduty/v2/enqueue", trigger)
    webhook = {"version": "4", "status": "firing", "receiver": "r", "groupKey": "g",
               "commonLabels": {"alertname": name}, "alerts": [{"status": "firing", "labels": {"alertname": name}}]}
    _post(sink_stack, "/webhook/any", webhook)
    _post(sink_stack, "/slack/ai-infra-incidents", {"text": f"[FIRING:1] {name} (critical)"})
    assert runner.open_pages(sink_stack, name, resolving) == resolving
    _post(sink_stack, "/pagerduty/v2/enqueue", {"routing_key": "k" * 32, "event_action": "resolve",
                                                "dedup_key": "d1"})
    assert runner.open_pages(sink_stack, name, resolving) == [("webhook", None)]
    _post(sink_stack, "/webhook/any", dict(webhook, status="resolved",
                                           alerts=[{"status": "resolved", "labels": {"alertname": name}}]))
    # Slack sends no resolved notification here: its firing message does not hold the drill.
    assert runner.open_pages(sink_stack, name, resolving) == []
    assert runner.open_pages(sink_stack, "SomeOtherAlert", resolving) == []


def test_predicted_bound_uses_the_deployed_rule(local):
    sc = scenarios.get("latency")
    slos = local.slos_by_name()
    deployed = {"query": "slo:sli_error:ratio_rate30m > 0.0144", "for_s": 120.0, "evaluation_interval_s": 30.0,
                "recording_interval_s": 30.0, "labels": {}}
    timing = {"scrape_interval_s": 5.0, "evaluation_interval_s": 5.0, "group_wait_s": 10.0}
    b = runner.predicted_bound(sc, timing, deployed, slos)
    # detection from the deployed SLO's page tier: 14.4x over 30m at 100 % bad = 0.0144 x 1800 s
    assert b.total_s == pytest.approx(25.92 + 5 + 30 + 30 + 120 + 10)
    fs = runner.predicted_bound(scenarios.get("feature-store"), timing,
                                {"query": 'up{job="feature-store"} == 0', "for_s": 120.0,
                                 "evaluation_interval_s": 30.0, "recording_interval_s": 0.0, "labels": {}}, slos)
    assert fs.total_s == 5 + 30 + 120 + 10


def test_expected_delivery_falls_back_to_the_written_config_without_the_running_one(local):
    sc = scenarios.get("errors")
    config = local.alertmanager_config()
    rule = next(r for r in local.alert_rules() if r["alert"] == sc.alertname)
    labels = runner.alert_labels(sc, rule)
    exp = runner.expected_delivery(None, labels, time.time(), time.time() + 60, config)
    assert exp.required == [("pagerduty", "events-v2"), ("slack", "ai-infra-incidents")]
    assert ("webhook", None) in exp.optional


def test_key_metric_of_slo_scenarios_is_the_slos_bad_ratio(local):
    q = runner.key_metric_query(scenarios.get("latency"), local.slos_by_name())
    assert 'le="0.3"' in q and "[1m]" in q
    assert runner.key_metric_query(scenarios.get("feature-store"), {}) == 'up{job="feature-store"}'


def test_every_scenario_has_a_fault_and_a_mitigation():
    from alertstack import faults
    assert set(scenarios.SCENARIOS) == set(faults.SCENARIOS)
    assert set(scenarios.SCENARIOS) <= set(faults.MITIGATION_COMMANDS)
    with pytest.raises(KeyError, match="known: latency"):
        scenarios.get("nope")


def test_channel_names():
    assert runner._chan(("webhook", None)) == "webhook (any)"
    assert runner._chan(("slack", "ai-infra-incidents")) == "slack #ai-infra-incidents"
    assert channels.channel_matches(("pagerduty", "events-v2"), ("pagerduty", "events-v2"))
