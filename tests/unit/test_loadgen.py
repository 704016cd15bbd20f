"""The load generator refuses unbounded or non-loopback load, and sends what it says it sends."""
from __future__ import annotations

import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from alertstack.loadgen import MAX_DURATION_S, MAX_RPS, BackgroundLoad, LoadError, make_payload, run_load


@pytest.mark.parametrize("url", ["http://10.0.0.5:8080/predict", "http://example.org/predict",
                                 "http://127.0.0.1.nip.io/predict", "ftp://127.0.0.1/predict"])
def test_refuses_targets_that_are_not_loopback(url):
    with pytest.raises(LoadError, match="not loopback|scheme"):
        run_load(url, rps=1, duration_s=1)
    with pytest.raises(LoadError):
        BackgroundLoad(url, rps=1, duration_s=1)


@pytest.mark.parametrize("rps,duration", [(MAX_RPS + 1, 10), (0, 10), (-1, 10), (5, MAX_DURATION_S + 1), (5, 0)])
def test_refuses_load_beyond_the_caps(rps, duration):
    with pytest.raises(LoadError, match="rps|duration"):
        run_load("http://127.0.0.1:8080", rps=rps, duration_s=duration)


class Recorder(BaseHTTPRequestHandler):
    bodies: list = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Recorder.bodies.append((self.path, body))
        status = 500 if body["features"]["user_age"] > 200 else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


@pytest.fixture
def recorder():
    Recorder.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_sends_the_requested_rate_to_predict_and_counts_results(recorder):
    stats = run_load(recorder, rps=20, duration_s=1.5, seed=1)
    assert 28 <= stats["sent"] <= 31
    time.sleep(0.2)
    assert stats["ok"] == stats["sent"] == len(Recorder.bodies)
    assert {path for path, _ in Recorder.bodies} == {"/predict"}
    assert stats["status_counts"] == {"200": stats["sent"]} and stats["p95_s"] < 1


def test_background_load_stops_on_exit(recorder):
    start = time.monotonic()
    with BackgroundLoad(recorder, rps=10, duration_s=600) as load:
        time.sleep(0.55)
    assert time.monotonic() - start < 3
    assert 4 <= load.stats["sent"] <= 8


def test_connection_failures_count_as_errors():
    from demo_processes import free_port
    stats = run_load(f"http://127.0.0.1:{free_port()}", rps=10, duration_s=0.35)
    assert stats["errors"] == stats["sent"] >= 3 and stats["status_counts"] == {"0": stats["sent"]}


def test_drifted_payloads_shift_user_age():
    rng = random.Random(4)
    normal = [make_payload(rng)["features"]["user_age"] for _ in range(2000)]
    drifted = [make_payload(rng, drift=True)["features"]["user_age"] for _ in range(2000)]
    assert 33 < sum(normal) / 2000 < 37 and 48 < sum(drifted) / 2000 < 53
    assert min(normal + drifted) >= 18 and max(normal + drifted) <= 95
