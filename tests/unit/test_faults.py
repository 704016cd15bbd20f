"""Faults against a real gateway process reading a real release directory; only `docker` is replaced by a
recorder (the container-level calls are checked for what they would run)."""
from __future__ import annotations

import json
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


class ContainerDocker(FakeDocker):
    """Also answers what the concept-drift fault asks: the steady traffic's container, and `ps` of its copy."""
    TRAFFIC = {"Config": {"Image": "ai-alerting/python-runtime:1", "User": "65534:65534", "WorkingDir": "/app",
                          "Cmd": ["python3", "-m", "demo_traffic"],
                          "Env": ["TRAFFIC_URL=http://inference-gateway:8080/predict", "TRAFFIC_RPS=5",
                                  "TRAFFIC_MAX_S=2592000", "PATH=/usr/bin"]},
               "Mounts": [{"Type": "bind", "Source": "/opt/ai-alerting/demo-traffic/app", "Destination": "/app"}],
               "NetworkSettings": {"Networks": {"ai-alerting": {}}}}

    def __init__(self):
        super().__init__()
        self.containers = {}

    def __call__(self, *args, timeout=60):
        self.calls.append(args)
        if args[:3] == ("inspect", "--type", "container"):
            if args[3] != "ai-alerting-demo-traffic":
                raise faults.FaultError(f"No such container: {args[3]}")
            return json.dumps([self.TRAFFIC])
        if args[0] == "ps":
            name = next(a for a in args if a.startswith("name="))[len("name=^"):-1]
            if name not in self.containers:
                return ""
            return "running" if "{{.State}}" in args else "abc123"
        if args[0] == "run":
            self.containers[args[args.index("--name") + 1]] = args
        if args[:2] == ("rm", "--force"):
            self.containers.pop(args[2], None)
        return ""


def test_concept_drift_runs_the_steady_traffics_container_with_the_shifted_concept_until_mitigated(stack):
    docker = ContainerDocker()
    stack.docker = docker
    assert not faults.concept_shift_running(stack)
    first = faults.inject("model-performance", stack)
    assert first["changed"] and faults.concept_shift_running(stack)
    run = docker.containers["ai-alerting-concept-shift"]
    assert run[-4:] == ("ai-alerting/python-runtime:1", "python3", "-m", "demo_traffic")
    flags = dict(zip(run[1:-4:2], run[2:-4:2]))  # run --detach is first; the rest are flag/value pairs
    assert {"--network": "ai-alerting", "--user": "65534:65534", "--workdir": "/app",
            "--volume": "/opt/ai-alerting/demo-traffic/app:/app:ro"}.items() <= flags.items(), run
    env = [run[i + 1] for i, a in enumerate(run) if a == "--env"]
    assert {"TRAFFIC_URL=http://inference-gateway:8080/predict", "TRAFFIC_CONCEPT=shifted",
            "TRAFFIC_FEEDBACK_SHARE=1", "TRAFFIC_FEEDBACK_ONLY=1", f"TRAFFIC_RPS={faults.CONCEPT_SHIFT['rps']}",
            "TRAFFIC_MAX_S=1800"} \
        <= set(env), env
    assert "--rm" in run and "PATH=/usr/bin" not in env
    assert faults.inject("model-performance", stack)["changed"] is False
    result = faults.mitigate("model-performance", stack)
    assert result["changed"] and not faults.concept_shift_running(stack)
    assert result["command"] == "invoke fault mitigate --scenario model-performance"
    assert faults.mitigate("model-performance", stack)["changed"] is False

    class NoTraffic(ContainerDocker):  # no steady traffic container: the error says what the fault needs
        def __call__(self, *args, timeout=60):
            if args[0] == "inspect":
                raise faults.FaultError("No such container: ai-alerting-demo-traffic")
            return super().__call__(*args, timeout=timeout)
    stack.docker = NoTraffic()
    with pytest.raises(faults.FaultError, match="demo_platform_traffic_rps"):
        faults.inject("model-performance", stack)
