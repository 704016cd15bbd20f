"""Deploy silences (alertstack.deploy_silence) against a real Alertmanager in its own container, delivering to a
real notification sink: the silence opens with the deploy's author, revision and services, mutes a non-critical
alert of a touched service while a critical one still notifies, is extended while the play runs, and is expired
when the play ends, on success and on failure."""
from __future__ import annotations

import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from alertstack import deploy_silence
from alertstack import sink as client
from alertstack.silences import SilenceError
from am_sink import alertmanager, notification_sink, post_alerts, wait_until

pytestmark = pytest.mark.docker


def config(sink_url: str) -> dict:
    return {"route": {"receiver": "oncall", "group_by": ["alertname", "severity"], "group_wait": "1s",
                      "group_interval": "2s", "repeat_interval": "1h"},
            "receivers": [{"name": "oncall", "webhook_configs": [{"url": f"{sink_url}/webhook/oncall",
                                                                 "send_resolved": False}]}]}


def alert(name: str, severity: str, service: str = "feature-store") -> dict:
    return {"labels": {"alertname": name, "severity": severity, "service": service, "team": "data"}}


def silence(am_url: str, silence_id: str) -> dict:
    return requests.get(f"{am_url}/api/v2/silence/{silence_id}", timeout=5).json()


def test_matchers_exclude_critical_and_bad_input_fails_before_any_call():
    assert deploy_silence.matchers(["feature-store", "monitoring"]) == [
        'service=~"feature\\-store|monitoring"', 'severity!="critical"']
    with pytest.raises(SilenceError, match="at least one service"):
        deploy_silence.matchers([])
    with pytest.raises(SilenceError, match="plain label value"):
        deploy_silence.matchers(['x"|.*'])
    unreachable = "http://127.0.0.1:9"
    for kwargs, message in (({"margin": "soon"}, "not valid"), ({"margin": "5h"}, "between"),
                            ({"author": " "}, "author"), ({"revision": ""}, "revision")):
        args = {"alertmanager_url": unreachable, "auth": None, "env": "staging", "services": ["monitoring"],
                "author": "a@example.org", "revision": "abc", **kwargs}
        with pytest.raises(SilenceError, match=message):
            with deploy_silence.around_deploy(**args):
                pytest.fail("the body ran")


def test_touched_services_follow_the_inventory():
    inventory = {"_meta": {"hostvars": {"h1": {"demo_platform_enabled": False}}}, "gpu": {"hosts": []}}
    assert deploy_silence.touched_services(inventory) == ["monitoring"]
    inventory = {"_meta": {"hostvars": {"h1": {}}}, "gpu": {"hosts": ["g1"]}}
    assert deploy_silence.touched_services(inventory) == ["monitoring", "gpu"]
    inventory = {"_meta": {"hostvars": {"h1": {"demo_platform_enabled": True}}}}
    assert deploy_silence.touched_services(inventory) == ["monitoring", "gpu", "inference-gateway",
                                                          "feature-store", "drift-monitor"]


def test_unreachable_alertmanager_lets_the_deploy_run_without_a_silence():
    said = []
    with deploy_silence.around_deploy("http://127.0.0.1:9", None, "staging", ["monitoring"], "a@example.org",
                                      "abc", "1m", say=said.append) as silence_id:
        assert silence_id is None
    assert "deploying without one" in said[0]


def test_deploy_silence_mutes_non_critical_notifies_critical_and_expires_at_the_end(tmp_path):
    with notification_sink() as sink:
        with alertmanager(config(sink.url), {}, tmp_path) as am_url:
            said = []
            revision = deploy_silence.git_revision()
            assert revision != "unknown"
            with deploy_silence.around_deploy(am_url, None, "staging", ["feature-store", "monitoring"],
                                              "deployer@example.org", revision, timedelta(seconds=10),
                                              renew_every_s=1.0, say=said.append) as silence_id:
                opened = silence(am_url, silence_id)
                assert opened["status"]["state"] == "active" and opened["createdBy"] == "deployer@example.org"
                assert f"git {revision}" in opened["comment"] and "feature-store, monitoring" in opened["comment"]
                assert {(m["name"], m["value"], m["isEqual"]) for m in opened["matchers"]} == {
                    ("service", "feature\\-store|monitoring", True), ("severity", "critical", False)}
                first_end = opened["endsAt"]
                post_alerts(am_url, [alert("FeatureStoreErrorsHigh", "high"),
                                     alert("InferenceErrorRateCritical", "critical", "feature-store")])
                page = wait_until(lambda: client.messages(sink.url, alertname="InferenceErrorRateCritical"), 30,
                                  "the critical alert's notification")
                assert page[0]["status"] == "firing"
                muted = requests.get(f"{am_url}/api/v2/alerts", params={"filter": 'alertname="FeatureStoreErrorsHigh"'},
                                     timeout=5).json()
                assert muted[0]["status"]["silencedBy"] == [silence_id]
                # A play longer than the lease: the silence is extended, with the same id.
                time.sleep(11)
                renewed = silence(am_url, silence_id)
                assert renewed["status"]["state"] == "active" and renewed["endsAt"] > first_end
                assert client.messages(sink.url, alertname="FeatureStoreErrorsHigh") == []
            ended = silence(am_url, silence_id)
            assert ended["status"]["state"] == "expired"
            assert said[-1] == f"deploy silence {silence_id}: expired"
            # Once the deploy is over, the alert that is still firing is notified.
            wait_until(lambda: client.messages(sink.url, alertname="FeatureStoreErrorsHigh"), 30,
                       "the high alert's notification after the silence")


def test_deploy_silence_expires_when_the_play_fails(tmp_path):
    with notification_sink() as sink:
        with alertmanager(config(sink.url), {}, tmp_path) as am_url:
            opened = []
            with pytest.raises(subprocess.CalledProcessError):
                with deploy_silence.around_deploy(am_url, None, "staging", ["monitoring"], "deployer@example.org",
                                                  "abc123", "10m", say=lambda _: None) as silence_id:
                    opened.append(silence_id)
                    subprocess.run(["false"], check=True)  # the play fails
            state = silence(am_url, opened[0])
            assert state["status"]["state"] == "expired"
            assert datetime.fromisoformat(state["endsAt"].replace("Z", "+00:00")) <= datetime.now(timezone.utc)
