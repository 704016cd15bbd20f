"""The inference gateway: POST /predict, POST /feedback, GET /metrics, GET /healthz, GET /recent-inputs (for the
drift monitor).

POST /feedback brings the ground truth of a prediction: {"request_id": <the id /predict answered>, "label": 0|1}
(the score the gateway gave that request, among its last PREDICTION_MEMORY), or {"features": {...}, "label": 0|1}
with an optional "user_id" whose stored features are merged as /predict merges them (scored now by the served
model; not a prediction: the /predict SLOs do not count it). model_performance_metric is measured on the last
FEEDBACK_WINDOW labelled outcomes of the served model (bounded: a deque, reset when another model is loaded);
until FEEDBACK_MIN_LABELS of them (both classes present) arrived, it is the offline evaluation on the seeded
hold-out set (model.evaluate).
model_feedback_window_labels says which: the labelled outcomes the live figure is measured on (0: offline).

Environment: GATEWAY_HOST (0.0.0.0), GATEWAY_PORT (8080), GATEWAY_CONFIG (release YAML; none = defaults),
FEATURE_STORE_URL (http://feature-store:8081), FEATURE_STORE_TIMEOUT_S (1.0), GPU_TOTAL_MIB (16384),
GPU_BASELINE_MIB (6144), FEEDBACK_WINDOW (500), FEEDBACK_MIN_LABELS (200).
"""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib
from collections import OrderedDict, deque

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import disable_created_metrics
from prometheus_client.core import GaugeMetricFamily

from common.service import JsonHandler, JsonLog, bind, exit_on_sigterm, http_server

from .gpu import SimulatedGPU
from .model import Model, ModelLoadError, ValidationError, evaluate, live_performance, load_model
from .release import Release, ReleaseError, file_signature, load_release

disable_created_metrics()  # no *_created series: Prometheus 3 needs none

SERVICE = "inference-gateway"
ENDPOINT = "/predict"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0)
VALIDATION_REASONS = ("malformed_json", "missing_feature", "wrong_type", "out_of_range")
FAIRNESS_WINDOW = 2000
FAIRNESS_MIN_PER_GROUP = 50
PREDICTION_MEMORY = 10000   # request ids whose score a later /feedback can still find
FEEDBACK_WINDOW = 500       # labelled outcomes the live performance is measured on
FEEDBACK_MIN_LABELS = 200   # fewer (or one class only): the offline evaluation stands
FEEDBACK_RESULTS = ("accepted", "unknown_request", "invalid")
HOSTNAME = socket.gethostname()  # the DCGM exporter's Hostname label is its container's host name


class Metrics:
    def __init__(self, registry: CollectorRegistry):
        self.requests = Counter("inference_requests", "Inference requests by HTTP status code.",
                                ["status", "endpoint", "model"], registry=registry)
        self.duration = Histogram("inference_request_duration_seconds", "Inference request duration.",
                                  ["endpoint", "model"], buckets=LATENCY_BUCKETS, registry=registry)
        self.model_load_errors = Counter("model_load_errors", "Failed model loads.", ["model"], registry=registry)
        self.feature_fetch = Counter("feature_fetch", "Feature store fetches by the gateway.", registry=registry)
        self.feature_fetch_errors = Counter("feature_fetch_errors",
                                            "Feature store fetches that failed (connection, timeout, 5xx).",
                                            registry=registry)
        self.feature_fetch_duration = Histogram("feature_fetch_duration_seconds", "Feature store fetch duration.",
                                                buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1),
                                                registry=registry)
        self.feature_missing = Counter("feature_missing", "Model features absent from request and feature store.",
                                       ["feature"], registry=registry)
        self.validation_failures = Counter("inference_input_validation_failures",
                                           "Requests refused by input validation.", ["reason"], registry=registry)
        self.oom_errors = Counter("inference_gpu_oom_errors", "Requests failed with GPU out-of-memory.",
                                  registry=registry)
        self.release_info = Gauge("inference_release_info", "The release being served (value 1).",
                                  ["version", "model_name"], registry=registry)
        self.feedback = Counter("model_feedback", "Labelled outcomes posted to /feedback, by result.", ["result"],
                                registry=registry)
        for reason in VALIDATION_REASONS:
            self.validation_failures.labels(reason)
        for result in FEEDBACK_RESULTS:
            self.feedback.labels(result)


class Gateway:
    def __init__(self, config_path: str | None, feature_store_url: str, feature_timeout_s: float = 1.0,
                 gpu: SimulatedGPU | None = None, log: JsonLog | None = None,
                 feedback_window: int = FEEDBACK_WINDOW, feedback_min: int = FEEDBACK_MIN_LABELS):
        self.config_path = config_path
        self.feature_store_url = feature_store_url.rstrip("/")
        self.feature_timeout_s = feature_timeout_s
        self.registry = CollectorRegistry()
        self.metrics = Metrics(self.registry)
        self.gpu = gpu or SimulatedGPU()
        self.log = log or JsonLog(SERVICE)
        self.release = Release()
        self.model: Model | None = None
        self.recent = deque(maxlen=5000)  # (ts, user_age, account_balance, score, group)
        self.offline: dict = {}  # metric -> value of the served model's offline evaluation
        self.scores: OrderedDict = OrderedDict()  # request_id -> score, the last PREDICTION_MEMORY predictions
        self.feedback = deque(maxlen=max(1, feedback_window))  # (score, label) of the served model
        self.feedback_min = max(2, feedback_min)
        self._feedback_lock = threading.Lock()
        self._lock = threading.Lock()
        self._signature = None
        self.registry.register(_LiveCollector(self))
        self.reload(reason="startup")

    # --- release / model ---------------------------------------------------------------------------------
    def reload(self, reason: str = "file changed") -> bool:
        with self._lock:
            self._signature = file_signature(self.config_path)
            try:
                release = load_release(self.config_path)
            except ReleaseError as exc:
                self.log("error", f"release config refused, keeping version {self.release.version}: {exc}",
                         event="release_refused")
                return False
            old = self.release
            if self.model is None or release.model_name != self.model.name:
                try:
                    model = load_model(release.model_name)
                except ModelLoadError as exc:
                    self.metrics.model_load_errors.labels(release.model_name).inc()
                    self.log("error", f"model load failed: {exc}", event="model_load_failed",
                             model=release.model_name)
                    release = Release(**{**release.__dict__, "model_name": self.model.name}) if self.model else release
                else:
                    self.model = model
                    self.offline = evaluate(model)
                    with self._feedback_lock:  # outcomes scored by the previous model measure that model
                        self.scores.clear()
                        self.feedback.clear()
            if self.model is not None:
                self._init_series(self.model.name)
            self.release = release
            self.gpu.set_leak(release.gpu_memory_leak_mb_per_s)
            try:
                self.metrics.release_info.remove(old.version, old.model_name)
            except KeyError:
                pass
            self.metrics.release_info.labels(release.version, release.model_name).set(1)
            self.log.enabled = True
            self.log("info", f"release {release.version} active ({reason})", event="release_loaded",
                     version=release.version, previous_version=old.version, model=release.model_name,
                     log_output=release.log_output)
            self.log.enabled = release.log_output == "stdout"
            return True

    def _init_series(self, model: str) -> None:
        for status in ("200", "500", "503"):
            self.metrics.requests.labels(status, ENDPOINT, model)
        self.metrics.duration.labels(ENDPOINT, model)
        self.metrics.model_load_errors.labels(model)
        for feature in self.model.features:
            self.metrics.feature_missing.labels(feature)

    def watch(self, stop: threading.Event, interval_s: float = 1.0) -> None:
        while not stop.wait(interval_s):
            if file_signature(self.config_path) != self._signature:
                self.reload()

    # --- feature store -------------------------------------------------------------------------------------
    def fetch_features(self, user_id: str, request_id: str) -> dict | None:
        """Stored features of the user ({} when unknown); None when the feature store failed."""
        self.metrics.feature_fetch.inc()
        url = f"{self.feature_store_url}/features/{urllib.parse.quote(user_id, safe='')}"
        req = urllib.request.Request(url, headers={"X-Request-ID": request_id})
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=self.feature_timeout_s) as resp:
                body = json.loads(resp.read())
            return dict(body.get("features") or {})
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                self.log("warning", f"FeatureNotFound: no stored features for user {user_id}",
                         request_id, error_type="FeatureNotFound", user_id=user_id)
                return {}
            error = f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:
            error = str(getattr(exc, "reason", exc))
        finally:
            self.metrics.feature_fetch_duration.observe(time.perf_counter() - start)
        self.metrics.feature_fetch_errors.inc()
        self.log("error", f"FeatureNotFound: feature store request failed: {error}", request_id,
                 error_type="FeatureNotFound", feature_store=self.feature_store_url, user_id=user_id)
        return None

    # --- prediction ------------------------------------------------------------------------------------------
    def predict(self, raw: bytes, request_id: str) -> tuple[int, dict]:
        release, model = self.release, self.model
        if model is None:
            return 503, {"error": "model not loaded"}
        try:
            body = json.loads(raw or b"null")
            if not isinstance(body, dict) or not isinstance(body.get("features", {}), dict):
                raise ValueError("body must be an object with a 'features' object")
        except ValueError as exc:
            self.metrics.validation_failures.labels("malformed_json").inc()
            return 400, {"error": f"malformed request: {exc}"}
        features = body.get("features") or {}
        user_id = str(body.get("user_id", "anonymous"))[:64]

        stored = self.fetch_features(user_id, request_id)
        if stored is None:
            if not release.feature_fallback:
                return 503, {"error": "FeatureNotFound: feature store unavailable"}
            stored = {}
        merged = {**stored, **features}
        for name in model.features:
            if merged.get(name) is None:
                self.metrics.feature_missing.labels(name).inc()
        try:
            clean = model.validate(merged)
        except ValidationError as exc:
            self.metrics.validation_failures.labels(exc.reason).inc()
            self.log("warning", f"input validation failed: {exc}", request_id, reason=exc.reason,
                     feature=exc.feature)
            return 422, {"error": str(exc), "reason": exc.reason}

        delay_ms = release.base_latency_ms * random.uniform(0.5, 1.5) + release.added_latency_ms
        time.sleep(delay_ms / 1000.0)
        self.gpu.record_request()
        if self.gpu.out_of_memory():
            self.metrics.oom_errors.inc()
            self.log("error", "CUDA out of memory: tried to allocate 256.00 MiB", request_id,
                     error_type="OutOfMemoryError", gpu=self.gpu.gpu_id)
            return 500, {"error": "CUDA out of memory"}
        if release.error_ratio and random.random() < release.error_ratio:
            self.log("error", "inference failed: RuntimeError in model forward pass", request_id,
                     error_type="RuntimeError", version=release.version)
            return 500, {"error": "internal error"}

        score = model.score(clean)
        group = "A" if zlib.crc32(user_id.encode()) % 2 == 0 else "B"
        self.recent.append((time.time(), clean["user_age"], clean["account_balance"], score, group))
        with self._feedback_lock:
            self.scores[request_id] = score
            if len(self.scores) > PREDICTION_MEMORY:
                self.scores.popitem(last=False)
        return 200, {"request_id": request_id, "model": model.name, "model_version": model.version,
                     "release": release.version, "fraud_probability": round(score, 6),
                     "is_fraud": score >= model.threshold}

    # --- ground truth -----------------------------------------------------------------------------------------
    def record_feedback(self, raw: bytes) -> tuple[int, dict]:
        """A labelled outcome of a prediction (by request_id) or of features (scored by the served model)."""
        model = self.model
        if model is None:
            return 503, {"error": "model not loaded"}
        try:
            body = json.loads(raw or b"null")
            if not isinstance(body, dict):
                raise ValueError("body must be an object")
            label = body.get("label")
            if label not in (0, 1) or (not isinstance(label, (bool, int))):
                raise ValueError(f"label must be 0, 1, true or false, got {label!r}")
            if ("request_id" in body) == ("features" in body):
                raise ValueError("give exactly one of request_id (a prediction's) or features")
        except ValueError as exc:
            self.metrics.feedback.labels("invalid").inc()
            return 400, {"error": f"malformed feedback: {exc}"}
        if "features" in body:
            try:
                if not isinstance(body["features"], dict):
                    raise ValidationError("wrong_type", "features must be an object")
                features = body["features"]
                if body.get("user_id") is not None:  # the user's stored features, as /predict merges them
                    stored = self.fetch_features(str(body["user_id"])[:64], "feedback")
                    if stored is None:
                        return 503, {"error": "FeatureNotFound: feature store unavailable"}
                    features = {**stored, **features}
                score = model.score(model.validate(features))
            except ValidationError as exc:
                self.metrics.feedback.labels("invalid").inc()
                return 422, {"error": str(exc), "reason": exc.reason}
        with self._feedback_lock:
            if "request_id" in body:
                score = self.scores.pop(str(body["request_id"]), None)  # one outcome per prediction
                if score is None:
                    self.metrics.feedback.labels("unknown_request").inc()
                    return 404, {"error": f"unknown request_id {str(body['request_id'])[:64]!r}: not among the "
                                          f"last {PREDICTION_MEMORY} predictions of model {model.name}, or "
                                          f"already labelled"}
            self.feedback.append((score, bool(label)))
            window = len(self.feedback)
        self.metrics.feedback.labels("accepted").inc()
        return 200, {"accepted": True, "model": model.name, "window": window}

    def performance(self) -> tuple[dict, int]:
        """(metric -> value, labelled outcomes it is measured on): live on the feedback window once it holds
        feedback_min outcomes of both classes; else the offline evaluation and 0."""
        with self._feedback_lock:
            window = list(self.feedback)
        live = live_performance(window, self.model.threshold) if len(window) >= self.feedback_min else None
        return (live, len(window)) if live else (dict(self.offline), 0)

    def recent_inputs(self, window_s: float) -> dict:
        cutoff = time.time() - window_s
        items = [{"ts": t, "user_age": a, "account_balance": b, "score": s}
                 for (t, a, b, s, _g) in list(self.recent) if t >= cutoff]
        return {"model_name": self.model.name if self.model else None, "window_s": window_s, "items": items}

    def fairness(self) -> dict:
        """Positive-prediction rate per group over the last predictions (demographic parity inputs)."""
        if self.model is None:
            return {}
        counts = {"A": [0, 0], "B": [0, 0]}
        for (_t, _a, _b, score, group) in list(self.recent)[-FAIRNESS_WINDOW:]:
            counts[group][0] += 1
            counts[group][1] += score >= self.model.threshold
        if min(c[0] for c in counts.values()) < FAIRNESS_MIN_PER_GROUP:
            return {}
        return {g: pos / n for g, (n, pos) in counts.items()}


class _LiveCollector:
    """GPU gauges and fairness gauges, computed at scrape time."""

    def __init__(self, gateway: Gateway):
        self.gw = gateway

    def collect(self):
        gpu = self.gw.gpu
        util = GaugeMetricFamily("inference_gpu_utilization_percent", "Simulated GPU utilisation.", labels=["gpu"])
        util.add_metric([gpu.gpu_id], gpu.utilization())
        used = GaugeMetricFamily("inference_gpu_memory_used_bytes", "Simulated GPU memory in use.", labels=["gpu"])
        used.add_metric([gpu.gpu_id], gpu.used_bytes())
        total = GaugeMetricFamily("inference_gpu_memory_total_bytes", "Simulated GPU memory.", labels=["gpu"])
        total.add_metric([gpu.gpu_id], gpu.total_bytes)
        fair = GaugeMetricFamily("model_fairness_metric",
                                 "Positive-prediction rate per group (demographic parity) over recent predictions.",
                                 labels=["metric", "group", "model_name"])
        for group, rate in self.gw.fairness().items():
            fair.add_metric(["demographic_parity", group, self.gw.model.name], rate)
        perf = GaugeMetricFamily("model_performance_metric",
                                 "Performance of the served model on its last labelled outcomes (POST /feedback); "
                                 "the offline evaluation until enough arrived.", labels=["metric", "model_name"])
        window = GaugeMetricFamily("model_feedback_window_labels",
                                   "Labelled outcomes model_performance_metric is measured on (0: offline "
                                   "evaluation).", labels=["model_name"])
        if self.gw.model is not None:
            values, n = self.gw.performance()
            for metric, value in values.items():
                perf.add_metric([metric, self.gw.model.name], value)
            window.add_metric([self.gw.model.name], n)
        return [util, used, total, fair, perf, window]


class Handler(JsonHandler):
    gateway: Gateway

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        gw = self.gateway
        if url.path == "/metrics":
            # the simulated GPU also appears exactly as NVIDIA's DCGM exporter shows a real one (gpu.dcgm_exposition)
            body = generate_latest(gw.registry) + gw.gpu.dcgm_exposition(HOSTNAME).encode()
            self._send(200, body, CONTENT_TYPE_LATEST)
        elif url.path == "/healthz":
            rel, model = gw.release, gw.model
            body = {"status": "ok" if model else "model not loaded", "service": SERVICE, "version": rel.version,
                    "model": model.name if model else None, "model_version": model.version if model else None,
                    "log_output": rel.log_output, "gpu_out_of_memory": gw.gpu.out_of_memory()}
            self._send(200 if model else 503, body)
        elif url.path == "/recent-inputs":
            query = urllib.parse.parse_qs(url.query)
            try:
                window = float(query.get("window_s", ["300"])[0])
            except ValueError:
                self._send(400, {"error": "window_s must be a number"})
                return
            self._send(200, gw.recent_inputs(max(1.0, min(window, 3600.0))))
        else:
            self._send(404, {"error": f"no such path {url.path}"})

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        gw = self.gateway
        if url.path == "/feedback":
            self._send(*gw.record_feedback(raw))
            return
        if url.path != ENDPOINT:
            self._send(404, {"error": f"no such path {url.path}"})
            return
        request_id = self.headers.get("X-Request-ID") or uuid.uuid4().hex
        model_name = gw.model.name if gw.model else gw.release.model_name
        start = time.perf_counter()
        try:
            status, body = gw.predict(raw, request_id)
        except Exception as exc:  # a bug must still be counted and logged as a 500
            status, body = 500, {"error": "internal error"}
            gw.log("error", f"unhandled exception: {exc!r}", request_id, error_type=type(exc).__name__)
        elapsed = time.perf_counter() - start
        gw.metrics.requests.labels(str(status), ENDPOINT, model_name).inc()
        gw.metrics.duration.labels(ENDPOINT, model_name).observe(elapsed)
        gw.log("error" if status >= 500 else "info", "prediction request", request_id, status=status,
               latency_ms=round(elapsed * 1000, 2), endpoint=ENDPOINT, model=model_name)
        body.setdefault("request_id", request_id)
        self._send(status, body)


def make_handler(gateway: Gateway) -> type[Handler]:
    return bind(Handler, gateway=gateway)


def main() -> None:
    gateway = Gateway(config_path=os.environ.get("GATEWAY_CONFIG") or None,
                      feature_store_url=os.environ.get("FEATURE_STORE_URL", "http://feature-store:8081"),
                      feature_timeout_s=float(os.environ.get("FEATURE_STORE_TIMEOUT_S", "1.0")),
                      gpu=SimulatedGPU(total_mib=float(os.environ.get("GPU_TOTAL_MIB", "16384")),
                                       baseline_mib=float(os.environ.get("GPU_BASELINE_MIB", "6144"))),
                      feedback_window=int(os.environ.get("FEEDBACK_WINDOW", str(FEEDBACK_WINDOW))),
                      feedback_min=int(os.environ.get("FEEDBACK_MIN_LABELS", str(FEEDBACK_MIN_LABELS))))
    stop = threading.Event()
    threading.Thread(target=gateway.watch, args=(stop,), daemon=True, name="release-watch").start()
    signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=gateway.reload, args=("SIGHUP",)).start())
    exit_on_sigterm()
    host, port = os.environ.get("GATEWAY_HOST", "0.0.0.0"), int(os.environ.get("GATEWAY_PORT", "8080"))
    server = http_server(host, port, make_handler(gateway))
    gateway.log("info", f"listening on {host}:{port}", event="started", feature_store=gateway.feature_store_url)
    try:
        server.serve_forever()
    finally:
        stop.set()
