"""Failure tests of the HA environment: real Prometheus replicas and a real Alertmanager cluster, faults made with
docker kill / stop / network disconnect, every notification delivered by Alertmanager's real integrations to the
notification sink and counted per receiver the routing tree promises (`amtool config routes test` on the deployed
alertmanager.yml).

The promise (Alertmanager's documentation): every Prometheus sends to every Alertmanager; the cluster deduplicates;
under a partition it prefers a duplicate to a lost notification. Counts per receiver are printed (pytest -s, or in the
report of a failure).
"""
from __future__ import annotations

import time
import uuid
from collections import Counter

import pytest
import requests

from alertstack import ha_faults as hf

pytestmark = pytest.mark.ha

# Slowest path to a notification: group_wait (10s for pages) + peer_timeout (15s) per position (the third waits 30s),
# plus evaluation and a 30s group_interval for the resolution; generous bounds for a loaded CI machine.
FIRING_TIMEOUT_S = 120
RESOLVED_TIMEOUT_S = 150
# After the last notification, how long any late duplicate (a member waiting peer_timeout x 2) has to show up.
SETTLE_S = 35


def _incident() -> str:
    return uuid.uuid4().hex[:8]


def _labels(incident: str) -> dict[str, str]:
    return {"alertname": hf.INCIDENT_ALERT, "severity": "critical", "service": hf.incident_service(incident),
            "team": "platform"}


def _open(ha, incident, say) -> tuple[float, list[str]]:
    receivers = hf.promised_receivers(ha, _labels(incident))
    assert receivers, "the page reaches no receiver"
    since = time.time()
    hf.set_incident(ha, incident, True)
    say(f"incident {incident} opened; the policy promises it to {', '.join(receivers)}")
    return since, receivers


def _print_counts(title: str, counts: dict[str, Counter], say) -> None:
    say(f"{title} (notifications per receiver):\n{hf.format_counts(counts)}")


def _resolve_and_count(ha, incident, receivers, since, say, title) -> dict[str, Counter]:
    hf.set_incident(ha, incident, False)
    hf.wait_counts(ha, receivers, since, incident, "resolved", RESOLVED_TIMEOUT_S, say=say)
    time.sleep(SETTLE_S)
    counts = hf.notification_counts(ha, receivers, since, incident)
    _print_counts(title, counts, say)
    say("notifications, with the Alertmanager that sent each:\n" + hf.notification_log(ha, receivers, since, incident))
    if any(c["firing"] != 1 or c["resolved"] != 1 for c in counts.values()):
        for service in ha.alertmanagers:   # failed or retried notifications, gossip trouble (teardown removes them)
            say(f"last log lines of {service}:\n{hf.logs(ha, service)}")
    return counts


def _assert_exactly_once(counts: dict[str, Counter]) -> None:
    wrong = {r: dict(c) for r, c in counts.items() if c["firing"] != 1 or c["resolved"] != 1}
    assert not wrong, (f"expected exactly one firing and one resolved notification per receiver, got {wrong} "
                       "(the captured output lists each notification and the Alertmanager that sent it)")


def test_killing_the_first_sender_of_three_alertmanagers_while_a_page_is_due_delivers_it_exactly_once(ha, say):
    incident = _incident()
    since, receivers = _open(ha, incident, say)
    # Every Alertmanager holds the alert (both Prometheus replicas send to all three); group_wait (10s) is running.
    waited = hf.wait_until(lambda: len(hf.alertmanagers_holding(ha, hf.INCIDENT_ALERT,
                                                                service=hf.incident_service(incident))) == 3,
                           30, "the page to reach all three Alertmanagers")
    victim = hf.first_sender(ha)
    assert not any(c["firing"] for c in hf.notification_counts(ha, receivers, since, incident).values()), \
        "the page was sent before the fault: the test would prove nothing"
    hf.kill(ha, victim)
    say(f"page held by all three after {waited:.1f}s; killed {victim}, the member that would notify first")
    firing = hf.wait_counts(ha, receivers, since, incident, "firing", FIRING_TIMEOUT_S, say=say)
    _print_counts("after the kill", firing, say)
    counts = _resolve_and_count(ha, incident, receivers, since, say, f"{victim} killed while the page was due")
    _assert_exactly_once(counts)


def test_killing_a_prometheus_replica_during_an_incident_still_pages_once_and_resolves(ha, say):
    incident = _incident()
    since, receivers = _open(ha, incident, say)
    hf.wait_until(lambda: all(hf.alert_state(ha, hf.INCIDENT_ALERT, p, service=hf.incident_service(incident))
                              == "firing" for p in ha.prometheus), 30, "both Prometheus replicas to fire the page")
    victim = next(iter(ha.prometheus))
    hf.kill(ha, victim)
    say(f"both replicas fire; killed {victim}")
    hf.wait_counts(ha, receivers, since, incident, "firing", FIRING_TIMEOUT_S, say=say)
    counts = _resolve_and_count(ha, incident, receivers, since, say, f"{victim} killed during the incident")
    _assert_exactly_once(counts)


def _silence(ha, service: str) -> str:
    now = time.time()
    body = {"matchers": [{"name": "service", "value": service, "isRegex": False, "isEqual": True}],
            "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600)),
            "createdBy": "tests/ha", "comment": "survives a restart of a cluster member"}
    url = next(iter(ha.alertmanagers.values()))
    resp = requests.post(f"{url}/api/v2/silences", json=body, auth=ha.auth, timeout=10)
    resp.raise_for_status()
    return resp.json()["silenceID"]


def _has_silence(ha, service: str, silence_id: str) -> bool:
    try:
        items = requests.get(f"{ha.alertmanagers[service]}/api/v2/silences", auth=ha.auth, timeout=5).json()
    except (requests.RequestException, ValueError):
        return False
    return any(s["id"] == silence_id and s["status"]["state"] == "active" for s in items)


def _members_missing(ha) -> str | None:
    states = {hf.alert_state(ha, "AlertmanagerClusterMembersMissing", p) for p in ha.prometheus}
    return "firing" if "firing" in states else ("pending" if "pending" in states else None)


def test_restarting_an_alertmanager_keeps_its_silences_and_it_rejoins_the_cluster(ha, say):
    victim = list(ha.alertmanagers)[-1]
    silence_id = _silence(ha, f"ha-drill-silenced-{_incident()}")
    hf.wait_until(lambda: _has_silence(ha, victim, silence_id), 30, f"the silence to reach {victim} by gossip")
    volume = hf.docker("inspect", "-f", "{{range .Mounts}}{{if eq .Destination \"/alertmanager\"}}{{.Name}}{{end}}"
                                        "{{end}}", ha.container(victim)).strip()
    assert volume, f"{victim} has no data volume at /alertmanager"
    hf.stop(ha, victim)
    say(f"stopped {victim} (data volume {volume})")
    fired = hf.wait_until(lambda: _members_missing(ha) == "firing", 120, "AlertmanagerClusterMembersMissing to fire")
    say(f"AlertmanagerClusterMembersMissing fired {fired:.0f}s after the stop")
    hf.start(ha, victim)
    rejoined = hf.wait_cluster(ha, len(ha.alertmanagers), 90)
    say(f"{victim} restarted and the cluster has {len(ha.alertmanagers)} members again after {rejoined:.0f}s")
    assert _has_silence(ha, victim, silence_id), f"the silence {silence_id} did not survive the restart of {victim}"
    mounted = hf.docker("inspect", "-f", "{{range .Mounts}}{{if eq .Destination \"/alertmanager\"}}{{.Name}}{{end}}"
                                         "{{end}}", ha.container(victim)).strip()
    assert mounted == volume
    resolved = hf.wait_until(lambda: _members_missing(ha) is None, 120, "AlertmanagerClusterMembersMissing to resolve")
    say(f"AlertmanagerClusterMembersMissing resolved {resolved:.0f}s after the rejoin")


def test_partitioning_one_alertmanager_loses_nothing_and_duplicates_are_counted(ha, say):
    """A member cut off the network (docker network disconnect: from its peers, from Prometheus and from the
    receivers alike, as a host losing its link) after it received the page. The promise is at-least-once: nothing
    lost; duplicates are measured and printed, not forbidden."""
    incident = _incident()
    since, receivers = _open(ha, incident, say)
    hf.wait_until(lambda: len(hf.alertmanagers_holding(ha, hf.INCIDENT_ALERT,
                                                       service=hf.incident_service(incident))) == 3,
                  30, "the page to reach all three Alertmanagers")
    victim = list(ha.alertmanagers)[-1]
    hf.disconnect(ha, victim)
    partitioned = time.monotonic()
    say(f"partitioned {victim} from the network while the page was due")
    hf.wait_counts(ha, receivers, since, incident, "firing", FIRING_TIMEOUT_S, say=say)
    time.sleep(max(0.0, 45 - (time.monotonic() - partitioned)))  # the isolated member's own group_wait runs out
    hf.connect(ha, victim)
    say(f"reconnected {victim} after {time.monotonic() - partitioned:.0f}s")
    hf.wait_cluster(ha, len(ha.alertmanagers), 90)
    counts = _resolve_and_count(ha, incident, receivers, since, say, f"{victim} partitioned for 45s")
    lost = {r: dict(c) for r, c in counts.items() if c["firing"] < 1 or c["resolved"] < 1}
    assert not lost, f"a notification was lost under the partition: {lost}"
    duplicates = sum(c["firing"] - 1 + c["resolved"] - 1 for c in counts.values())
    say(f"partition: 0 lost, {duplicates} duplicate notification(s) over {len(receivers)} receivers")
