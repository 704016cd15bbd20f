"""The drift monitor: every DRIFT_INTERVAL_S it pulls the gateway's recent inputs (GET /recent-inputs), computes the
PSI of each feature and of the prediction score against reference.json, and exports
model_drift_psi{metric_type="feature"|"prediction", feature_name, model_name} (feature_name="prediction" for the
score). With fewer than DRIFT_MIN_SAMPLES inputs in the window the series are removed: no data, no claim.

Environment: DRIFT_HOST (0.0.0.0), DRIFT_PORT (8082), GATEWAY_URL (http://inference-gateway:8080),
DRIFT_WINDOW_S (120), DRIFT_INTERVAL_S (15), DRIFT_MIN_SAMPLES (100), DRIFT_REFERENCE (reference.json beside this).
"""
from __future__ import annotations

import json
import os
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client import disable_created_metrics

from common.service import JsonHandler, JsonLog, bind, exit_on_sigterm, http_server

from .psi import psi_against_reference

disable_created_metrics()  # no *_created series: Prometheus 3 needs none

SERVICE = "drift-monitor"
DEFAULT_REFERENCE = Path(__file__).resolve().parent / "reference.json"


log = JsonLog(SERVICE)


class DriftMonitor:
    def __init__(self, gateway_url: str, reference: dict, window_s: float = 120, min_samples: int = 100):
        self.gateway_url = gateway_url.rstrip("/")
        self.reference = reference
        self.window_s = window_s
        self.min_samples = min_samples
        self.registry = CollectorRegistry()
        self.psi = Gauge("model_drift_psi", "Population Stability Index of live data against the training reference.",
                         ["metric_type", "feature_name", "model_name"], registry=self.registry)
        self.samples = Gauge("drift_monitor_window_samples", "Inputs in the last PSI window.", registry=self.registry)
        self.runs = Counter("drift_monitor_runs", "PSI computations attempted.", registry=self.registry)
        self.errors = Counter("drift_monitor_errors", "PSI computations that failed (gateway unreachable...).",
                              registry=self.registry)
        self.last_success = Gauge("drift_monitor_last_success_timestamp_seconds",
                                  "When PSI was last computed.", registry=self.registry)
        self.last_result: dict = {}

    def fetch(self) -> dict:
        url = f"{self.gateway_url}/recent-inputs?window_s={self.window_s:g}"
        with urllib.request.urlopen(url, timeout=5) as resp:
            return json.loads(resp.read())

    def compute(self, data: dict) -> dict:
        """PSI per feature and for the prediction, {} when the window is too small."""
        items = data.get("items") or []
        if len(items) < self.min_samples:
            return {}
        result = {}
        for name, ref in self.reference["features"].items():
            result[("feature", name)] = psi_against_reference(ref, [item[name] for item in items])
        result[("prediction", "prediction")] = psi_against_reference(self.reference["prediction"],
                                                                     [item["score"] for item in items])
        return result

    def run_once(self) -> dict:
        self.runs.inc()
        try:
            data = self.fetch()
        except (OSError, ValueError) as exc:
            self.errors.inc()
            log("error", f"cannot read recent inputs from the gateway: {exc}", gateway=self.gateway_url)
            return {}
        model = data.get("model_name") or self.reference.get("model_name", "unknown")
        result = self.compute(data)
        self.samples.set(len(data.get("items") or []))
        self.psi.clear()
        for (metric_type, feature), value in result.items():
            self.psi.labels(metric_type, feature, model).set(value)
        self.last_success.set(time.time())
        self.last_result = {"model_name": model, "samples": len(data.get("items") or []),
                            "psi": {f"{t}:{f}": round(v, 4) for (t, f), v in result.items()}}
        if result:
            log("info", "psi computed", **self.last_result)
        return result

    def loop(self, stop: threading.Event, interval_s: float) -> None:
        while True:
            self.run_once()
            if stop.wait(interval_s):
                return


class Handler(JsonHandler):
    monitor: DriftMonitor

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/metrics":
            self._send(200, generate_latest(self.monitor.registry), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            self._send(200, {"status": "ok", "service": SERVICE, "last": self.monitor.last_result})
        else:
            self._send(404, {"error": f"no such path {path}"})


def make_handler(monitor: DriftMonitor) -> type[Handler]:
    return bind(Handler, monitor=monitor)


def main() -> None:
    exit_on_sigterm()
    reference = json.loads(Path(os.environ.get("DRIFT_REFERENCE") or DEFAULT_REFERENCE).read_text())
    monitor = DriftMonitor(os.environ.get("GATEWAY_URL", "http://inference-gateway:8080"), reference,
                           window_s=float(os.environ.get("DRIFT_WINDOW_S", "120")),
                           min_samples=int(os.environ.get("DRIFT_MIN_SAMPLES", "100")))
    stop = threading.Event()
    threading.Thread(target=monitor.loop, args=(stop, float(os.environ.get("DRIFT_INTERVAL_S", "15"))),
                     daemon=True, name="psi").start()
    host, port = os.environ.get("DRIFT_HOST", "0.0.0.0"), int(os.environ.get("DRIFT_PORT", "8082"))
    server = http_server(host, port, make_handler(monitor))
    log("info", f"listening on {host}:{port}", event="started", gateway=monitor.gateway_url)
    server.serve_forever()
