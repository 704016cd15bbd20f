"""Start the demo apps (apps/*) as real processes on free loopback ports, for the unit tests."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

APPS = Path(__file__).resolve().parents[2] / "apps"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class App:
    def __init__(self, package: str, env: dict, health_url: str, log_path: Path):
        self.log_path = log_path
        self.log = log_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", package], cwd=APPS, env={**os.environ, **env},
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(health_url, timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{package} did not start:\n{log_path.read_text()}")
                time.sleep(0.1)

    def lines(self) -> list[dict]:
        self.log.flush()
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]

    def raw_lines(self) -> list[str]:
        return self.log_path.read_text().splitlines()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def http(method: str, url: str, body=None, timeout: float = 10.0, headers: dict | None = None):
    """(status, parsed JSON or text) without raising on HTTP errors."""
    data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode()


def start_feature_store(tmp: Path) -> tuple[App, str]:
    port = free_port()
    app = App("feature_store", {"FEATURE_STORE_HOST": "127.0.0.1", "FEATURE_STORE_PORT": str(port)},
              f"http://127.0.0.1:{port}/healthz", tmp / "feature-store.log")
    return app, f"http://127.0.0.1:{port}"


def start_gateway(tmp: Path, release_file: Path, feature_store_url: str, **env) -> tuple[App, str]:
    port = free_port()
    app = App("inference_gateway", {"GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(port),
                                    "GATEWAY_CONFIG": str(release_file), "FEATURE_STORE_URL": feature_store_url,
                                    "FEATURE_STORE_TIMEOUT_S": "0.5", **env},
              f"http://127.0.0.1:{port}/healthz", tmp / "gateway.log")
    return app, f"http://127.0.0.1:{port}"
