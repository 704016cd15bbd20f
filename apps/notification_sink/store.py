"""Messages in memory, and appended to a JSON-lines file so that a restart keeps them.

Each line is a message, or {"cleared_at": ts} for a DELETE: replaying the file on start-up honours clears.
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
                self._messages.append(record)
                self._next_id = max(self._next_id, int(record.get("id", 0)) + 1)

    def _append(self, record: dict) -> None:
        if self.path:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, default=str) + "\n")

    def add(self, kind: str, channel: str, summary: dict, payload) -> dict:
        now = time.time()
        with self._lock:
            record = {"id": self._next_id, "received_at": now,
                      "received_at_iso": datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="milliseconds")
                      .replace("+00:00", "Z"),
                      "kind": kind, "channel": channel, "alertnames": summary.get("alertnames", []),
                      "status": summary.get("status"), "labels": summary.get("labels", {}),
                      "alerts": summary.get("alerts", []), "format": summary.get("format"),
                      "payload": payload}
            if summary.get("dedup_key"):
                record["dedup_key"] = summary["dedup_key"]
            self._next_id += 1
            self._messages.append(record)
            self._append(record)
            return record

    def query(self, since: float | None = None, kind: str | None = None, channel: str | None = None,
              alertname: str | None = None, status: str | None = None) -> list[dict]:
        with self._lock:
            items = list(self._messages)
        return [m for m in items
                if (since is None or m["received_at"] >= since)
                and (not kind or m["kind"] == kind)
                and (not channel or m["channel"] == channel)
                and (not alertname or alertname in m["alertnames"])
                and (not status or m["status"] == status)]

    def clear(self) -> int:
        with self._lock:
            count = len(self._messages)
            self._messages = []
            self._append({"cleared_at": time.time()})
            return count

    def __len__(self) -> int:
        return len(self._messages)
