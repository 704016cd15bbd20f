"""Drift monitor, gateway and feature store as processes: normal traffic stays under the alert thresholds, the
specification's drifted traffic crosses them."""
from __future__ import annotations

import re
import time

import pytest

from alertstack.loadgen import run_load
from demo_processes import App, free_port, http, start_feature_store, start_gateway


def psi_values(text):
    return {(m.group(1), m.group(2)): float(m.group(3)) for m in re.finditer(
        r'model_drift_psi\{feature_name="([^"]+)",metric_type="([^"]+)",model_name="fraud_detection"\} (\S+)', text)}


def wait_psi(url, min_samples, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = http("GET", f"{url}/metrics")[1]
        samples = re.search(r"^drift_monitor_window_samples (\S+)", text, re.M)
        values = psi_values(text)
        if values and samples and float(samples.group(1)) >= min_samples:
            return values
        time.sleep(0.3)
    raise AssertionError(f"no PSI with >= {min_samples} samples: {text}")


@pytest.fixture
def platform(tmp_path):
    release = tmp_path / "release.yml"
    release.write_text("version: 1.0.0\nbase_latency_ms: 1\n")
    store, store_url = start_feature_store(tmp_path)
    gateway, gw_url = start_gateway(tmp_path, release, store_url)
    port = free_port()
    monitor = App("drift_monitor", {"DRIFT_HOST": "127.0.0.1", "DRIFT_PORT": str(port), "GATEWAY_URL": gw_url,
                                    "DRIFT_WINDOW_S": "4", "DRIFT_INTERVAL_S": "0.5", "DRIFT_MIN_SAMPLES": "100"},
                  f"http://127.0.0.1:{port}/healthz", tmp_path / "drift.log")
    yield gw_url, f"http://127.0.0.1:{port}"
    for app in (monitor, gateway, store):
        app.stop()


def test_psi_low_for_normal_traffic_and_high_for_drifted_traffic(platform):
    gw_url, drift_url = platform
    assert psi_values(http("GET", f"{drift_url}/metrics")[1]) == {}  # no traffic, no claim
    stats = run_load(gw_url, rps=50, duration_s=4, seed=11)
    assert stats["ok"] >= 150, stats
    normal = wait_psi(drift_url, 150)
    assert normal[("user_age", "feature")] < 0.2
    assert normal[("account_balance", "feature")] < 0.2
    assert normal[("prediction", "prediction")] < 0.25
    time.sleep(4.5)  # let the 4 s window forget the normal traffic
    stats = run_load(gw_url, rps=50, duration_s=4, drift=True, seed=12)
    assert stats["ok"] >= 150, stats
    drifted = wait_psi(drift_url, 150)
    assert drifted[("user_age", "feature")] > 0.25
    assert drifted[("prediction", "prediction")] > 0.25
