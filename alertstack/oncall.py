"""On-call health from what was delivered: the notification history as the notification sink recorded it, and the
incidents the drills wrote (incidents/<id>/timeline.json).

Definitions (docs/alerting-policy.md, "On-call health"):

- a *notification* is a firing message on a human receiver: every sink kind except `webhook` (the incident-tooling
  event stream and the heartbeat); its *receiver* is `<kind> <channel>` (e.g. `pagerduty events-v2`,
  `slack ai-infra-incidents`, `email oncall@...`, `opsgenie team:data`);
- a *page* is a notification about an alert of a page severity (critical or high, as the backtest counts pages).
  One alert reaches several receivers within seconds (PagerDuty and Slack): the notifications about the same alert
  within PAGE_MERGE_S of the first are one page. A repeat after Alertmanager's repeat_interval is a new page;
- *out of hours*: outside the policy's business_hours time interval (Alertmanager's own definition, read from the
  rendered alertmanager.yml);
- severity and team come from the message's labels, else from the alert's rule (alertstack.catalog);
- MTTD = fault to firing alert, MTTR = fault to mitigation, as each incident's timeline measured them.
"""
from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from alertstack.cli import UsageError

PAGE_SEVERITIES = ("critical", "high")
PAGE_MERGE_S = 300.0
NOT_HUMAN = ("webhook",)
WEEK_S = 7 * 86400


class OncallError(UsageError):
    """A bad argument, or history or incidents that cannot be read (one `error:` line on the command line)."""


def parse_weeks(value) -> int:
    try:
        weeks = int(str(value).strip())
    except ValueError:
        raise OncallError(f"--weeks {value!r} is not a whole number of weeks") from None
    if not 1 <= weeks <= 52:
        raise OncallError(f"--weeks {weeks} must be between 1 and 52")
    return weeks


@dataclass
class Notification:
    at: float
    kind: str
    channel: str
    alertname: str
    severity: str
    team: str

    @property
    def receiver(self) -> str:
        return f"{self.kind} {self.channel}"


@dataclass
class Page:
    at: float
    alertname: str
    severity: str
    team: str
    receivers: list[str]
    out_of_hours: bool


@dataclass
class Incident:
    id: str
    scenario: str
    started_at: float
    passed: bool
    alertname: str | None
    mttd_s: float | None
    time_to_notify_s: float | None
    mttr_s: float | None
    time_to_resolve_s: float | None


@dataclass
class Health:
    start: float
    end: float
    notifications: list[Notification]
    pages: list[Page]
    incidents: list[Incident]
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def weeks(self) -> list[float]:
        """Start of each week of the report (the last one ends at `end`)."""
        count = max(1, round((self.end - self.start) / WEEK_S))
        return [self.start + i * WEEK_S for i in range(count)]

    def week_of(self, t: float) -> int:
        return min(int((t - self.start) // WEEK_S), len(self.weeks) - 1)

    def pages_per_week(self, key: str) -> dict[str, list[int]]:
        """{team or receiver: [pages in week 0, week 1, ...]}; by receiver, a page counts once per receiver."""
        table: dict[str, list[int]] = defaultdict(lambda: [0] * len(self.weeks))
        for page in self.pages:
            for name in (page.receivers if key == "receiver" else [page.team]):
                table[name][self.week_of(page.at)] += 1
        return dict(sorted(table.items()))

    def noisiest(self, top: int = 10) -> list[dict]:
        """Alerts by notifications received, most first: notifications, pages, out-of-hours pages, receivers."""
        counts = Counter(n.alertname for n in self.notifications)
        out = []
        for name, count in counts.most_common():
            pages = [p for p in self.pages if p.alertname == name]
            out.append({"alertname": name, "notifications": count, "pages": len(pages),
                        "out_of_hours": sum(p.out_of_hours for p in pages),
                        "severity": next((n.severity for n in self.notifications if n.alertname == name), "?"),
                        "receivers": len({n.receiver for n in self.notifications if n.alertname == name})})
        return out[:top]

    def out_of_hours(self) -> list[Page]:
        return [p for p in self.pages if p.out_of_hours]

    def trend(self, measure: str) -> dict:
        """{first, last, median, change}: the mean of the first and the last half of the incidents (in time order)
        that measured `measure`; change = last - first (negative: faster)."""
        values = [getattr(i, measure) for i in self.incidents if getattr(i, measure) is not None]
        if not values:
            return {"count": 0, "first": None, "last": None, "median": None, "change": None}
        half = max(len(values) // 2, 1)
        first, last = statistics.fmean(values[:half]), statistics.fmean(values[-half:])
        return {"count": len(values), "first": first, "last": last, "median": statistics.median(values),
                "change": last - first}


# --- reading -------------------------------------------------------------------------------------------------------

def read_history(path: str | Path) -> list[dict]:
    """Every message of a sink's messages.jsonl (clears do not remove history: the report wants all of it)."""
    path = Path(path)
    if not path.is_file():
        raise OncallError(f"notification history {path} does not exist (the sink's SINK_DATA_DIR/messages.jsonl)")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a torn last line, as the sink itself skips it
        if isinstance(record, dict) and "received_at" in record:
            records.append(record)
    return records


def read_incidents(directory: str | Path) -> list[Incident]:
    """The incidents under `directory` (each <id>/timeline.json), oldest first."""
    out = []
    for timeline in sorted(Path(directory).glob("*/timeline.json")):
        try:
            data = json.loads(timeline.read_text())
        except ValueError as exc:
            raise OncallError(f"{timeline} is not JSON: {exc}") from None
        m = data.get("measurements") or {}
        out.append(Incident(id=data.get("incident_id", timeline.parent.name), scenario=data.get("scenario", "?"),
                            started_at=float(data.get("started_at") or 0), passed=bool(data.get("passed")),
                            alertname=(data.get("meta") or {}).get("alertname"), mttd_s=m.get("mttd_s"),
                            time_to_notify_s=m.get("time_to_notify_s"), mttr_s=m.get("mttr_s"),
                            time_to_resolve_s=m.get("time_to_resolve_s")))
    return sorted(out, key=lambda i: i.started_at)


def _rule_labels() -> dict[str, dict]:
    from alertstack.catalog import alert_rules
    return {r["alert"]: r.get("labels") or {} for r in alert_rules()}


def notifications(messages: Iterable[dict], rule_labels: dict[str, dict] | None = None) -> tuple[list, Counter]:
    """Firing human notifications (one per alert name a message is about), and what was skipped, by reason."""
    rule_labels = _rule_labels() if rule_labels is None else rule_labels
    out, skipped = [], Counter()
    for m in messages:
        if m.get("kind") in NOT_HUMAN:
            skipped["event stream / heartbeat webhooks"] += 1
            continue
        if m.get("status") != "firing":
            skipped["resolved or other status"] += 1
            continue
        names = m.get("alertnames") or []
        if not names:
            skipped["no alert name"] += 1
            continue
        for name in names:
            labels = {**rule_labels.get(name, {}), **{k: v for k, v in (m.get("labels") or {}).items() if v}}
            out.append(Notification(at=float(m["received_at"]), kind=m["kind"], channel=str(m.get("channel")),
                                    alertname=name, severity=labels.get("severity", "unknown"),
                                    team=labels.get("team", "unknown")))
    return sorted(out, key=lambda n: n.at), skipped


def pages(items: list[Notification], business_hours) -> list[Page]:
    """Page-severity notifications merged per alert within PAGE_MERGE_S; business_hours(datetime) -> bool."""
    out: list[Page] = []
    open_page: dict[str, Page] = {}
    for n in items:
        if n.severity not in PAGE_SEVERITIES:
            continue
        page = open_page.get(n.alertname)
        if page and n.at - page.at <= PAGE_MERGE_S:
            if n.receiver not in page.receivers:
                page.receivers.append(n.receiver)
            continue
        page = Page(at=n.at, alertname=n.alertname, severity=n.severity, team=n.team, receivers=[n.receiver],
                    out_of_hours=not business_hours(datetime.fromtimestamp(n.at, timezone.utc)))
        open_page[n.alertname] = page
        out.append(page)
    return out


def business_hours_of(config: dict, name: str = "business_hours"):
    """A predicate datetime -> bool from the alertmanager.yml time interval `name`."""
    from alertstack.drills.channels import named_intervals_active
    if not any(t.get("name") == name for t in config.get("time_intervals") or []):
        raise OncallError(f"the Alertmanager configuration has no time interval {name!r}")
    return lambda at: bool(named_intervals_active(config, [name], at))


def health(messages: list[dict], incidents: list[Incident], config: dict, weeks: int = 4,
           now: float | None = None, rule_labels: dict[str, dict] | None = None) -> Health:
    """The on-call health of the `weeks` weeks that end at `now`."""
    weeks = parse_weeks(weeks)
    end = time_now() if now is None else now
    start = end - weeks * WEEK_S
    inside = [m for m in messages if start <= float(m.get("received_at", 0)) < end]
    items, skipped = notifications(inside, rule_labels)
    return Health(start=start, end=end, notifications=items, pages=pages(items, business_hours_of(config)),
                  incidents=[i for i in incidents if start <= i.started_at < end], skipped=dict(skipped))


def time_now() -> float:
    return datetime.now(timezone.utc).timestamp()


def week_label(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d")
