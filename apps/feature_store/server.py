"""The feature store: stored account features per user, deterministic per user id.

Users `u0` .. `u999999` exist; their `account_balance` is drawn from the training distribution (log-normal,
mu 7.6, sigma 1.0) seeded by the user id, so live traffic matches the model's training reference. Other ids: 404.
The gateway counts its own fetches (feature_fetch_total, feature_fetch_errors_total, feature_missing_total): those
must survive this service being down. This service exports feature_store_requests_total{status} and
feature_store_request_duration_seconds.

Environment: FEATURE_STORE_HOST (0.0.0.0), FEATURE_STORE_PORT (8081).
"""
from __future__ import annotations

import os
import random
import re
import time
import urllib.parse
import zlib

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import disable_created_metrics

from common.service import JsonHandler, JsonLog, exit_on_sigterm, http_server

disable_created_metrics()  # no *_created series: Prometheus 3 needs none

SERVICE = "feature-store"
USER_ID = re.compile(r"^u\d{1,6}$")

REGISTRY = CollectorRegistry()
REQUESTS = Counter("feature_store_requests", "Feature lookups served, by HTTP status.", ["status"],
                   registry=REGISTRY)
DURATION = Histogram("feature_store_request_duration_seconds", "Feature lookup duration.",
                     buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1), registry=REGISTRY)
for _status in ("200", "404"):
    REQUESTS.labels(_status)


def stored_features(user_id: str) -> dict | None:
    if not USER_ID.match(user_id):
        return None
    rng = random.Random(zlib.crc32(user_id.encode()))
    return {"account_balance": round(rng.lognormvariate(7.6, 1.0), 2),
            "account_age_days": rng.randint(1, 3650)}


log = JsonLog(SERVICE)


class Handler(JsonHandler):
    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/metrics":
            self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            self._send(200, {"status": "ok", "service": SERVICE})
        elif path.startswith("/features/"):
            start = time.perf_counter()
            user_id = urllib.parse.unquote(path[len("/features/"):])
            features = stored_features(user_id)
            status = 200 if features is not None else 404
            if features is None:
                body = {"error": f"FeatureNotFound: no features stored for user {user_id!r}"}
                log("warning", body["error"], self.headers.get("X-Request-ID"), user_id=user_id)
            else:
                body = {"user_id": user_id, "features": features}
            REQUESTS.labels(str(status)).inc()
            DURATION.observe(time.perf_counter() - start)
            self._send(status, body)
        else:
            self._send(404, {"error": f"no such path {path}"})


def main() -> None:
    exit_on_sigterm()
    host, port = os.environ.get("FEATURE_STORE_HOST", "0.0.0.0"), int(os.environ.get("FEATURE_STORE_PORT", "8081"))
    server = http_server(host, port, Handler)
    log("info", f"listening on {host}:{port}", event="started")
    server.serve_forever()
