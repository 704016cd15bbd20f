"""Messages in memory, and appended to a JSON-lines file so that a restart keeps them.

Each line is a message, or {"cleared_at": ts} for a DELETE: replaying the file on start-up honours clears.

Attribution by dedup key: a message with a `dedup_key` (PagerDuty's dedup_key, Opsgenie's alias, the incident
webhook's group key) that names no alert gets the alert names, labels and channel of the earlier message of the
same kind and key (a resolve event need not repeat them). The keys outlive a clear, so a resolve that arrives after
a DELETE is still attributed.
"""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from pathlib import Path


def parse_since(value: str | None) -> float | None:
    """Epoch seconds, or an ISO-8601 timestamp (Z or offset); ValueError names the bad value."""
    if value in (None, ""):
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"since={value!r} is neither epoch seconds nor an ISO-8601 timestamp") from None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return ts.timestamp()


class MessageStore:
    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else None
        self._messages: list[dict] = []
        self._lock = threading.Lock()
        self._next_id = 1
        self._keys: dict[tuple[str, str], dict] = {}  # (kind, dedup_key) -> what the first message said
        if self.path and self.path.exists():
            self._replay()

    def _replay(self) -> None:
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a torn last line after a crash
            if "cleared_at" in record:
                self._messages = []
            else:
                self._remember(record)
                self._messages.append(record)
                self._next_id = max(self._next_id, int(record.get("id", 0)) + 1)

    def _append(self, record: dict) -> None:
        if self.path:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, default=str) + "\n")

    def _remember(self, record: dict) -> None:
        if record.get("dedup_key") and record.get("alertnames"):
            self._keys.setdefault((record["kind"], record["dedup_key"]),
                                  {"alertnames": record["alertnames"], "labels": record.get("labels") or {},
                                   "channel": record["channel"], "incident": record.get("incident")})

    def attribution(self, kind: str, dedup_key: str | None) -> dict | None:
        """{alertnames, labels, channel} of the first message of `kind` that carried `dedup_key` and named alerts."""
        with self._lock:
            return self._keys.get((kind, dedup_key)) if dedup_key else None

    def keys(self, kind: str) -> int:
        """How many dedup keys of `kind` have been seen (numbers the incident webhook's incidents)."""
        with self._lock:
            return sum(1 for k, _ in self._keys if k == kind)

    def add(self, kind: str, channel: str | None, summary: dict, payload) -> dict:
        """Store a message; one with a known dedup_key and no alert names (or no channel) is attributed."""
        now = time.time()
        with self._lock:
            known = self._keys.get((kind, summary.get("dedup_key"))) if summary.get("dedup_key") else None
            attributed = bool(known) and not summary.get("alertnames")
            if known:
                if attributed:
                    summary = {**summary, "alertnames": known["alertnames"],
                               "labels": {**known["labels"], **(summary.get("labels") or {})}}
                channel = channel or known["channel"]
            record = {"id": self._next_id, "received_at": now,
                      "received_at_iso": datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="milliseconds")
                      .replace("+00:00", "Z"),
                      "kind": kind, "channel": channel, "alertnames": summary.get("alertnames", []),
                      "status": summary.get("status"), "labels": summary.get("labels", {}),
                      "alerts": summary.get("alerts", []), "format": summary.get("format"),
                      "payload": payload}
            if summary.get("dedup_key"):
                record["dedup_key"] = summary["dedup_key"]
                record["attributed_by_key"] = attributed  # names taken from the earlier message with this key
            if summary.get("incident"):
                record["incident"] = summary["incident"]
            if summary.get("sender"):
                record["sender"] = summary["sender"]
            self._next_id += 1
            self._remember(record)
            self._messages.append(record)
            self._append(record)
            return record

    def query(self, since: float | None = None, kind: str | None = None, channel: str | None = None,
              alertname: str | None = None, status: str | None = None, dedup_key: str | None = None) -> list[dict]:
        with self._lock:
            items = list(self._messages)
        return [m for m in items
                if (since is None or m["received_at"] >= since)
                and (not kind or m["kind"] == kind)
                and (not channel or m["channel"] == channel)
                and (not alertname or alertname in m["alertnames"])
                and (not status or m["status"] == status)
                and (not dedup_key or m.get("dedup_key") == dedup_key)]

    def clear(self) -> int:
        with self._lock:
            count = len(self._messages)
            self._messages = []
            self._append({"cleared_at": time.time()})
            return count

    def __len__(self) -> int:
        return len(self._messages)
