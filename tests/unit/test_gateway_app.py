"""The demo inference gateway and feature store as real processes on loopback ports."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
import yaml

from demo_processes import APPS, free_port, http, start_feature_store, start_gateway

CONTRACT_METRICS = [
    "inference_requests_total", "inference_request_duration_seconds_bucket", "model_load_errors_total",
    "feature_fetch_total", "feature_fetch_errors_total", "feature_missing_total",
    "inference_gpu_utilization_percent", "inference_gpu_memory_used_bytes", "inference_gpu_memory_total_bytes",
    "model_performance_metric", "model_fairness_metric", "inference_input_validation_failures_total",
]


def write_release(path, **values):
    values.setdefault("base_latency_ms", 1)
    tmp = path.with_name(".release.tmp")
    tmp.write_text(yaml.safe_dump(values))
    tmp.replace(path)


def deploy(url, path, version, **values):
    """Write a release and wait until the gateway serves it (it polls the file every second)."""
    write_release(path, version=version, **values)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if http("GET", f"{url}/healthz")[1].get("version") == version:
            return
        time.sleep(0.1)
    raise AssertionError(f"gateway did not load release {version}")


def metric(text, name, **labels):
    """Value of one sample of the exposition text (0.0 when absent)."""
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return 0.0


def predict(url, user="u1", **features):
    return http("POST", f"{url}/predict", {"user_id": user, "features": features})


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    release = tmp / "release.yml"
    write_release(release, version="1.0.0")
    store, store_url = start_feature_store(tmp)
    gateway, url = start_gateway(tmp, release, store_url)
    yield {"url": url, "release": release, "gateway": gateway, "store_url": store_url, "tmp": tmp}
    gateway.stop()
    store.stop()


def test_predict_uses_feature_store_and_exports_every_contract_metric(demo):
    url = demo["url"]
    deploy(url, demo["release"], "1.0.1")
    status, stored = http("GET", f"{demo['store_url']}/features/u1")
    assert status == 200 and stored["features"]["account_balance"] > 0
    status, body = predict(url, "u1", user_age=25)
    assert status == 200, body
    assert 0 < body["fraud_probability"] < 1 and body["model"] == "fraud_detection" and body["release"] == "1.0.1"
    for i in range(120):  # enough predictions in both fairness groups
        assert predict(url, f"u{i}", user_age=30 + i % 20)[0] == 200
    assert predict(url, "nobody-known", user_age=30)[0] == 422       # no stored balance: missing feature
    assert predict(url, "u2", user_age=300)[0] == 422                 # out of range
    assert http("POST", f"{url}/predict", b"{not json")[0] == 400

    text = http("GET", f"{url}/metrics")[1]
    missing = [m for m in CONTRACT_METRICS if not re.search(rf"^{m}[{{ ]", text, re.M)]
    assert not missing, f"metrics missing from /metrics: {missing}"
    assert 'inference_request_duration_seconds_bucket{endpoint="/predict",le="0.3",model="fraud_detection"}' in text
    assert 'le="0.2"' in text
    assert metric(text, "inference_requests_total", status="200") >= 121
    assert metric(text, "inference_requests_total", status="422") >= 2
    assert metric(text, "feature_missing_total", feature="account_balance") >= 1
    assert metric(text, "inference_input_validation_failures_total", reason="out_of_range") >= 1
    assert metric(text, "inference_input_validation_failures_total", reason="malformed_json") >= 1
    assert metric(text, "feature_fetch_total") >= 123
    assert 0.75 < metric(text, "model_performance_metric", metric="auc_roc") < 0.9
    parity_a = metric(text, "model_fairness_metric", metric="demographic_parity", group="A")
    parity_b = metric(text, "model_fairness_metric", metric="demographic_parity", group="B")
    assert 0 <= parity_a <= 1 and 0 <= parity_b <= 1
    assert metric(text, "inference_gpu_memory_total_bytes", gpu="0") > metric(text, "inference_gpu_memory_used_bytes",
                                                                              gpu="0") > 0


def test_bad_release_with_error_ratio_answers_5xx_and_logs_json_errors(demo):
    url = demo["url"]
    deploy(url, demo["release"], "1.0.2", error_ratio=1.0)
    before = metric(http("GET", f"{url}/metrics")[1], "inference_requests_total", status="500")
    statuses = [predict(url, f"u{i}", user_age=40)[0] for i in range(10)]
    assert statuses == [500] * 10
    after = metric(http("GET", f"{url}/metrics")[1], "inference_requests_total", status="500")
    assert after - before == 10
    records = demo["gateway"].lines()  # every line parses as JSON
    errors = [r for r in records if r["level"] == "error" and r.get("status") == 500]
    assert len(errors) >= 10
    assert {"ts", "level", "service", "message", "request_id"} <= set(errors[-1])
    assert errors[-1]["service"] == "inference-gateway" and errors[-1]["request_id"]
    deploy(url, demo["release"], "1.0.3")
    assert predict(url, "u1", user_age=40)[0] == 200


def test_latency_release_moves_requests_above_the_0_3s_bucket(demo):
    url = demo["url"]
    deploy(url, demo["release"], "1.0.4", added_latency_ms=350)
    text = http("GET", f"{url}/metrics")[1]
    fast, count = (metric(text, "inference_request_duration_seconds_bucket", le="0.3"),
                   metric(text, "inference_request_duration_seconds_count"))
    start = time.monotonic()
    for i in range(3):
        assert predict(url, f"u{i}", user_age=40)[0] == 200
    assert time.monotonic() - start >= 1.05
    text = http("GET", f"{url}/metrics")[1]
    assert metric(text, "inference_request_duration_seconds_count") - count == 3
    assert metric(text, "inference_request_duration_seconds_bucket", le="0.3") == fast
    deploy(url, demo["release"], "1.0.5")


def test_logging_outage_release_silences_logs_and_refused_release_keeps_the_running_one(demo):
    url, gw = demo["url"], demo["gateway"]
    deploy(url, demo["release"], "1.0.6", log_output="none")
    time.sleep(0.2)
    count = len(gw.raw_lines())
    for i in range(5):
        assert predict(url, f"u{i}", user_age=40)[0] == 200
    time.sleep(0.2)
    assert len(gw.raw_lines()) == count
    deploy(url, demo["release"], "1.0.7")
    predict(url, "u1", user_age=40)
    time.sleep(0.2)
    assert len(gw.raw_lines()) > count

    write_release(demo["release"], version="9.9.9", error_ratio=2)
    time.sleep(2.5)
    assert http("GET", f"{url}/healthz")[1]["version"] == "1.0.7"
    assert any("error_ratio must be within [0, 1]" in r["message"] for r in gw.lines())


def test_unknown_model_counts_a_load_error_and_keeps_serving(demo):
    url = demo["url"]
    deploy(url, demo["release"], "1.0.8", model_name="fraud_detection_v9")
    text = http("GET", f"{url}/metrics")[1]
    assert metric(text, "model_load_errors_total", model="fraud_detection_v9") == 1
    assert predict(url, "u1", user_age=40)[1]["model"] == "fraud_detection"
    deploy(url, demo["release"], "1.0.9")


def test_feature_store_down_fails_requests_and_counts_fetch_errors(tmp_path):
    release = tmp_path / "release.yml"
    write_release(release, version="1.0.0")
    gateway, url = start_gateway(tmp_path, release, f"http://127.0.0.1:{free_port()}")
    try:
        status, body = predict(url, "u1", user_age=40, account_balance=100)
        assert status == 503 and "FeatureNotFound" in body["error"]
        text = http("GET", f"{url}/metrics")[1]
        assert metric(text, "feature_fetch_errors_total") == 1 == metric(text, "feature_fetch_total")
        assert metric(text, "inference_requests_total", status="503") == 1
        assert any(r["level"] == "error" and "FeatureNotFound" in r["message"] for r in gateway.lines())
        deploy(url, release, "1.0.1", feature_fallback=True)  # degraded mode serves from request features
        assert predict(url, "u1", user_age=40, account_balance=100)[0] == 200
    finally:
        gateway.stop()


def test_gpu_memory_leak_ends_in_oom_and_only_a_restart_frees_it(tmp_path):
    store, store_url = start_feature_store(tmp_path)
    release = tmp_path / "release.yml"
    write_release(release, version="1.0.0")
    env = {"GPU_TOTAL_MIB": "1024", "GPU_BASELINE_MIB": "512"}
    gateway, url = start_gateway(tmp_path, release, store_url, **env)
    try:
        assert predict(url, "u1", user_age=40)[0] == 200
        deploy(url, release, "1.0.1", gpu_memory_leak_mb_per_s=2000)
        time.sleep(0.5)
        text = http("GET", f"{url}/metrics")[1]
        assert metric(text, "inference_gpu_memory_used_bytes") == metric(text, "inference_gpu_memory_total_bytes")
        # the DCGM-shaped series the GPU rules read: the framebuffer is full (GPUMemoryHigh's ratio is 1)
        assert metric(text, "DCGM_FI_DEV_FB_USED", gpu="0") == 1024 and metric(text, "DCGM_FI_DEV_FB_FREE") == 0
        status, body = predict(url, "u1", user_age=40)
        assert status == 500 and "out of memory" in body["error"]
        assert any("CUDA out of memory" in r["message"] for r in gateway.lines())
        deploy(url, release, "1.0.0")  # rollback stops the leak but does not free the memory
        assert predict(url, "u1", user_age=40)[0] == 500
    finally:
        gateway.stop()
    gateway, url = start_gateway(tmp_path, release, store_url, **env)  # the restart
    try:
        assert predict(url, "u1", user_age=40)[0] == 200
    finally:
        gateway.stop()
        store.stop()


# --- the simulated GPU as NVIDIA's DCGM exporter shows a GPU ----------------------------------------------------

DCGM_LABELS = ("gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname", "DCGM_FI_DRIVER_VERSION")


def _dcgm_samples(text):
    """{field: (labels, value)} of the DCGM_* samples, and the declared type per field."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE DCGM_"):
            _, _, name, kind = line.split()
            types[name] = kind
        m = re.match(r"^(DCGM_[A-Z0-9_]+)\{(.*)\} (\S+)$", line)
        if m:
            samples[m.group(1)] = (dict(re.findall(r'(\w+)="([^"]*)"', m.group(2))), float(m.group(3)))
    return samples, types


def test_the_simulated_gpu_exports_dcgm_series_with_the_exporters_names_and_labels(demo):
    text = http("GET", f"{demo['url']}/metrics")[1]
    samples, types = _dcgm_samples(text)
    for field in ("DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE",
                  "DCGM_FI_DEV_XID_ERRORS", "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "DCGM_FI_DEV_ROW_REMAP_FAILURE",
                  "DCGM_FI_DEV_THERMAL_VIOLATION", "DCGM_FI_DEV_POWER_VIOLATION"):
        assert field in samples, f"{field} missing from /metrics"
        labels, _ = samples[field]
        assert list(labels)[:len(DCGM_LABELS)] == list(DCGM_LABELS), (field, labels)  # the exporter's order
        assert labels["gpu"] == "0" and labels["device"] == "nvidia0" and labels["UUID"].startswith("GPU-")
    # counters keep DCGM's names (no _total suffix), declared as counters under the same name
    assert types["DCGM_FI_DEV_ECC_DBE_VOL_TOTAL"] == "counter" and types["DCGM_FI_DEV_FB_USED"] == "gauge"
    assert not re.search(r"^DCGM_\S+_total[{ ]", text, re.M)
    xid_labels, xid = samples["DCGM_FI_DEV_XID_ERRORS"]
    assert xid == 0 and xid_labels["err_code"] == "0" and xid_labels["err_msg"] == "No Error"
    # the framebuffer adds up to the GPU (16 GiB), in MiB, and agrees with the original gauges
    used, free = samples["DCGM_FI_DEV_FB_USED"][1], samples["DCGM_FI_DEV_FB_FREE"][1]
    assert used + free == 16384 and used == metric(text, "inference_gpu_memory_used_bytes") / 2**20
    assert 0 <= samples["DCGM_FI_DEV_GPU_UTIL"][1] <= 100 and 25 <= samples["DCGM_FI_DEV_GPU_TEMP"][1] <= 75


def test_every_dcgm_field_the_gpu_rules_read_is_exported_locally(demo):
    """The same rules run on the demo platform: every DCGM field of rules_data/gpu.yml is exported, except NVLink
    (a single PCIe GPU has none; DCGM reports it blank and the exporter leaves it out)."""
    from alertstack.rules import static_rule_files
    from alertstack.runbooks.lint import promql_metric_names

    read = {name for group in static_rule_files()["gpu.yml"]["groups"] for rule in group["rules"]
            for name in promql_metric_names(rule["expr"]) if name.startswith("DCGM_")}
    samples, _ = _dcgm_samples(http("GET", f"{demo['url']}/metrics")[1])
    assert {"DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_XID_ERRORS"} <= read
    assert {f for f in read if "NVLINK" not in f} - set(samples) == set()


def test_a_gpu_memory_leak_drives_dcgm_fb_used_over_the_alert_threshold(tmp_path):
    """The gpu-oom fault (a release leaking GPU memory) raises DCGM_FI_DEV_FB_USED until GPUMemoryHigh's ratio
    used / (used + free) passes 0.90; before the leak it is the baseline."""
    store, store_url = start_feature_store(tmp_path)
    release = tmp_path / "release.yml"
    write_release(release, version="1.0.0")
    gateway, url = start_gateway(tmp_path, release, store_url, GPU_TOTAL_MIB="16384", GPU_BASELINE_MIB="6144")
    try:
        before, _ = _dcgm_samples(http("GET", f"{url}/metrics")[1])
        assert before["DCGM_FI_DEV_FB_USED"][1] == 6144
        deploy(url, release, "1.0.1", gpu_memory_leak_mb_per_s=8000)
        deadline = time.monotonic() + 10
        while True:
            after, _ = _dcgm_samples(http("GET", f"{url}/metrics")[1])
            used, free = after["DCGM_FI_DEV_FB_USED"][1], after["DCGM_FI_DEV_FB_FREE"][1]
            if used / (used + free) > 0.90 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert used / (used + free) > 0.90 and used + free == 16384
    finally:
        gateway.stop()
        store.stop()


def test_feedback_measures_the_served_model_on_a_bounded_window_of_labelled_outcomes(tmp_path):
    """Until FEEDBACK_MIN_LABELS outcomes arrived the offline evaluation stands; then the AUC-ROC is measured on the
    last FEEDBACK_WINDOW outcomes only (labels that rank as the model does: 1.0; the reverse: 0.0)."""
    release = tmp_path / "release.yml"
    write_release(release, version="1.0.0")
    store, store_url = start_feature_store(tmp_path)
    gateway, url = start_gateway(tmp_path, release, store_url, FEEDBACK_WINDOW="60", FEEDBACK_MIN_LABELS="40")
    try:
        text = http("GET", f"{url}/metrics")[1]
        offline = metric(text, "model_performance_metric", metric="auc_roc", model_name="fraud_detection")
        assert 0.75 < offline < 0.9 and metric(text, "model_feedback_window_labels") == 0
        answers = [predict(url, f"u{i}", user_age=20 + i % 60)[1] for i in range(100)]
        median = sorted(a["fraud_probability"] for a in answers)[50]

        def post(answer, reverse=False):
            label = (answer["fraud_probability"] >= median) != reverse
            return http("POST", f"{url}/feedback", {"request_id": answer["request_id"], "label": int(label)})

        for a in answers[:39]:
            assert post(a)[0] == 200
        text = http("GET", f"{url}/metrics")[1]
        assert metric(text, "model_performance_metric", metric="auc_roc") == offline   # 39 < 40: still offline
        assert post(answers[39]) == (200, {"accepted": True, "model": "fraud_detection", "window": 40})
        text = http("GET", f"{url}/metrics")[1]
        assert metric(text, "model_performance_metric", metric="auc_roc") == 1.0
        assert metric(text, "model_feedback_window_labels", model_name="fraud_detection") == 40
        for a in answers[40:]:  # 60 reversed outcomes push every earlier one out of the window
            assert post(a, reverse=True)[0] == 200
        text = http("GET", f"{url}/metrics")[1]
        assert metric(text, "model_performance_metric", metric="auc_roc") == 0.0
        assert metric(text, "model_feedback_window_labels") == 60
        assert 0 <= metric(text, "model_performance_metric", metric="accuracy") <= 0.5

        status, body = post(answers[0])  # one outcome per prediction
        assert status == 404 and "unknown request_id" in body["error"]
        assert http("POST", f"{url}/feedback", {"request_id": answers[1]["request_id"], "label": "yes"})[0] == 400
        assert http("POST", f"{url}/feedback", {"label": 1})[0] == 400
        assert http("POST", f"{url}/feedback", b"{nope")[0] == 400
        features = {"user_age": 30, "account_balance": 100.0}
        assert http("POST", f"{url}/feedback", {"features": features, "label": True})[0] == 200
        status, body = http("POST", f"{url}/feedback", {"features": {"user_age": 30}, "label": 0})
        assert status == 422 and body["reason"] == "missing_feature"
        text = http("GET", f"{url}/metrics")[1]
        assert metric(text, "model_feedback_total", result="accepted") == 101
        assert metric(text, "model_feedback_total", result="unknown_request") == 1
        assert metric(text, "model_feedback_total", result="invalid") == 4
    finally:
        gateway.stop()
        store.stop()


def _traffic(tmp_path, url, concept, rps=40, max_s=120, feedback_only=False):
    env = {**os.environ, "TRAFFIC_URL": f"{url}/predict", "TRAFFIC_RPS": str(rps), "TRAFFIC_MAX_S": str(max_s),
           "TRAFFIC_CONCEPT": concept, "TRAFFIC_FEEDBACK_SHARE": "1",
           "TRAFFIC_FEEDBACK_ONLY": "1" if feedback_only else "0"}
    return subprocess.Popen([sys.executable, "-m", "demo_traffic"], cwd=APPS, env=env,
                            stdout=(tmp_path / f"traffic-{concept}.log").open("wb"), stderr=subprocess.STDOUT)


def _auc_when(url, check, timeout_s=60):
    deadline, value = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        text = http("GET", f"{url}/metrics")[1]
        value = metric(text, "model_performance_metric", metric="auc_roc")
        if metric(text, "model_feedback_window_labels") and check(value):
            return value
        time.sleep(0.5)
    raise AssertionError(f"AUC-ROC {value} did not reach the expected level within {timeout_s}s")


def test_demo_traffic_labels_outcomes_healthy_and_a_shifted_concept_degrades_the_measured_auc(tmp_path):
    """The steady traffic's outcomes keep the live AUC-ROC above 0.80; outcomes of the shifted concept (the
    model-performance fault's users) pull it below the alert's 0.75, with the same inputs and the same model."""
    release = tmp_path / "release.yml"
    write_release(release, version="1.0.0")
    store, store_url = start_feature_store(tmp_path)
    gateway, url = start_gateway(tmp_path, release, store_url, FEEDBACK_WINDOW="300", FEEDBACK_MIN_LABELS="200")
    healthy = shifted = None
    try:
        healthy = _traffic(tmp_path, url, "trained")
        assert _auc_when(url, lambda v: v > 0.80) > 0.80
        before = http("GET", f"{url}/metrics")[1]
        # The fault's labelling: outcomes of the shifted concept, without prediction requests of its own.
        shifted = _traffic(tmp_path, url, "shifted", rps=50, feedback_only=True)
        assert _auc_when(url, lambda v: v < 0.70) < 0.70
        shifted.terminate()
        shifted.wait(10)
        after = http("GET", f"{url}/metrics")[1]

        def grew(name, **labels):
            return metric(after, name, **labels) - metric(before, name, **labels)
        # /predict (the SLOs' traffic) grew by the healthy users' 40/s alone; feedback by their 40/s plus 50/s.
        assert grew("model_feedback_total", result="accepted") > 1.5 * grew(
            "inference_requests_total", endpoint="/predict", status="200"), (before, after)
        assert _auc_when(url, lambda v: v > 0.80) > 0.80   # the window forgets the shifted outcomes
    finally:
        for proc in (healthy, shifted):
            if proc and proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        gateway.stop()
        store.stop()
    for bad in ({"TRAFFIC_CONCEPT": "other"}, {"TRAFFIC_FEEDBACK_SHARE": "2"},
                {"TRAFFIC_FEEDBACK_ONLY": "1", "TRAFFIC_CONCEPT": "trained"}):
        proc = subprocess.run([sys.executable, "-m", "demo_traffic"], cwd=APPS, capture_output=True, text=True,
                              env={**os.environ, "TRAFFIC_URL": "http://127.0.0.1:1/predict", **bad}, timeout=30)
        assert proc.returncode != 0 and "error: TRAFFIC_" in proc.stderr, proc.stderr
