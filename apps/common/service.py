"""What every demo app does the same way: one JSON object per log line on stdout, an HTTP handler that answers JSON,
its state bound as class attributes (`bind`), a threading HTTP server, and a clean exit on SIGTERM."""
from __future__ import annotations

import json
import signal
import sys
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JsonLog:
    """One JSON object per line on stdout: ts, level, service, message, request_id, extra fields. `enabled` False
    drops every line (the gateway's release can turn its logs off)."""

    def __init__(self, service: str, stream=None):
        self.service = service
        self.stream = stream
        self.enabled = True
        self._lock = threading.Lock()

    def __call__(self, level: str, message: str, request_id: str | None = None, **extra) -> None:
        if not self.enabled:
            return
        record = {"ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                  "level": level, "service": self.service, "message": message, "request_id": request_id}
        record.update(extra)
        line = json.dumps(record, default=str)
        stream = self.stream or sys.stdout
        with self._lock:
            stream.write(line + "\n")
            stream.flush()


class JsonHandler(BaseHTTPRequestHandler):
    """Base of the apps' HTTP handlers: HTTP/1.1 keep-alive, no access log on stderr (each app logs its own JSON
    lines), and `_send` for a JSON body (or bytes of a given content type)."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status: int, body, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def bind(handler: type[JsonHandler], **state) -> type[JsonHandler]:
    """A subclass of `handler` whose instances see `state` as attributes (self.<name>): one per server."""
    return type(handler.__name__, (handler,), state)


def exit_on_sigterm() -> None:
    """`docker stop` (SIGTERM) exits cleanly: SystemExit in the main thread, so `finally` blocks run."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def http_server(host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """A threading server on host:port (request threads do not delay exit)."""
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
