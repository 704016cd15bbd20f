"""Client of the notification sink's query API (apps/notification_sink).

Every stored message has `alertnames` (the alerts it is about), `status` (firing | resolved), `kind`, `channel`,
`labels` and `received_at`. PagerDuty, Opsgenie and incident-webhook messages also carry `dedup_key` (PagerDuty's
dedup_key, Opsgenie's alias, the webhook's group key): a resolve event that names no alert gets the alert names,
labels and channel of the earlier event with the same key (`attributed_by_key` is then true), so
`messages(url, alertname=X, status="resolved")` finds PagerDuty resolves and Opsgenie closes of X.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Callable


class SinkError(RuntimeError):
    pass


def _request(method: str, url: str, timeout_s: float = 10.0):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise SinkError(f"{method} {url}: HTTP {exc.code}: {exc.read().decode(errors='replace')[:300]}") from exc
    except OSError as exc:
        raise SinkError(f"{method} {url}: notification sink unreachable: {exc}") from exc


def messages(sink_url: str, since: float | datetime | None = None, kind: str | None = None,
             channel: str | None = None, alertname: str | None = None, status: str | None = None,
             dedup_key: str | None = None) -> list[dict]:
    """Stored messages, oldest first; `since` is epoch seconds or an aware datetime; the other arguments filter
    on the message's field of that name (`alertname`: one of its `alertnames`)."""
    if isinstance(since, datetime):
        since = since.timestamp()
    query = {k: v for k, v in {"since": since, "kind": kind, "channel": channel, "alertname": alertname,
                               "status": status, "dedup_key": dedup_key}.items() if v is not None}
    url = f"{sink_url.rstrip('/')}/messages"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    return _request("GET", url)["messages"]


def clear(sink_url: str) -> int:
    """Forget every stored message; returns how many were dropped."""
    return _request("DELETE", f"{sink_url.rstrip('/')}/messages")["deleted"]


def wait_for(sink_url: str, predicate: Callable[[dict], bool], timeout_s: float, poll_s: float = 2.0,
             since: float | None = None, **filters) -> dict | None:
    """First message (received after `since`, matching the query `filters`) for which predicate(message) is true,
    or None after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        for message in messages(sink_url, since=since, **filters):
            if predicate(message):
                return message
        if time.monotonic() >= deadline:
            return None
        time.sleep(min(poll_s, max(deadline - time.monotonic(), 0.05)))
