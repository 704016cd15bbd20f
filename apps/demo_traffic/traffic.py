"""Steady user traffic to the inference gateway, open loop (a slow gateway does not slow the users down).

Requests are POST /predict {"user_id": "u<N>", "features": {"user_age": age}}, user_age ~ N(35, 10) clipped to
[18, 95] (the training distribution, as alertstack.loadgen's normal traffic). Bounded: TRAFFIC_RPS <= 50, at most
MAX_IN_FLIGHT requests in flight, and the process exits 0 after TRAFFIC_MAX_S (the container restarts only on
failure; a deploy starts it again). The target must be a container of the project's own Compose network (or
loopback): TRAFFIC_URL's host is checked against TRAFFIC_ALLOWED_HOSTS.

Why: burn-rate windows hold minutes to days of traffic. With users only during a drill, a stack a few minutes old
detects a fault faster than the rule predicts; with steady traffic (and the backfilled history before it,
alertstack.drills.history) the windows hold what production holds.
"""
from __future__ import annotations

import json
import os
import random
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

MAX_RPS = 50.0
MAX_IN_FLIGHT = 64


def payload(rng: random.Random) -> bytes:
    age = round(min(max(rng.gauss(35, 10), 18), 95), 1)
    return json.dumps({"user_id": f"u{rng.randint(0, 9999)}", "features": {"user_age": age}}).encode()


def check(url: str, rps: float, max_s: float, allowed: list[str]) -> None:
    host = urllib.parse.urlsplit(url).hostname
    if host not in allowed:
        raise SystemExit(f"error: TRAFFIC_URL host {host!r} is not one of {', '.join(allowed)}")
    if not 0 < rps <= MAX_RPS:
        raise SystemExit(f"error: TRAFFIC_RPS={rps} must be within (0, {MAX_RPS:g}]")
    if max_s <= 0:
        raise SystemExit(f"error: TRAFFIC_MAX_S={max_s} must be > 0")


def log(message: str, **extra) -> None:
    print(json.dumps({"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "level": "info",
                      "service": "demo-traffic", "message": message, **extra}), flush=True)


def run(url: str, rps: float, max_s: float, stop: threading.Event, seed: int | None = None) -> dict:
    rng = random.Random(seed)
    in_flight = threading.BoundedSemaphore(MAX_IN_FLIGHT)
    counts = {"sent": 0, "skipped": 0}

    def one(body: bytes) -> None:
        try:
            req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
            with urllib.request.urlopen(req, timeout=10) as resp:
                resp.read()
        except (urllib.error.HTTPError, OSError):
            pass  # the gateway's own metrics count failures; users just go on
        finally:
            in_flight.release()

    interval = 1.0 / rps
    start = time.monotonic()
    next_at, last_log = start, start
    while not stop.is_set() and time.monotonic() - start < max_s:
        now = time.monotonic()
        if now < next_at:
            stop.wait(next_at - now)
            continue
        if in_flight.acquire(blocking=False):
            threading.Thread(target=one, args=(payload(rng),), daemon=True).start()
            counts["sent"] += 1
        else:
            counts["skipped"] += 1
        next_at += interval
        if next_at < now - 1:  # fell behind (a paused container): no burst to catch up
            next_at = now
        if now - last_log >= 600:
            log("traffic running", rps=rps, **counts)
            last_log = now
    return counts


def main() -> None:
    url = os.environ.get("TRAFFIC_URL", "http://inference-gateway:8080/predict")
    rps = float(os.environ.get("TRAFFIC_RPS", "5"))
    max_s = float(os.environ.get("TRAFFIC_MAX_S", str(30 * 86400)))
    allowed = os.environ.get("TRAFFIC_ALLOWED_HOSTS", "inference-gateway,127.0.0.1,localhost").split(",")
    check(url, rps, max_s, allowed)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    log("traffic started", url=url, rps=rps, max_s=max_s)
    counts = run(url, rps, max_s, stop)
    log("traffic ended", **counts)
    sys.exit(0)
