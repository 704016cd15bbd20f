"""The notification sink: stands in for Slack, PagerDuty, webhook receivers and a mail server in the local
environment, and lets tools ask what was delivered.

HTTP (SINK_HTTP_PORT, 8080):
  POST /slack/<channel>          Slack incoming webhook; answers 200 "ok" like Slack
  POST /pagerduty/v2/enqueue     PagerDuty Events API v2; answers 202 {"status","message","dedup_key"} or 400
  POST /webhook/<name>           generic webhook (Alertmanager webhook_configs); answers 200
  POST /opsgenie/v2/alerts, POST /opsgenie/v2/alerts/<alias>/close, PUT /opsgenie/v2/alerts/<alias>/message|description
                                 Opsgenie Alert API v2 as Alertmanager's opsgenie_configs call it: "Authorization:
                                 GenieKey <key>" (checked against SINK_OPSGENIE_API_KEY_FILE when set, else any key;
                                 401 without), 422 for an invalid alert, else 202. Channel: the responders
                                 ("team:ml-platform,user:x"); a close gets the channel of the alert it closes.
  POST /servicenow/<name>        ServiceNow-style incident endpoint: Alertmanager's webhook payload with HTTP basic
                                 auth (SINK_SERVICENOW_USERNAME / SINK_SERVICENOW_PASSWORD_FILE; 401 otherwise); one
                                 incident (INC0010001, ...) per group key, answers 201 {"result": {number, state}}
  GET  /messages?since=&kind=&channel=&alertname=&status=&dedup_key=   {"count": n, "messages": [...]}
       each message: id, received_at(_iso), kind, channel, alertnames, status, labels, alerts, format, payload,
       sender (the client's address: which Alertmanager of a cluster sent it), and for PagerDuty/Opsgenie/incident
       messages dedup_key (dedup_key / alias / group key) and attributed_by_key
  DELETE /messages               forget everything stored
  GET  /healthz, GET /metrics
SMTP (SINK_SMTP_PORT, 2525): every recipient of every mail is stored as kind "email", channel = the address.
  With SINK_SMTP_USERNAME and SINK_SMTP_PASSWORD_FILE set, AUTH PLAIN/LOGIN is offered (without TLS: local use) and
  wrong credentials are refused with 535.
Storage: memory plus SINK_DATA_DIR/messages.jsonl (append-only; replayed on start). PagerDuty routing keys are stored
masked (last 4 characters).
"""
from __future__ import annotations

import base64
import binascii
import email
import email.policy
import hmac
import json
import os
import threading
import urllib.parse
import uuid
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client import disable_created_metrics

from common.service import JsonHandler, JsonLog, bind, exit_on_sigterm, http_server

from .parse import (loads_json, parse_email, parse_opsgenie_close, parse_opsgenie_create, parse_pagerduty,
                    parse_servicenow, parse_slack, parse_webhook, validate_opsgenie_create, validate_pagerduty)
from .store import MessageStore, parse_since

disable_created_metrics()

SERVICE = "notification-sink"
KINDS = ("slack", "pagerduty", "webhook", "email", "opsgenie", "servicenow")
MAX_BODY = 5 * 1024 * 1024


log = JsonLog(SERVICE)


class Sink:
    def __init__(self, data_dir: str | Path | None, opsgenie_api_key: str | None = None,
                 servicenow_auth: tuple[str, str] | None = None):
        path = None
        if data_dir:
            Path(data_dir).mkdir(parents=True, exist_ok=True)
            path = Path(data_dir) / "messages.jsonl"
        self.store = MessageStore(path)
        self.opsgenie_api_key = opsgenie_api_key      # None: any GenieKey is accepted
        self.servicenow_auth = servicenow_auth        # None: every incident post is refused (401)
        self.incident_lock = threading.Lock()
        self.registry = CollectorRegistry()
        self.received = Counter("notification_sink_messages_received", "Notifications received, by kind.",
                                ["kind"], registry=self.registry)
        for kind in KINDS:
            self.received.labels(kind)

    def record(self, kind: str, channel: str | None, summary: dict, payload) -> dict:
        message = self.store.add(kind, channel, summary, payload)
        self.received.labels(kind).inc()
        log("info", f"{kind} message on {message['channel']}", kind=kind, channel=message["channel"],
            alertnames=message["alertnames"],
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

    def _record(self, kind: str, channel: str | None, summary: dict, payload) -> dict:
        """Store a notification with the address it came from (which Alertmanager of a cluster sent it)."""
        return self.sink.record(kind, channel, {**summary, "sender": self.client_address[0]}, payload)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/healthz":
            self._send(200, {"status": "ok", "service": SERVICE, "messages": len(self.sink.store)})
        elif url.path == "/metrics":
            self._send(200, generate_latest(self.sink.registry), CONTENT_TYPE_LATEST)
        elif url.path == "/messages":
            q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
            unknown = sorted(set(q) - {"since", "kind", "channel", "alertname", "status", "dedup_key"})
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
            items = self.sink.store.query(since, q.get("kind"), q.get("channel"), q.get("alertname"), q.get("status"),
                                          q.get("dedup_key"))
            self._send(200, {"count": len(items), "messages": items})
        else:
            self._send(404, {"error": f"no such path {url.path}"})

    def do_DELETE(self):
        if urllib.parse.urlsplit(self.path).path != "/messages":
            self._send(404, {"error": "no such path"})
            return
        self._send(200, {"deleted": self.sink.store.clear()})

    def do_PUT(self):
        parts = self._parts()
        if len(parts) == 5 and parts[:3] == ["opsgenie", "v2", "alerts"] and parts[4] in ("message", "description"):
            self._opsgenie(parts[3], parts[4])
        else:
            self._send(404, {"error": f"no such path {self.path}"})

    def _parts(self) -> list[str]:
        path = urllib.parse.urlsplit(self.path).path
        return [urllib.parse.unquote(p) for p in path.strip("/").split("/")]

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        try:
            raw = self._body()
        except ValueError as exc:
            self._send(413, {"error": str(exc)})
            return
        parts = self._parts()
        if parts == ["pagerduty", "v2", "enqueue"]:
            self._pagerduty(raw)
        elif parts[:3] == ["opsgenie", "v2", "alerts"] and (len(parts) == 3 or len(parts) == 5 and parts[4] == "close"):
            self._opsgenie(parts[3] if len(parts) == 5 else None, "close" if len(parts) == 5 else "create", raw)
        elif len(parts) == 2 and parts[0] == "servicenow" and parts[1]:
            self._servicenow(parts[1], raw)
        elif len(parts) == 2 and parts[0] in ("slack", "webhook") and parts[1]:
            try:
                payload = loads_json(raw)
            except ValueError as exc:
                self._send(400, {"error": f"body is not JSON: {exc}"} if parts[0] == "webhook"
                           else b"invalid_payload", "application/json" if parts[0] == "webhook" else "text/plain")
                return
            if parts[0] == "slack":
                self._record("slack", parts[1], parse_slack(payload), payload)
                self._send(200, b"ok", "text/plain")
            else:
                self._record("webhook", parts[1], parse_webhook(payload), payload)
                self._send(200, {"status": "ok"})
        else:
            self._send(404, {"error": f"no such path {path}; use /slack/<channel>, /webhook/<name>, "
                                      "/pagerduty/v2/enqueue, /opsgenie/v2/alerts or /servicenow/<name>"})

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
        self._record("pagerduty", "events-v2", parse_pagerduty(payload), payload)
        self._send(202, {"status": "success", "message": "Event processed", "dedup_key": payload["dedup_key"]})

    def _opsgenie(self, alias: str | None, action: str, raw: bytes | None = None) -> None:
        """Opsgenie's answers: 401 without a valid GenieKey, 422 for an invalid alert, else 202 (processed later)."""
        if raw is None:
            raw = self._body()
        request_id = str(uuid.uuid4())
        auth = self.headers.get("Authorization") or ""
        key = auth[len("GenieKey "):].strip() if auth.startswith("GenieKey ") else ""
        if not key or (self.sink.opsgenie_api_key is not None and key != self.sink.opsgenie_api_key):
            self._send(401, {"message": "Could not authenticate", "took": 0.0, "requestId": request_id})
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send(400, {"message": "Request body is not valid JSON", "took": 0.0, "requestId": request_id})
            return
        if action == "create":
            errors = validate_opsgenie_create(body)
            if errors:
                self._send(422, {"message": "; ".join(errors), "took": 0.0, "requestId": request_id})
                return
            responders = body.get("responders") or []
            channel = ",".join(f"{r['type']}:{r.get('name') or r.get('username') or r.get('id')}"
                               for r in responders) or "(no responders)"
            summary = parse_opsgenie_create(body)
        elif action == "close":
            channel, summary = None, parse_opsgenie_close(alias)
        else:  # update of message or description: stored, not a notification of its own status
            channel, summary = None, {**parse_opsgenie_close(alias), "status": f"update-{action}"}
        payload = {**body, "api_key": mask(key), "action": action}
        if alias:
            payload["alias"] = alias
        self._record("opsgenie", channel, summary, payload)
        self._send(202, {"result": "Request will be processed", "took": 0.0, "requestId": request_id})

    def _servicenow(self, name: str, raw: bytes) -> None:
        """Basic auth first (401 with a challenge, as ServiceNow answers); then one incident per group key."""
        auth = self.headers.get("Authorization") or ""
        given = None
        if auth.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                given = (user, password)
            except (binascii.Error, ValueError):  # not base64, or not UTF-8 (UnicodeDecodeError is a ValueError)
                given = None
        expected = self.sink.servicenow_auth
        if given is None or expected is None or not (hmac.compare_digest(given[0].encode(), expected[0].encode())
                                                     and hmac.compare_digest(given[1].encode(), expected[1].encode())):
            log("warning", "incident webhook: authentication refused", channel=name, user=given[0] if given else None)
            data = json.dumps({"error": {"message": "User Not Authenticated",
                                         "detail": "Required to provide Auth information"}, "status": "failure"})
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="Service-now"')
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data.encode())
            return
        try:
            payload = loads_json(raw)
        except ValueError as exc:
            self._send(400, {"error": {"message": f"body is not JSON: {exc}"}, "status": "failure"})
            return
        summary = parse_servicenow(payload)
        with self.sink.incident_lock:  # two new groups at once get two numbers
            known = self.sink.store.attribution("servicenow", summary.get("dedup_key"))
            number = (known or {}).get("incident") or f"INC{10001 + self.sink.store.keys('servicenow'):07d}"
            state = "Resolved" if summary.get("status") == "resolved" else "New" if not known else "In Progress"
            summary["incident"] = number
            message = self._record("servicenow", name, summary, {**payload, "incident_state": state,
                                                                     "caller": given[0]})
        self._send(201, {"result": {"number": number, "state": state, "sys_id": f"{message['id']:032x}",
                                    "short_description": ", ".join(message["alertnames"])}})


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
            self.sink.record("email", rcpt, {**summary, "sender": (session.peer or [None])[0]}, payload)
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
    def secret(name: str) -> str | None:
        path = os.environ.get(name)
        return Path(path).read_text().strip() if path else None

    servicenow_password = secret("SINK_SERVICENOW_PASSWORD_FILE")
    servicenow_auth = (os.environ.get("SINK_SERVICENOW_USERNAME", ""), servicenow_password) \
        if os.environ.get("SINK_SERVICENOW_USERNAME") and servicenow_password is not None else None
    sink = Sink(os.environ.get("SINK_DATA_DIR", "/data"), opsgenie_api_key=secret("SINK_OPSGENIE_API_KEY_FILE"),
                servicenow_auth=servicenow_auth)
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
