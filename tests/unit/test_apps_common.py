"""apps/common: the JSON log line, the JSON handler base and the server every demo app uses."""
from __future__ import annotations

import io
import json
import threading
import urllib.request

from common.service import JsonHandler, JsonLog, bind, http_server


def test_log_line_is_one_json_object_and_can_be_turned_off():
    stream = io.StringIO()
    log = JsonLog("svc", stream)
    log("info", "hello", "req-1", port=8080)
    log.enabled = False
    log("info", "dropped")
    (line,) = stream.getvalue().splitlines()
    record = json.loads(line)
    assert {k: record[k] for k in ("level", "service", "message", "request_id", "port")} == {
        "level": "info", "service": "svc", "message": "hello", "request_id": "req-1", "port": 8080}
    assert record["ts"].endswith("Z")


def test_bound_handler_answers_json_with_its_state():
    class Handler(JsonHandler):
        state: dict

        def do_GET(self):
            self._send(200, {"path": self.path, **self.state})

    server = http_server("127.0.0.1", 0, bind(Handler, state={"name": "x"}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_address[1]}/a", timeout=5) as resp:
            assert resp.headers["Content-Type"] == "application/json"
            assert json.loads(resp.read()) == {"path": "/a", "name": "x"}
    finally:
        server.shutdown()
        server.server_close()
    assert not hasattr(Handler, "state")  # bind made a subclass; the app's class is untouched
