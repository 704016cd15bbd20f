"""The timeline of a drill: timestamped events, the pass/fail steps, and the measurements derived from them.

Times are Unix seconds (UTC); the JSON form adds ISO 8601 strings and offsets from the fault injection.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

# Event names, in the order a drill records them.
FAULT_INJECTED = "fault_injected"
ALERT_PENDING = "alert_pending"
ALERT_FIRING = "alert_firing"
NOTIFICATION = "notification"
MITIGATION = "mitigation_executed"
ALERT_RESOLVED = "alert_resolved"
RESOLVED_NOTIFICATION = "resolved_notification"
EVENT_NAMES = (FAULT_INJECTED, ALERT_PENDING, ALERT_FIRING, NOTIFICATION, MITIGATION, ALERT_RESOLVED,
               RESOLVED_NOTIFICATION)

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


def iso(ts: float | None) -> str | None:
    """Unix seconds -> '2026-01-02T03:04:05.678Z' (None stays None)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Event:
    """Something that happened at `at` (Unix seconds); `detail` holds the alert, channel, payload, command..."""
    name: str
    at: float
    detail: dict = field(default_factory=dict)


@dataclass
class Step:
    """An expected step of the drill: passed within its deadline, failed (missed or wrong), or skipped."""
    name: str
    status: str
    deadline_s: float | None = None
    elapsed_s: float | None = None
    message: str = ""

    def __post_init__(self):
        if self.status not in (PASSED, FAILED, SKIPPED):
            raise ValueError(f"step {self.name!r}: status {self.status!r} must be passed, failed or skipped")


@dataclass
class Timeline:
    """Everything a drill observed; `measurements()` derives MTTD, time to notify and MTTR from it."""
    incident_id: str
    scenario: str
    started_at: float
    events: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    finished_at: float | None = None

    @classmethod
    def new(cls, scenario: str, now: float | None = None, **meta) -> "Timeline":
        """A fresh timeline with incident id DRILL-<UTC yyyymmdd-HHMMSS>-<scenario>."""
        now = time.time() if now is None else now
        stamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y%m%d-%H%M%S")
        return cls(incident_id=f"DRILL-{stamp}-{scenario}", scenario=scenario, started_at=now, meta=dict(meta))

    # --- recording ---------------------------------------------------------------------------------------------
    def add(self, name: str, at: float | None = None, **detail) -> Event:
        """Record an event (now unless `at` is given); events stay in time order."""
        ev = Event(name, time.time() if at is None else float(at), detail)
        self.events.append(ev)
        self.events.sort(key=lambda e: e.at)
        return ev

    def step(self, name: str, status: str, deadline_s: float | None = None, elapsed_s: float | None = None,
             message: str = "") -> Step:
        """Record the outcome of an expected step."""
        st = Step(name, status, deadline_s, elapsed_s, message)
        self.steps.append(st)
        return st

    # --- queries -----------------------------------------------------------------------------------------------
    def first(self, name: str, **match) -> Event | None:
        """The earliest event called `name` whose detail contains every key=value of `match`."""
        for ev in self.events:
            if ev.name == name and all(ev.detail.get(k) == v for k, v in match.items()):
                return ev
        return None

    def named(self, name: str) -> list:
        """Every event called `name`, in time order."""
        return [ev for ev in self.events if ev.name == name]

    def between(self, start: str, end: str, **end_match) -> float | None:
        """Seconds from the first `start` event to the first `end` event (None if either is missing)."""
        a, b = self.first(start), self.first(end, **end_match)
        if a is None or b is None:
            return None
        return b.at - a.at

    @property
    def passed(self) -> bool:
        return bool(self.steps) and not any(s.status == FAILED for s in self.steps)

    def failed_steps(self) -> list:
        return [s for s in self.steps if s.status == FAILED]

    def first_human_notification(self) -> Event | None:
        """The first notification a person sees (not the machine-readable events webhook), else the first one."""
        notes = self.named(NOTIFICATION)
        return next((e for e in notes if e.detail.get("kind") != "webhook"), notes[0] if notes else None)

    def _time_to_notify(self) -> float | None:
        start, note = self.first(FAULT_INJECTED), self.first_human_notification()
        return note.at - start.at if start and note else None

    def measurements(self) -> dict:
        """Seconds, None where not reached (definitions of docs/process/post-incident-review-template.md):
        MTTD = injection -> alert firing; time to notify = injection -> first notification to a person (not the
        events webhook);
        MTTR (time to restore) = injection -> mitigation; time to resolve = injection -> alert resolved;
        mitigation -> alert resolved, and mitigation -> first resolved notification."""
        return {
            "mttd_s": self.between(FAULT_INJECTED, ALERT_FIRING),
            "time_to_notify_s": self._time_to_notify(),
            "mttr_s": self.between(FAULT_INJECTED, MITIGATION),
            "time_to_resolve_s": self.between(FAULT_INJECTED, ALERT_RESOLVED),
            "mitigation_to_resolved_s": self.between(MITIGATION, ALERT_RESOLVED),
            "mitigation_to_resolved_notification_s": self.between(MITIGATION, RESOLVED_NOTIFICATION),
        }

    # --- serialisation -----------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        origin = self.first(FAULT_INJECTED)
        t0 = origin.at if origin else self.started_at
        events = [{"name": e.name, "at": e.at, "time": iso(e.at), "offset_s": round(e.at - t0, 3),
                   "detail": e.detail} for e in self.events]
        return {"incident_id": self.incident_id, "scenario": self.scenario, "started_at": self.started_at,
                "started": iso(self.started_at), "finished_at": self.finished_at, "finished": iso(self.finished_at),
                "passed": self.passed, "events": events, "steps": [asdict(s) for s in self.steps],
                "measurements": self.measurements(), "meta": self.meta}

    def to_json(self) -> str:
        return json.dumps(_jsonable(self.to_dict()), indent=2, sort_keys=False, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict) -> "Timeline":
        try:
            tl = cls(incident_id=data["incident_id"], scenario=data["scenario"], started_at=float(data["started_at"]),
                     meta=dict(data.get("meta") or {}), finished_at=data.get("finished_at"))
            tl.events = [Event(e["name"], float(e["at"]), dict(e.get("detail") or {})) for e in data.get("events", [])]
            tl.steps = [Step(s["name"], s["status"], s.get("deadline_s"), s.get("elapsed_s"), s.get("message", ""))
                        for s in data.get("steps", [])]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a drill timeline: missing or malformed {exc}") from None
        return tl

    @classmethod
    def from_json(cls, text: str) -> "Timeline":
        return cls.from_dict(json.loads(text))

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json() + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> "Timeline":
        return cls.from_json(Path(path).read_text())


def _jsonable(value: Any) -> Any:
    """Replace inf/nan by None so that the JSON is strict."""
    if isinstance(value, float) and (math.isinf(value) or math.isnan(value)):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
