"""Turn what an integration posted into {alertnames, status, labels, alerts}.

- webhook: Alertmanager's webhook payload (version 4) carries everything structured.
- pagerduty: Events v2; event_action trigger -> firing, resolve -> resolved; alert names from
  payload.custom_details (an `alertname` entry, as the policy's PagerDuty receiver sends it, or "alertname = X" lines
  of Alertmanager's default details), then from the summary ("[FIRING:1] Name ..."). A resolve event that names no
  alert is attributed to the event with the same dedup_key (MessageStore.add).
- opsgenie: Alert API v2 as Alertmanager calls it: create (POST v2/alerts: details = the group's common labels,
  alias = hash of the group key) -> firing; close (POST v2/alerts/<alias>/close) -> resolved, attributed by alias.
- servicenow: Alertmanager's webhook payload posted to an incident endpoint behind basic auth; one incident per
  group key, resolved by the group's resolved notification.
- slack / email: text only; status from "[FIRING" / "[RESOLVED" (Alertmanager's default titles and subjects),
  alert names from "alertname=X", "alertname = X", "alertname: X" or the name after "[FIRING:n]".
"""
from __future__ import annotations

import json
import re

ALERTNAME_KV = re.compile(r"alertname\s*[=:]\s*[\"']?([A-Za-z_][A-Za-z0-9_:]*)")
SUBJECT = re.compile(r"\[(FIRING|RESOLVED)(?::\s*\d+)?\]\s*([A-Za-z_][A-Za-z0-9_:]*)?", re.IGNORECASE)


def text_summary(text: str) -> dict:
    names: list[str] = []
    status = None
    for match in SUBJECT.finditer(text):
        status = status or match.group(1).lower()
        if match.group(2) and match.group(2).lower() not in ("firing", "resolved"):
            names.append(match.group(2))
    names += ALERTNAME_KV.findall(text)
    if status is None:
        if re.search(r"\bresolved\b", text, re.IGNORECASE):
            status = "resolved"
        elif re.search(r"\bfiring\b", text, re.IGNORECASE):
            status = "firing"
    return {"alertnames": _unique(names), "status": status, "labels": {}, "alerts": []}


def _unique(items) -> list:
    seen = []
    for item in items:
        if item and item not in seen:
            seen.append(item)
    return seen


def _strings(value) -> list[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def parse_webhook(payload) -> dict:
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        return {**text_summary("\n".join(_strings(payload))), "format": "unknown"}
    alerts = []
    for alert in payload["alerts"]:
        if isinstance(alert, dict):
            alerts.append({"status": alert.get("status"), "labels": alert.get("labels") or {},
                           "annotations": alert.get("annotations") or {}, "startsAt": alert.get("startsAt"),
                           "endsAt": alert.get("endsAt"), "fingerprint": alert.get("fingerprint")})
    names = _unique([a["labels"].get("alertname") for a in alerts] +
                    [(payload.get("commonLabels") or {}).get("alertname")])
    return {"alertnames": names, "status": payload.get("status"), "labels": payload.get("commonLabels") or {},
            "alerts": alerts, "format": "alertmanager-webhook"}


def parse_slack(payload) -> dict:
    text = "\n".join(_strings(payload))
    summary = text_summary(text)
    summary["format"] = "slack"
    return summary


# custom_details / Opsgenie details entries copied into a message's labels.
DETAIL_LABELS = ("alertname", "severity", "service", "team", "family", "env")


def _names(value) -> list[str]:
    """Alert names of a details entry: "A", "A,B" or "A B"."""
    return [n for n in re.split(r"[\s,]+", value) if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_:]*", n)] \
        if isinstance(value, str) else []


def parse_pagerduty(payload: dict) -> dict:
    body = payload.get("payload") or {}
    details = body.get("custom_details") if isinstance(body, dict) else None
    details = details if isinstance(details, dict) else {}
    text = "\n".join(_strings(body) + _strings(payload.get("description") or ""))
    summary = text_summary(text)
    structured = _names(details.get("alertname")) + _names(details.get("alertnames"))
    summary["alertnames"] = _unique(structured + summary["alertnames"])
    action = payload.get("event_action")
    summary["status"] = {"trigger": "firing", "resolve": "resolved", "acknowledge": "acknowledged"}.get(action)
    summary["format"] = "pagerduty-events-v2"
    summary["dedup_key"] = payload.get("dedup_key")
    labels = {k: details[k] for k in DETAIL_LABELS if isinstance(details.get(k), str) and details[k]}
    if isinstance(body, dict) and body.get("severity"):
        labels.setdefault("severity", body["severity"])
    summary["labels"] = labels
    return summary


def parse_opsgenie_create(payload) -> dict:
    """An Opsgenie create-alert request: Alertmanager puts the group's common labels in `details`."""
    details = payload.get("details") if isinstance(payload.get("details"), dict) else {}
    summary = text_summary(str(payload.get("message") or ""))
    summary["alertnames"] = _unique(_names(details.get("alertname")) + summary["alertnames"])
    summary.update(status="firing", format="opsgenie-alert-v2", dedup_key=payload.get("alias"),
                   labels={k: v for k, v in details.items() if isinstance(v, str)})
    return summary


def parse_opsgenie_close(alias: str) -> dict:
    return {"alertnames": [], "status": "resolved", "labels": {}, "alerts": [], "format": "opsgenie-alert-v2",
            "dedup_key": alias}


def validate_opsgenie_create(payload) -> list[str]:
    """Errors in the shape Opsgenie's Alert API reports them; [] when the request is valid."""
    if not isinstance(payload, dict):
        return ["Request body is not a JSON object"]
    errors = []
    if not str(payload.get("message") or "").strip():
        errors.append("Message can not be empty.")
    elif len(payload["message"]) > 130:
        errors.append("Message can not be longer than 130 characters.")
    if payload.get("priority") and payload["priority"] not in ("P1", "P2", "P3", "P4", "P5"):
        errors.append(f"Priority should be one of [P1, P2, P3, P4, P5], not {payload['priority']!r}")
    for r in payload.get("responders") or []:
        if not isinstance(r, dict) or r.get("type") not in ("team", "user", "escalation", "schedule") \
                or not (r.get("id") or r.get("name") or r.get("username")):
            errors.append(f"Responder {r!r} needs a type (team, user, escalation, schedule) and an id, name or "
                          f"username")
    return errors


def parse_servicenow(payload) -> dict:
    """An Alertmanager webhook payload posted to the incident endpoint; keyed by its group key."""
    summary = parse_webhook(payload)
    summary["format"] = "servicenow-incident"
    summary["dedup_key"] = payload.get("groupKey") if isinstance(payload, dict) else None
    return summary


def validate_pagerduty(payload) -> list[str]:
    """Errors in the shape PagerDuty's Events API v2 reports them; [] when the event is valid."""
    if not isinstance(payload, dict):
        return ["Event object is not a JSON object"]
    errors = []
    if not payload.get("routing_key"):
        errors.append("'routing_key' is missing or blank")
    action = payload.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        errors.append("'event_action' is invalid (must be trigger, acknowledge or resolve)")
    if action == "trigger":
        body = payload.get("payload")
        if not isinstance(body, dict):
            errors.append("'payload' is missing or not an object")
        else:
            for key in ("summary", "source", "severity"):
                if not body.get(key):
                    errors.append(f"'payload.{key}' is missing or blank")
            if body.get("severity") and body["severity"] not in ("critical", "error", "warning", "info"):
                errors.append("'payload.severity' is invalid (must be critical, error, warning or info)")
    elif action in ("acknowledge", "resolve") and not payload.get("dedup_key"):
        errors.append("'dedup_key' is missing or blank")
    return errors


def parse_email(message) -> tuple[dict, dict]:
    """(summary, stored payload) of an email.message.EmailMessage."""
    parts = []
    for part in message.walk():
        if part.get_content_maintype() == "text":
            try:
                parts.append(part.get_content())
            except (LookupError, ValueError):
                parts.append(part.get_payload(decode=True).decode("utf-8", "replace"))
    body = "\n".join(parts)
    plain = re.sub(r"<[^>]+>", " ", body)
    subject = str(message.get("Subject", ""))
    summary = text_summary(subject + "\n" + plain)
    summary["format"] = "email"
    payload = {"subject": subject, "from": str(message.get("From", "")), "to": str(message.get("To", "")),
               "body": plain[:20000]}
    return summary, payload


def loads_json(raw: bytes):
    """JSON body; Slack also accepts form posts with payload=<json>."""
    text = raw.decode("utf-8", "replace")
    if text.startswith("payload="):
        from urllib.parse import unquote_plus
        text = unquote_plus(text[len("payload="):])
    return json.loads(text)
