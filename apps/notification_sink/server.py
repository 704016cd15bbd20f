"""The notification sink: stands in for Slack, PagerDuty, webhook receivers and a mail server in the local
environment, and lets tools ask what was delivered.

HTTP (SINK_HTTP_PORT, 8080):
  POST /slack/<channel>          Slack incoming webhook; answers 200 "ok" like Slack
  POST /pagerduty/v2/enqueue     PagerDuty Events API v2; answers 202 {"status","message","dedup_key"} or 400
  POST /webhook/<name>           generic webhook (Alertmanager webhook_configs); answers 200
  GET  /messages?since=&kind=&channel=&alertname=&status=   {"count": n, "messages": [...]}
  DELETE /messages               forget everything stored
  GET  /healthz, GET /metrics
SMTP (SINK_SMTP_PORT, 2525): every recipient of every mail is stored as kind "email", channel = the address.
  With SINK_SMTP_USERNAME and SINK_SMTP_PASSWORD_FILE set, AUTH PLAIN/LOGIN is offered (without TLS: local use) and
  wrong credentials are refused with 535.
Storage: memory plus SINK_DATA_DIR/messages.jsonl (append-only; replayed on start). PagerDuty routing keys are stored
masked (last 4 characters).
"""
from __future__ import annotations

import email
import email.policy
import json
import os
import urllib.parse
import uuid
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client import disable_created_metrics

from common.service import JsonHandler, JsonLog, bind, exit_on_sigterm, http_server

from .parse import loads_json, parse_email, parse_pagerduty, parse_slack, parse_webhook, validate_pagerduty
from .store import MessageStore, parse_since

disable_created_metrics()

SERVICE = "notification-sink"
KINDS = ("slack", "pagerduty", "webhook", "email")
MAX_BODY = 5 * 1024 * 1024


log = JsonLog(SERVICE)


class Sink:
    def __init__(self, data_dir: str | Path | None):
        path = None
        if data_dir:
            Path(data_dir).mkdir(parents=True, exist_ok=True)
            path = Path(data_dir) / "messages.jsonl"
        self.store = MessageStore(path)
        self.registry = CollectorRegistry()
        self.received = Counter("notification_sink_messages_received", "Notifications received, by kind.",
                                ["kind"], registry=self.registry)
        for kind in KINDS:
            self.received.labels(kind)

    def record(self, kind: str, channel: str, summary: dict, payload) -> dict:
        message = self.store.add(kind, channel, summary, payload)
        self.received.labels(kind).inc()
        log("info", f"{kind} message on {channel}", kind=kind, channel=channel, alertnames=message["alertnames"],
            status=message["status"], id=message["id"])
        return message


def mask(secret) -> str:
    secret = str(secret or "")
    return ("*" * max(len(secret) - 4, 0)) + secret[-4:] if len(secret) > 4 else "*" * len(secret)


class Handler(JsonHandler):
    sink: Sink

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError(f"body of {length} bytes exceeds {MAX_BODY}")
        return self.rfile.read(length) if length else b""

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/healthz":
            self._send(200, {"status": "ok", "service": SERVICE, "messages": len(self.sink.store)})
        elif url.path == "/metrics":
            self._send(200, generate_latest(self.sink.registry), CONTENT_TYPE_LATEST)
        elif url.path == "/messages":
            q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
            unknown = sorted(set(q) - {"since", "kind", "channel", "alertname", "status"})
            if unknown:
                self._send(400, {"error": f"unknown query parameter(s): {', '.join(unknown)}"})
                return
            if q.get("kind") and q["kind"] not in KINDS:
                self._send(400, {"error": f"kind={q['kind']!r} is not one of {', '.join(KINDS)}"})
                return
            try:
                since = parse_since(q.get("since"))
            except ValueError as exc:
                self._send(400, {"error": str(exc)})
                return
            items = self.sink.store.query(since, q.get("kind"), q.get("channel"), q.get("alertname"), q.get("status"))
            self._send(200, {"count": len(items), "messages": items})
        else:
            self._send(404, {"error": f"no such path {url.path}"})

    def do_DELETE(self):
        if urllib.parse.urlsplit(self.path).path != "/messages":
            self._send(404, {"error": "no such path"})
            return
        self._send(200, {"deleted": self.sink.store.clear()})

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        try:
            raw = self._body()
        except ValueError as exc:
            self._send(413, {"error": str(exc)})
            return
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        if parts == ["pagerduty", "v2", "enqueue"]:
            self._pagerduty(raw)
        elif len(parts) == 2 and parts[0] in ("slack", "webhook") and parts[1]:
            try:
                payload = loads_json(raw)
            except ValueError as exc:
                self._send(400, {"error": f"body is not JSON: {exc}"} if parts[0] == "webhook"
                           else b"invalid_payload", "application/json" if parts[0] == "webhook" else "text/plain")
                return
            if parts[0] == "slack":
                self.sink.record("slack", parts[1], parse_slack(payload), payload)
                self._send(200, b"ok", "text/plain")
            else:
                self.sink.record("webhook", parts[1], parse_webhook(payload), payload)
                self._send(200, {"status": "ok"})
        else:
            self._send(404, {"error": f"no such path {path}; use /slack/<channel>, /webhook/<name> or "
                                      "/pagerduty/v2/enqueue"})

    def _pagerduty(self, raw: bytes) -> None:
        try:
            payload = json.loads(raw)
        except ValueError:
            self._send(400, {"status": "invalid event", "message": "Event object is invalid",
                             "errors": ["Body is not valid JSON"]})
            return
        errors = validate_pagerduty(payload)
        if errors:
            self._send(400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors})
            return
        payload = dict(payload)
        payload["dedup_key"] = payload.get("dedup_key") or uuid.uuid4().hex
        payload["routing_key"] = mask(payload.get("routing_key"))
        self.sink.record("pagerduty", "events-v2", parse_pagerduty(payload), payload)
        self._send(202, {"status": "success", "message": "Event processed", "dedup_key": payload["dedup_key"]})


def make_handler(sink: Sink) -> type[Handler]:
    return bind(Handler, sink=sink)


class SmtpHandler:
    def __init__(self, sink: Sink):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        summary, payload = parse_email(message)
        payload["mail_from"] = envelope.mail_from
        payload["rcpt_tos"] = list(envelope.rcpt_tos)
        for rcpt in envelope.rcpt_tos:
            self.sink.record("email", rcpt, summary, payload)
        return "250 Message accepted for delivery"


def make_authenticator(username: str, password: str):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticator(server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword) and auth_data.login.decode() == username \
                and auth_data.password.decode() == password:
            return AuthResult(success=True)
        log("warning", "SMTP authentication refused", mechanism=mechanism)
        return AuthResult(success=False, handled=False)

    return authenticator


def start_smtp(sink: Sink, host: str, port: int, username: str | None = None, password: str | None = None):
    from aiosmtpd.controller import Controller

    kwargs = {}
    if username and password is not None:
        kwargs = {"authenticator": make_authenticator(username, password), "auth_require_tls": False}
    controller = Controller(SmtpHandler(sink), hostname=host, port=port, **kwargs)
    controller.start()
    return controller


def main() -> None:
    exit_on_sigterm()
    host = os.environ.get("SINK_HOST", "0.0.0.0")
    sink = Sink(os.environ.get("SINK_DATA_DIR", "/data"))
    password = None
    if os.environ.get("SINK_SMTP_PASSWORD_FILE"):
        password = Path(os.environ["SINK_SMTP_PASSWORD_FILE"]).read_text().strip()
    smtp_port = int(os.environ.get("SINK_SMTP_PORT", "2525"))
    controller = start_smtp(sink, host, smtp_port, os.environ.get("SINK_SMTP_USERNAME"), password)
    http_port = int(os.environ.get("SINK_HTTP_PORT", "8080"))
    server = http_server(host, http_port, make_handler(sink))
    log("info", f"listening on {host}:{http_port} (HTTP) and {host}:{smtp_port} (SMTP)", event="started",
        smtp_auth=password is not None, stored=len(sink.store))
    try:
        server.serve_forever()
    finally:
        controller.stop()
