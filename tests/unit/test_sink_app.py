"""The notification sink as a real process: Alertmanager-shaped Slack, PagerDuty and webhook posts, real SMTP mail
(smtplib), queried back with alertstack.sink."""
from __future__ import annotations

import smtplib
import time
from email.message import EmailMessage

import pytest

from alertstack import sink as client
from demo_processes import App, free_port, http

# What Alertmanager 0.33 posts with its default templates (trimmed).
SLACK = {"channel": "#ml-team", "username": "Alertmanager", "attachments": [{
    "title": "[FIRING:1] FeatureDriftDetected (user_age fraud_detection)", "color": "danger",
    "text": "*Alert:* Feature drift\n*Labels:* alertname=FeatureDriftDetected severity=warning team=ml-platform",
    "fallback": "[FIRING:1] FeatureDriftDetected | http://alertmanager:9093/#/alerts"}]}
PAGERDUTY = {"routing_key": "R0UT1NGKEY0000000000000000000abc", "event_action": "trigger",
             "dedup_key": "0f1e2d", "client": "Alertmanager", "client_url": "http://alertmanager:9093",
             "payload": {"summary": "[FIRING:1] InferenceErrorRateCritical (inference-gateway critical)",
                         "source": "Alertmanager", "severity": "critical",
                         "custom_details": {"firing": "Labels:\n - alertname = InferenceErrorRateCritical\n"
                                                      " - severity = critical\n", "num_firing": "1"}}}
WEBHOOK = {"version": "4", "groupKey": "{}:{alertname=\"FeatureStoreDown\"}", "status": "resolved",
           "receiver": "oncall-webhook", "groupLabels": {"alertname": "FeatureStoreDown"},
           "commonLabels": {"alertname": "FeatureStoreDown", "severity": "critical", "service": "feature-store"},
           "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "truncatedAlerts": 0,
           "alerts": [{"status": "resolved", "labels": {"alertname": "FeatureStoreDown", "severity": "critical",
                                                        "service": "feature-store"},
                       "annotations": {"summary": "feature store down"}, "startsAt": "2026-01-01T00:00:00Z",
                       "endsAt": "2026-01-01T00:05:00Z", "generatorURL": "http://prometheus:9090/graph",
                       "fingerprint": "abc123"}]}


def start_sink(tmp_path):
    http_port, smtp_port = free_port(), free_port()
    (tmp_path / "smtp-password").write_text("s3cret\n")
    app = App("notification_sink", {"SINK_HOST": "127.0.0.1", "SINK_HTTP_PORT": str(http_port),
                                    "SINK_SMTP_PORT": str(smtp_port), "SINK_DATA_DIR": str(tmp_path / "data"),
                                    "SINK_SMTP_USERNAME": "alertmanager",
                                    "SINK_SMTP_PASSWORD_FILE": str(tmp_path / "smtp-password")},
              f"http://127.0.0.1:{http_port}/healthz", tmp_path / f"sink-{http_port}.log")
    return app, f"http://127.0.0.1:{http_port}", smtp_port


@pytest.fixture
def sink(tmp_path):
    app, url, smtp_port = start_sink(tmp_path)
    yield url, smtp_port, tmp_path
    app.stop()


def mail(subject: str, to: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "alertmanager@example.org", to, subject
    msg.set_content("Labels:\n - alertname = InferenceLatencyBurnRateHigh\n - severity = high\n")
    msg.add_alternative("<html><body><b>alertname</b> = InferenceLatencyBurnRateHigh</body></html>", subtype="html")
    return msg


def test_slack_pagerduty_and_webhook_posts_are_stored_and_parsed(sink):
    url, _, _ = sink
    start = time.time()
    assert http("POST", f"{url}/slack/ml-team", SLACK) == (200, "ok")
    status, body = http("POST", f"{url}/pagerduty/v2/enqueue", PAGERDUTY)
    assert status == 202 and body == {"status": "success", "message": "Event processed", "dedup_key": "0f1e2d"}
    assert http("POST", f"{url}/webhook/oncall", WEBHOOK)[0] == 200

    (slack,) = client.messages(url, kind="slack", channel="ml-team")
    assert slack["alertnames"] == ["FeatureDriftDetected"] and slack["status"] == "firing"
    assert slack["received_at"] >= start and slack["payload"] == SLACK
    (page,) = client.messages(url, kind="pagerduty")
    assert page["alertnames"] == ["InferenceErrorRateCritical"] and page["status"] == "firing"
    assert page["payload"]["routing_key"].endswith("0abc") and "R0UT1NG" not in str(page)  # stored masked
    (hook,) = client.messages(url, kind="webhook", channel="oncall")
    assert hook["status"] == "resolved" and hook["labels"]["service"] == "feature-store"
    assert hook["alerts"][0]["labels"]["alertname"] == "FeatureStoreDown"
    assert [m["kind"] for m in client.messages(url, alertname="FeatureStoreDown")] == ["webhook"]
    assert client.messages(url, status="resolved") == [hook]
    assert client.messages(url, since=time.time() + 60) == []
    # each message says where it came from (which Alertmanager of a cluster sent it)
    assert {m["sender"] for m in client.messages(url)} == {"127.0.0.1"}


def test_pagerduty_refuses_invalid_events_like_pagerduty_does(sink):
    url, _, _ = sink
    status, body = http("POST", f"{url}/pagerduty/v2/enqueue", {"event_action": "trigger", "payload": {}})
    assert status == 400 and body["status"] == "invalid event"
    assert any("routing_key" in e for e in body["errors"]) and any("payload.summary" in e for e in body["errors"])
    status, body = http("POST", f"{url}/pagerduty/v2/enqueue", {**PAGERDUTY, "event_action": "explode"})
    assert status == 400 and any("event_action" in e for e in body["errors"])
    assert client.messages(url) == []


def test_smtp_mail_is_stored_per_recipient_and_auth_is_checked(sink):
    url, smtp_port, _ = sink
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
        smtp.send_message(mail("[FIRING:1] InferenceLatencyBurnRateHigh (inference-gateway)",
                               "oncall@example.org, ml@example.org"))
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
        smtp.login("alertmanager", "s3cret")
        smtp.send_message(mail("[RESOLVED] InferenceLatencyBurnRateHigh (inference-gateway)", "oncall@example.org"))
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login("alertmanager", "wrong")

    got = client.wait_for(url, lambda m: m["status"] == "resolved", timeout_s=5, poll_s=0.2, kind="email")
    assert got and got["channel"] == "oncall@example.org"
    emails = client.messages(url, kind="email")
    assert sorted(m["channel"] for m in emails) == ["ml@example.org", "oncall@example.org", "oncall@example.org"]
    assert all(m["alertnames"] == ["InferenceLatencyBurnRateHigh"] for m in emails)
    assert emails[0]["status"] == "firing" and "alertname" in emails[0]["payload"]["body"]
    assert {m["sender"] for m in emails} == {"127.0.0.1"}


def test_queries_validate_input_and_clear_survives_restart(sink):
    url, _, tmp_path = sink
    assert http("GET", f"{url}/messages?since=yesterday")[0] == 400
    status, body = http("GET", f"{url}/messages?kind=sms")
    assert status == 400 and "kind='sms'" in body["error"]
    assert http("GET", f"{url}/messages?color=red")[0] == 400
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5))
    http("POST", f"{url}/slack/oncall", SLACK)
    assert len(client.messages(url, since=None)) == 1
    assert http("GET", f"{url}/messages?since={iso}")[1]["count"] == 1
    assert client.wait_for(url, lambda m: False, timeout_s=0.3, poll_s=0.1) is None
    assert client.clear(url) == 1
    assert client.messages(url) == []
    http("POST", f"{url}/slack/oncall", SLACK)
    # a second sink on the same data directory replays the file: the clear holds, the later message stays
    app, url2, _ = start_sink(tmp_path)
    try:
        (kept,) = client.messages(url2)
        assert kept["channel"] == "oncall"
    finally:
        app.stop()


def test_client_names_an_unreachable_sink():
    with pytest.raises(client.SinkError, match="unreachable"):
        client.messages(f"http://127.0.0.1:{free_port()}")


# --- attribution by dedup key, Opsgenie, the incident webhook ------------------------------------------------------

# The policy's PagerDuty receiver (roles/alertmanager/defaults/main/policy.yml): a templated summary that does not
# start with "[FIRING", and the alert's name in custom_details.
POLICY_TRIGGER = {"routing_key": "k" * 32, "event_action": "trigger", "dedup_key": "9a8b7c",
                  "payload": {"summary": "InferenceErrorRateCritical on inference-gateway: 5xx budget burning",
                              "source": "Alertmanager", "severity": "critical",
                              "custom_details": {"alertname": "InferenceErrorRateCritical", "team": "ml-platform",
                                                 "service": "inference-gateway", "firing": "1"}}}


def test_pagerduty_names_come_from_custom_details_and_resolves_are_attributed_by_dedup_key(sink):
    url, _, tmp_path = sink
    assert http("POST", f"{url}/pagerduty/v2/enqueue", POLICY_TRIGGER)[0] == 202
    (trigger,) = client.messages(url, kind="pagerduty")
    assert trigger["alertnames"] == ["InferenceErrorRateCritical"] and trigger["attributed_by_key"] is False
    assert trigger["labels"] == {"alertname": "InferenceErrorRateCritical", "team": "ml-platform",
                                 "service": "inference-gateway", "severity": "critical"}
    # A clear in between (drills clear the sink) does not lose the key.
    client.clear(url)
    resolve = {"routing_key": "k" * 32, "event_action": "resolve", "dedup_key": "9a8b7c",
               "payload": {"summary": "resolved", "source": "Alertmanager", "severity": "critical"}}
    assert http("POST", f"{url}/pagerduty/v2/enqueue", resolve)[0] == 202
    (resolved,) = client.messages(url, alertname="InferenceErrorRateCritical", status="resolved")
    assert resolved["attributed_by_key"] is True and resolved["labels"]["team"] == "ml-platform"
    assert client.messages(url, dedup_key="9a8b7c") == [resolved]
    # An unknown key attributes nothing; nor does the same key of another kind.
    http("POST", f"{url}/pagerduty/v2/enqueue", {**resolve, "dedup_key": "unknown"})
    assert client.messages(url, dedup_key="unknown")[0]["alertnames"] == []
    # A restarted sink replays its file and still attributes a late resolve.
    app, url2, _ = start_sink(tmp_path)
    try:
        http("POST", f"{url2}/pagerduty/v2/enqueue", resolve)
        assert len(client.messages(url2, alertname="InferenceErrorRateCritical", status="resolved")) == 2
    finally:
        app.stop()


# What Alertmanager 0.33's opsgenie notifier posts (notify/opsgenie/opsgenie.go): details = common labels.
OPSGENIE = {"alias": "5f0e2c", "message": "[FIRING:1] FeatureStoreDown (high, feature-store)",
            "description": "feature store down", "source": "Alertmanager", "priority": "P2",
            "details": {"alertname": "FeatureStoreDown", "severity": "high", "service": "feature-store",
                        "team": "data"},
            "responders": [{"name": "data-oncall", "type": "team"}], "tags": ["feature-store", "data"]}


def test_opsgenie_create_and_close_by_alias_with_genie_key(sink):
    url, _, _ = sink
    key = {"Authorization": "GenieKey 0123456789abcdef"}
    assert http("POST", f"{url}/opsgenie/v2/alerts", OPSGENIE)[0] == 401  # no key
    status, body = http("POST", f"{url}/opsgenie/v2/alerts", OPSGENIE, headers=key)
    assert status == 202 and body["result"] == "Request will be processed"
    status, body = http("POST", f"{url}/opsgenie/v2/alerts", {**OPSGENIE, "priority": "urgent"}, headers=key)
    assert status == 422 and "Priority" in body["message"]
    status, _ = http("POST", f"{url}/opsgenie/v2/alerts/5f0e2c/close?identifierType=alias",
                     {"source": "Alertmanager"}, headers=key)
    assert status == 202
    created, closed = client.messages(url, kind="opsgenie")
    assert created["status"] == "firing" and created["channel"] == "team:data-oncall"
    assert created["alertnames"] == ["FeatureStoreDown"] and created["labels"]["team"] == "data"
    assert created["payload"]["api_key"].endswith("cdef") and "0123456789ab" not in str(created)
    assert closed["status"] == "resolved" and closed["alertnames"] == ["FeatureStoreDown"]
    assert closed["channel"] == "team:data-oncall" and closed["dedup_key"] == "5f0e2c"


def _basic(user: str, password: str) -> dict:
    import base64
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_incident_webhook_requires_basic_auth_and_keeps_one_incident_per_group(tmp_path):
    http_port = free_port()
    (tmp_path / "sn-password").write_text("sn-s3cret\n")
    app = App("notification_sink", {"SINK_HOST": "127.0.0.1", "SINK_HTTP_PORT": str(http_port),
                                    "SINK_SMTP_PORT": str(free_port()), "SINK_DATA_DIR": str(tmp_path / "data"),
                                    "SINK_SERVICENOW_USERNAME": "alertmanager",
                                    "SINK_SERVICENOW_PASSWORD_FILE": str(tmp_path / "sn-password")},
              f"http://127.0.0.1:{http_port}/healthz", tmp_path / "sink.log")
    url = f"http://127.0.0.1:{http_port}"
    try:
        firing = {**WEBHOOK, "status": "firing", "alerts": [{**WEBHOOK["alerts"][0], "status": "firing"}]}
        assert http("POST", f"{url}/servicenow/incidents", firing)[0] == 401
        assert http("POST", f"{url}/servicenow/incidents", firing, headers=_basic("alertmanager", "wrong"))[0] == 401
        status, body = http("POST", f"{url}/servicenow/incidents", firing, headers=_basic("alertmanager", "sn-s3cret"))
        assert status == 201 and body["result"]["number"] == "INC0010001" and body["result"]["state"] == "New"
        status, body = http("POST", f"{url}/servicenow/incidents", WEBHOOK, headers=_basic("alertmanager", "sn-s3cret"))
        assert body["result"] == {**body["result"], "number": "INC0010001", "state": "Resolved"}
        other = {**firing, "groupKey": "{}:{alertname=\"Other\"}"}
        status, body = http("POST", f"{url}/servicenow/incidents", other, headers=_basic("alertmanager", "sn-s3cret"))
        assert body["result"]["number"] == "INC0010002"
        stored = client.messages(url, kind="servicenow")
        assert [(m["status"], m["incident"]) for m in stored] == [
            ("firing", "INC0010001"), ("resolved", "INC0010001"), ("firing", "INC0010002")]
        assert "sn-s3cret" not in str(stored)
    finally:
        app.stop()
