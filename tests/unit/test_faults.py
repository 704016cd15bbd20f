"""Faults against a real gateway process reading a real release directory; only `docker` is replaced by a
recorder (the container-level calls are checked for what they would run)."""
from __future__ import annotations

import time

import pytest
import yaml

from alertstack import faults
from alertstack.localstack import LocalStack
from demo_processes import http, start_feature_store, start_gateway


class FakeDocker:
    def __init__(self):
        self.calls = []
        self.running = {"ai-alerting-feature-store": True}

    def __call__(self, *args, timeout=60):
        self.calls.append(args)
        if args[0] == "inspect":
            return "true" if self.running.get(args[-1], True) else "false"
        if args[0] in ("stop", "start"):
            self.running[args[-1]] = args[0] == "start"
        return ""


@pytest.fixture
def stack(tmp_path, monkeypatch):
    st = LocalStack(root=tmp_path / "root")
    st.release_dir.mkdir(parents=True)
    st.release_file.write_text("version: 1.0.0\nmodel_name: fraud_detection\nbase_latency_ms: 1\n")
    store, store_url = start_feature_store(tmp_path)
    gateway, url = start_gateway(tmp_path, st.release_file, store_url)
    st.gateway_url = url
    docker = FakeDocker()
    monkeypatch.setattr(faults, "_docker", docker)
    st.docker = docker
    yield st
    faults.stop_drift(st)
    gateway.stop()
    store.stop()


def version(st):
    return http("GET", f"{st.gateway_url}/healthz")[1]["version"]


def test_latency_is_a_bad_deploy_and_rollback_restores_the_previous_release(stack):
    result = faults.inject("latency", stack)
    assert result["changed"] and result["version"] == "1.0.1" and result["previous_version"] == "1.0.0"
    assert result["mitigation_command"] == faults.MITIGATION_COMMANDS["latency"]
    assert version(stack) == "1.0.1"
    assert ("kill", "--signal", "HUP", "ai-alerting-inference-gateway") in stack.docker.calls
    assert yaml.safe_load(stack.previous_release_file.read_text())["version"] == "1.0.0"
    start = time.monotonic()
    assert http("POST", f"{stack.gateway_url}/predict", {"user_id": "u1", "features": {"user_age": 30}})[0] == 200
    assert time.monotonic() - start >= 0.6
    assert faults.inject("latency", stack)["changed"] is False  # idempotent

    result = faults.mitigate("latency", stack)
    assert result["changed"] and result["version"] == "1.0.0" and result["rolled_back_from"] == "1.0.1"
    assert version(stack) == "1.0.0" and not stack.previous_release_file.exists()
    assert faults.mitigate("latency", stack)["changed"] is False
    assert faults.rollback_release(stack)["detail"] == "nothing to roll back"


def test_stacked_bad_releases_roll_back_to_the_last_good_one_and_gpu_oom_restarts(stack):
    faults.inject("errors", stack)
    faults.inject("gpu-oom", stack)
    assert version(stack) == "1.0.2"
    live = yaml.safe_load(stack.release_file.read_text())
    assert live["error_ratio"] == 0.6 and live["gpu_memory_leak_mb_per_s"] == 128
    result = faults.mitigate("gpu-oom", stack)
    assert result["version"] == "1.0.0" and result["restarted"] is True
    assert ("restart", "--time", "5", "ai-alerting-inference-gateway") in stack.docker.calls
    assert yaml.safe_load(stack.release_file.read_text()) == {"version": "1.0.0", "model_name": "fraud_detection",
                                                              "base_latency_ms": 1}


def test_feature_store_fault_stops_and_mitigation_starts_the_container(stack):
    assert faults.inject("feature-store", stack)["changed"] is True
    assert ("stop", "--time", "5", "ai-alerting-feature-store") in stack.docker.calls
    assert faults.inject("feature-store", stack)["changed"] is False
    assert faults.mitigate("feature-store", stack)["changed"] is True
    assert stack.docker.calls[-1] == ("start", "ai-alerting-feature-store")
    assert faults.mitigate("feature-store", stack)["changed"] is False


def test_drift_runs_bounded_background_load_until_mitigated(stack):
    first = faults.inject("drift", stack)
    assert first["changed"] and faults.drift_running(stack)
    assert faults.inject("drift", stack)["changed"] is False
    # Drifted ages come from N(50, 15), training ones from N(35, 10): 30 samples put the mean of drifted traffic
    # above 40 with near certainty (its standard error is 2.7), where 10 samples made this test flaky.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items = http("GET", f"{stack.gateway_url}/recent-inputs?window_s=60")[1]["items"]
        if len(items) >= 30:
            break
        time.sleep(0.2)
    assert len(items) >= 30, f"only {len(items)} drifted requests arrived in 30 s"
    assert sum(i["user_age"] for i in items) / len(items) > 40
    result = faults.mitigate("drift", stack)
    assert result["changed"] and not faults.drift_running(stack)
    assert faults.mitigate("drift", stack)["changed"] is False


def test_bad_input_is_named(stack, tmp_path):
    with pytest.raises(faults.FaultError, match="unknown scenario 'cpu'"):
        faults.inject("cpu", stack)
    empty = LocalStack(root=tmp_path / "nothing")
    with pytest.raises(faults.FaultError, match="no release deployed at .*release.yml"):
        faults.inject("latency", empty)
    assert set(faults.MITIGATION_COMMANDS) == set(faults.SCENARIOS) == set(faults.MITIGATION_ACTIONS)
