"""Bounded load for the demo inference gateway: loopback targets only, at most MAX_RPS for at most MAX_DURATION_S.

Requests are POST /predict {"user_id": "u<N>", "features": {"user_age": age}}; account_balance comes from the
feature store. Normal traffic draws user_age from the training distribution N(35, 10); drifted traffic from
N(50, 15) (the specification's drift scenario). Both clipped to [18, 95].

CLI (used by faults.py to run drifted load in the background):
    python -m alertstack.loadgen --url http://127.0.0.1:8080/predict --rps 5 --duration 600 [--drift]
"""
from __future__ import annotations

import argparse
import json
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

MAX_RPS = 50
MAX_DURATION_S = 1800
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class LoadError(ValueError):
    pass


@dataclass
class LoadStats:
    sent: int = 0
    ok: int = 0
    errors: int = 0            # HTTP 5xx and connection failures
    client_errors: int = 0     # HTTP 4xx
    status_counts: dict = field(default_factory=dict)
    latencies_s: list = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0

    def as_dict(self) -> dict:
        lat = sorted(self.latencies_s)
        pct = (lambda p: round(lat[min(int(p * len(lat)), len(lat) - 1)], 4) if lat else None)
        return {"sent": self.sent, "ok": self.ok, "errors": self.errors, "client_errors": self.client_errors,
                "status_counts": dict(self.status_counts), "duration_s": round(self.finished - self.started, 2),
                "p50_s": pct(0.5), "p95_s": pct(0.95), "p99_s": pct(0.99)}


def check_target(url: str, rps: float, duration_s: float) -> None:
    """Refuse anything but bounded load on loopback; the message names what is wrong."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise LoadError(f"load target {url!r}: scheme must be http or https")
    if parts.hostname not in LOOPBACK_HOSTS:
        raise LoadError(f"load target {url!r}: host {parts.hostname!r} is not loopback "
                        f"(allowed: {', '.join(LOOPBACK_HOSTS)})")
    if not (0 < rps <= MAX_RPS):
        raise LoadError(f"rps={rps} must be within (0, {MAX_RPS}]")
    if not (0 < duration_s <= MAX_DURATION_S):
        raise LoadError(f"duration_s={duration_s} must be within (0, {MAX_DURATION_S}]")


def make_payload(rng: random.Random, drift: bool = False) -> dict:
    age = rng.gauss(50, 15) if drift else rng.gauss(35, 10)
    return {"user_id": f"u{rng.randint(0, 9999)}", "features": {"user_age": round(min(max(age, 18), 95), 1)}}


def _predict_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return url if parts.path.rstrip("/").endswith("/predict") else url.rstrip("/") + "/predict"


def run_load(url: str, rps: float, duration_s: float, drift: bool = False,
             stop_event: threading.Event | None = None, timeout_s: float = 5.0, seed: int | None = None) -> dict:
    """Send `rps` requests per second for `duration_s` (or until stop_event); return stats as a dict."""
    check_target(url, rps, duration_s)
    target = _predict_url(url)
    stop_event = stop_event or threading.Event()
    rng = random.Random(seed)
    stats = LoadStats(started=time.monotonic())
    lock = threading.Lock()

    def one(payload: dict) -> None:
        req = urllib.request.Request(target, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        start = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = 0
        elapsed = time.monotonic() - start
        with lock:
            stats.status_counts[str(status)] = stats.status_counts.get(str(status), 0) + 1
            stats.latencies_s.append(elapsed)
            if 200 <= status < 300:
                stats.ok += 1
            elif 400 <= status < 500:
                stats.client_errors += 1
            else:
                stats.errors += 1

    interval = 1.0 / rps
    workers = min(64, max(4, int(rps * (timeout_s + 1))))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="loadgen") as pool:
        next_at = stats.started
        end = stats.started + duration_s
        while not stop_event.is_set():
            now = time.monotonic()
            if now >= end:
                break
            if now < next_at:
                stop_event.wait(min(next_at - now, end - now))
                continue
            pool.submit(one, make_payload(rng, drift))
            stats.sent += 1
            next_at += interval
            if next_at < now - 1:  # fell behind (slow machine): do not burst to catch up
                next_at = now
    stats.finished = time.monotonic()
    return stats.as_dict()


class BackgroundLoad:
    """with BackgroundLoad(url, rps=5, duration_s=600) as load: ...; load.stats after exit."""

    def __init__(self, url: str, rps: float, duration_s: float, drift: bool = False, **kwargs):
        check_target(url, rps, duration_s)
        self.args = (url, rps, duration_s, drift)
        self.kwargs = kwargs
        self.stop_event = threading.Event()
        self.stats: dict | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="background-load")

    def _run(self) -> None:
        self.stats = run_load(*self.args, stop_event=self.stop_event, **self.kwargs)

    def start(self) -> "BackgroundLoad":
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> dict | None:
        self.stop_event.set()
        self._thread.join(timeout_s)
        return self.stats

    def __enter__(self) -> "BackgroundLoad":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080/predict")
    parser.add_argument("--rps", type=float, default=5)
    parser.add_argument("--duration", type=float, default=60, help="seconds")
    parser.add_argument("--drift", action="store_true", help="draw user_age from the drifted distribution")
    args = parser.parse_args(argv)
    try:
        stats = run_load(args.url, args.rps, args.duration, drift=args.drift)
    except LoadError as exc:
        parser.error(str(exc))
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
