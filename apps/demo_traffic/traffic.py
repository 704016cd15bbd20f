"""Steady user traffic to the inference gateway, open loop (a slow gateway does not slow the users down).

Requests are POST /predict {"user_id": "u<N>", "features": {"user_age": age}}, user_age ~ N(35, 10) clipped to
[18, 95] (the training distribution, as alertstack.loadgen's normal traffic). Bounded: TRAFFIC_RPS <= 50, at most
MAX_IN_FLIGHT requests in flight, and the process exits 0 after TRAFFIC_MAX_S (the container restarts only on
failure; a deploy starts it again). The target must be a container of the project's own Compose network (or
loopback): TRAFFIC_URL's host is checked against TRAFFIC_ALLOWED_HOSTS.

Labelled outcomes: for a share of the answered predictions (TRAFFIC_FEEDBACK_SHARE, default 1) the users' true
outcome (fraud or not) is posted to the gateway's POST /feedback {"request_id", "label"}, right after the answer, by
the same worker (so feedback never exceeds the prediction rate nor MAX_IN_FLIGHT). The outcome is drawn from the
demo world's concept (TRAFFIC_CONCEPT, `outcome`): "trained", the fraud process the model learned (its logit ranks
it; the live AUC-ROC is about 0.9), or "shifted", a new fraud pattern among older users that the model scores as
safe (concept drift: same inputs, same model, AUC-ROC about 0.35; alertstack.faults model-performance).
TRAFFIC_FEEDBACK_ONLY=1 (shifted concept only, whose outcome does not depend on the model's answer): no prediction
is requested; each tick posts a labelled outcome of ordinary inputs, /feedback {"user_id", "features", "label"},
as a labelling pipeline that joins ground truth to past traffic does. The SLO traffic (/predict) is then exactly
the steady users'.

Why: burn-rate windows hold minutes to days of traffic. With users only during a drill, a stack a few minutes old
detects a fault faster than the rule predicts; with steady traffic (and the backfilled history before it,
alertstack.drills.history) the windows hold what production holds.
"""
from __future__ import annotations

import json
import math
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
CONCEPTS = ("trained", "shifted")


def payload(rng: random.Random) -> bytes:
    age = round(min(max(rng.gauss(35, 10), 18), 95), 1)
    return json.dumps({"user_id": f"u{rng.randint(0, 9999)}", "features": {"user_age": age}}).encode()


def outcome(rng: random.Random, score: float, user_age: float, concept: str = "trained") -> bool:
    """The true outcome (fraud or not) of a prediction in the demo world.

    trained: P(fraud) = sigmoid(2 logit(score) + 1), the process the model was trained on (it ranks users as
    the model does, a little more sharply than the model's calibration). shifted: P(fraud) = sigmoid(-2.2 +
    (user_age - 35) / 10), fraud among older users whatever their balance, which the model scores as safe."""
    if concept == "shifted":
        z = -2.2 + (user_age - 35.0) / 10.0
    else:
        p = min(max(score, 1e-9), 1 - 1e-9)
        z = 2.0 * math.log(p / (1 - p)) + 1.0
    return rng.random() < 1.0 / (1.0 + math.exp(-z))


def feedback_url(url: str) -> str:
    """The gateway's /feedback next to its /predict."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/feedback", "", ""))


def check(url: str, rps: float, max_s: float, allowed: list[str], feedback_share: float = 0.0,
          concept: str = "trained", feedback_only: bool = False) -> None:
    host = urllib.parse.urlsplit(url).hostname
    if host not in allowed:
        raise SystemExit(f"error: TRAFFIC_URL host {host!r} is not one of {', '.join(allowed)}")
    if not 0 < rps <= MAX_RPS:
        raise SystemExit(f"error: TRAFFIC_RPS={rps} must be within (0, {MAX_RPS:g}]")
    if max_s <= 0:
        raise SystemExit(f"error: TRAFFIC_MAX_S={max_s} must be > 0")
    if not 0 <= feedback_share <= 1:
        raise SystemExit(f"error: TRAFFIC_FEEDBACK_SHARE={feedback_share} must be within [0, 1]")
    if concept not in CONCEPTS:
        raise SystemExit(f"error: TRAFFIC_CONCEPT={concept!r} must be one of {', '.join(CONCEPTS)}")
    if feedback_only and concept != "shifted":
        raise SystemExit("error: TRAFFIC_FEEDBACK_ONLY=1 needs TRAFFIC_CONCEPT=shifted (the trained concept's "
                         "outcome depends on the model's answer, which feedback-only traffic does not ask for)")


def log(message: str, **extra) -> None:
    print(json.dumps({"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "level": "info",
                      "service": "demo-traffic", "message": message, **extra}), flush=True)


def _post(url: str, body: bytes) -> dict:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"{}")


def run(url: str, rps: float, max_s: float, stop: threading.Event, seed: int | None = None,
        feedback_share: float = 0.0, concept: str = "trained", feedback_only: bool = False) -> dict:
    rng = random.Random(seed)
    in_flight = threading.BoundedSemaphore(MAX_IN_FLIGHT)
    counts = {"sent": 0, "skipped": 0, "feedback": 0}
    lock = threading.Lock()
    labels_url = feedback_url(url)

    def one(body: bytes, draw: float, seed: int) -> None:
        try:
            if feedback_only:  # a labelled outcome of these inputs, no prediction
                request = json.loads(body)
                label = outcome(random.Random(seed), 0.5, request["features"]["user_age"], concept)
                _post(labels_url, json.dumps({**request, "label": int(label)}).encode())
                with lock:
                    counts["feedback"] += 1
                return
            answer = _post(url, body)
            if draw < feedback_share and "fraud_probability" in answer:
                age = json.loads(body)["features"]["user_age"]
                label = outcome(random.Random(seed), float(answer["fraud_probability"]), age, concept)
                _post(labels_url, json.dumps({"request_id": answer["request_id"], "label": int(label)}).encode())
                with lock:
                    counts["feedback"] += 1
        except (urllib.error.HTTPError, OSError, ValueError, KeyError):
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
            threading.Thread(target=one, args=(payload(rng), rng.random(), rng.getrandbits(32)),
                             daemon=True).start()
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
    feedback_share = float(os.environ.get("TRAFFIC_FEEDBACK_SHARE", "1"))
    concept = os.environ.get("TRAFFIC_CONCEPT", "trained")
    feedback_only = os.environ.get("TRAFFIC_FEEDBACK_ONLY", "0") == "1"
    check(url, rps, max_s, allowed, feedback_share, concept, feedback_only)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    log("traffic started", url=url, rps=rps, max_s=max_s, feedback_share=feedback_share, concept=concept,
        feedback_only=feedback_only)
    counts = run(url, rps, max_s, stop, feedback_share=feedback_share, concept=concept, feedback_only=feedback_only)
    log("traffic ended", **counts)
    sys.exit(0)
