"""Long-term storage under failure: both Prometheus replicas remote-write to VictoriaMetrics (roles/victoria_metrics,
the offline image built from Debian's victoria-metrics package). The store is stopped for an outage, an incident is
opened and paged while it is down, then it comes back: every sample of the outage window must be in the store
(compared with what the replica itself holds for the same window), and the page must have been delivered.

The issue asks for a 5-minute outage; CI uses HA_REMOTE_WRITE_OUTAGE_S (default 60 s) to keep tests/ha short.
`HA_REMOTE_WRITE_OUTAGE_S=300 pytest tests/ha -k long_term` runs the full 5 minutes.
"""
from __future__ import annotations

import os
import time
import uuid

import pytest

from alertstack import ha_faults as hf

pytestmark = pytest.mark.ha

OUTAGE_S = float(os.environ.get("HA_REMOTE_WRITE_OUTAGE_S", "60"))
STORE = "victoria-metrics"
# VictoriaMetrics hides the newest 30 s from queries (-search.latencyOffset); wait past it before counting.
SEARCH_LATENCY_S = 35


def _value(result: list[dict]) -> float | None:
    return float(result[0]["value"][1]) if result else None


def _remote_write_metrics(ha, replica: str) -> dict[str, float | None]:
    names = ["prometheus_remote_storage_samples_failed_total", "prometheus_remote_storage_samples_retried_total",
             "prometheus_remote_storage_samples_total", "prometheus_remote_storage_samples_dropped_total"]
    return {n.removeprefix("prometheus_remote_storage_"):
            _value(hf.query(ha, f"sum({n}{{instance='{replica}:9090'}})", replica)) for n in names}


def test_remote_write_target_down_then_back_loses_no_sample_and_alerts_still_page(ha, say):
    assert ha.long_term_url, "the ha environment deploys no long-term store (victoria_metrics_host_port)"
    replica = list(ha.prometheus)[-1]
    hf.wait_until(lambda: _value(hf.query(ha, f'count(up{{replica="{replica}"}})', long_term=True)),
                  90, f"samples of {replica} in the long-term store")
    before = _remote_write_metrics(ha, replica)
    hf.stop(ha, STORE)
    down_at = time.time()
    say(f"stopped {STORE} for {OUTAGE_S:.0f}s (remote-write counters of {replica}: {before})")

    incident = uuid.uuid4().hex[:8]
    labels = {"alertname": hf.INCIDENT_ALERT, "severity": "critical", "service": hf.incident_service(incident),
              "team": "platform"}
    receivers = hf.promised_receivers(ha, labels)
    since = time.time()
    hf.set_incident(ha, incident, True)
    firing = hf.wait_counts(ha, receivers, since, incident, "firing", 90, say=say)
    paged_after = time.time() - down_at
    say(f"paged {paged_after:.0f}s into the outage:\n{hf.format_counts(firing)}")
    assert all(c["firing"] >= 1 for c in firing.values()), f"no page while the store was down: {firing}"
    assert paged_after < OUTAGE_S or OUTAGE_S < 30, "the page came after the outage ended"

    time.sleep(max(0.0, OUTAGE_S - (time.time() - down_at)))
    during = _remote_write_metrics(ha, replica)
    hf.start(ha, STORE)
    up_at = time.time()
    say(f"started {STORE} after {up_at - down_at:.0f}s down (counters: {during})")
    hf.set_incident(ha, incident, False)

    # Prometheus replays from its WAL: wait until what it has sent catches up with what it has ingested.
    lag_expr = (f"max(prometheus_remote_storage_highest_timestamp_in_seconds{{instance='{replica}:9090'}})"
                f" - max(prometheus_remote_storage_queue_highest_sent_timestamp_seconds{{instance='{replica}:9090'}})")
    lags: list[float | None] = []

    def caught_up_now() -> bool:
        lags.append(_value(hf.query(ha, lag_expr, replica)))
        return lags[-1] is not None and lags[-1] < 10

    try:  # 180 s was too short once with every test stream running on 2 cores: the lag trend is kept for the report
        caught_up = hf.wait_until(caught_up_now, 360, "remote write to catch up", poll_s=2)
    except hf.HAError as exc:
        raise AssertionError(f"{exc}; lag every 2 s, last 20: {lags[-20:]}; counters: "
                             f"{_remote_write_metrics(ha, replica)}") from None
    say(f"remote write caught up {caught_up:.0f}s after the store came back")
    window_end = up_at + 5
    window = int(window_end - (down_at - 20))
    time.sleep(max(0.0, window_end + SEARCH_LATENCY_S - time.time()))

    series = ['up{job="node"}', 'up{job="alertmanager"}', f'{hf.INCIDENT_METRIC}{{incident="{incident}"}}']
    missing = {}
    for selector in series:
        at = f"@ {window_end:.3f}"
        local = _value(hf.query(ha, f"sum(count_over_time({selector}[{window}s] {at}))", replica))
        stored = _value(hf.query(ha, f'sum(count_over_time({selector[:-1]},replica="{replica}"}}[{window}s] {at}))'
                                 if selector.endswith("}") else selector, long_term=True))
        say(f"{selector}: {local:.0f} samples in {replica}, {stored or 0:.0f} in the long-term store "
            f"over the {window}s around the outage")
        if not local or stored != local:
            missing[selector] = {"prometheus": local, "long_term": stored}
    after = _remote_write_metrics(ha, replica)
    say(f"remote-write counters after: {after}")
    assert not missing, f"samples of the outage window missing from the long-term store: {missing}"
    assert (after["samples_dropped_total"] or 0) == (before["samples_dropped_total"] or 0), "samples were dropped"
    hf.wait_counts(ha, receivers, since, incident, "resolved", 150, say=say)
