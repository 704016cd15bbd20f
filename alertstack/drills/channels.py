"""Where Alertmanager will deliver an alert: walk the routing tree of a (deployed) config like Alertmanager does.

Returns notification-sink channels (kind, channel): Slack -> ("slack", channel without '#'), PagerDuty ->
("pagerduty", "events-v2"), e-mail -> ("email", address), webhook -> ("webhook", None) (any webhook channel: the
URL lives in a secret file). Routes whose active/mute time intervals change the answer during the drill make
their channels optional (allowed, not required). Inhibitions are not evaluated.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$')
_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def parse_route_matcher(text: str) -> tuple:
    """'severity="critical"' -> ('severity', '=', 'critical')."""
    m = _MATCHER.match(text)
    if not m:
        raise ValueError(f"route matcher {text!r} is not name<op>value")
    name, op, value = m.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"')
    return name, op, value


def _matches(route: dict, labels: dict) -> bool:
    matchers = [parse_route_matcher(m) for m in route.get("matchers") or []]
    matchers += [(k, "=", v) for k, v in (route.get("match") or {}).items()]
    matchers += [(k, "=~", v) for k, v in (route.get("match_re") or {}).items()]
    for name, op, value in matchers:
        actual = str(labels.get(name, ""))
        if op in ("=", "!="):
            hit = actual == value
        else:
            hit = re.fullmatch(value, actual) is not None
        if hit != (op in ("=", "=~")):
            return False
    return True


def _in_range(value: int, spec: str, names: list | None = None) -> bool:
    def num(x: str) -> int:
        x = x.strip().lower()
        return names.index(x) if names and x in names else int(x)
    lo, _, hi = spec.partition(":")
    return num(lo) <= value <= num(hi or lo)


def interval_active(interval: dict, at: datetime) -> bool | None:
    """Is one time_intervals entry active at `at`? None when it uses fields this walker does not evaluate."""
    if set(interval) - {"weekdays", "times", "location"}:
        return None
    local = at.astimezone(ZoneInfo(interval["location"])) if interval.get("location") else at.astimezone(timezone.utc)
    if interval.get("weekdays") and not any(_in_range(local.weekday(), w, _DAYS) for w in interval["weekdays"]):
        return False
    if interval.get("times"):
        minute = local.hour * 60 + local.minute
        ok = False
        for t in interval["times"]:
            sh, sm = (int(x) for x in t["start_time"].split(":"))
            eh, em = (int(x) for x in t["end_time"].split(":"))
            ok = ok or sh * 60 + sm <= minute < eh * 60 + em
        if not ok:
            return False
    return True


def named_intervals_active(config: dict, names: list, at: datetime) -> bool | None:
    """True if any named interval is active at `at`; None when one cannot be evaluated."""
    table = {t["name"]: t.get("time_intervals") or [] for t in
             (config.get("time_intervals") or []) + (config.get("mute_time_intervals") or [])}
    result = False
    for name in names:
        for interval in table.get(name, []):
            state = interval_active(interval, at)
            if state is None:
                return None
            result = result or state
    return result


@dataclass
class Delivery:
    """A matched route: its receiver, its effective group_wait, and whether its time intervals let it notify."""
    receiver: str
    group_wait: str
    state: str  # "notify", "muted", "unknown"


def match_routes(config: dict, labels: dict, at: datetime) -> list:
    """The routes an alert with `labels` ends up in (Alertmanager semantics: depth first, `continue`)."""
    root = config.get("route") or {}

    def walk(route: dict, inherited: dict) -> list:
        eff = {k: route.get(k, inherited.get(k)) for k in ("receiver", "group_wait", "active_time_intervals",
                                                           "mute_time_intervals")}
        eff["active_time_intervals"] = route.get("active_time_intervals") or []
        eff["mute_time_intervals"] = route.get("mute_time_intervals") or []
        found = []
        for child in route.get("routes") or []:
            if not _matches(child, labels):
                continue
            found += walk(child, eff)
            if not child.get("continue", False):
                break
        if found:
            return found
        state = "notify"
        if eff["active_time_intervals"]:
            active = named_intervals_active(config, eff["active_time_intervals"], at)
            state = "unknown" if active is None else ("notify" if active else "muted")
        if state == "notify" and eff["mute_time_intervals"]:
            muted = named_intervals_active(config, eff["mute_time_intervals"], at)
            state = "unknown" if muted is None else ("muted" if muted else "notify")
        return [Delivery(eff["receiver"], eff.get("group_wait") or "30s", state)]

    return walk(root, {"group_wait": root.get("group_wait", "30s")})


_SEND_RESOLVED_DEFAULT = {"slack": False, "pagerduty": True, "email": False, "webhook": True}


def receiver_channels(receiver: dict, with_resolved: bool = False) -> list:
    """Sink channels of a receiver's integrations; with_resolved: (channel, send_resolved) pairs."""
    out = []

    def add(kind, channel, cfg):
        resolved = bool(cfg.get("send_resolved", _SEND_RESOLVED_DEFAULT[kind]))
        out.append(((kind, channel), resolved) if with_resolved else (kind, channel))
    for c in receiver.get("slack_configs") or []:
        add("slack", str(c.get("channel", "")).lstrip("#") or None, c)
    for c in receiver.get("pagerduty_configs") or []:
        add("pagerduty", "events-v2", c)
    for c in receiver.get("email_configs") or []:
        for addr in str(c.get("to", "")).split(","):
            if addr.strip():
                add("email", addr.strip(), c)
    for c in receiver.get("webhook_configs") or []:
        add("webhook", None, c)
    return out


@dataclass
class Expectation:
    """Channels that must receive the alert, those of them that also send the resolved notification, channels
    that may (a time interval changes during the drill), and the smallest group_wait of the routes that notify
    humans (for the MTTD bound)."""
    required: list = field(default_factory=list)
    resolved: list = field(default_factory=list)
    optional: list = field(default_factory=list)
    group_wait: str | None = None
    receivers: list = field(default_factory=list)


def expected_channels(config: dict, labels: dict, start: datetime, end: datetime | None = None) -> Expectation:
    """Where an alert with `labels` is delivered between `start` and `end` (default: at `start`)."""
    receivers = {r["name"]: r for r in config.get("receivers") or []}
    exp = Expectation()
    at_start = match_routes(config, labels, start)
    at_end = match_routes(config, labels, end or start)
    waits = []
    for d0, d1 in zip(at_start, at_end):
        pairs = receiver_channels(receivers.get(d0.receiver, {}), with_resolved=True)
        chans = [c for c, _ in pairs]
        exp.receivers.append(d0.receiver)
        if d0.state == "notify" and d1.state == "notify":
            exp.required += [c for c in chans if c not in exp.required]
            exp.resolved += [c for c, r in pairs if r and c not in exp.resolved]
            if any(k != "webhook" for k, _ in chans):
                waits.append(d0.group_wait)
        elif d0.state != "muted" or d1.state != "muted":
            exp.optional += [c for c in chans if c not in exp.optional]
    exp.optional = [c for c in exp.optional if c not in exp.required]
    if waits:
        from alertstack.vocabulary import duration_seconds
        exp.group_wait = min(waits, key=duration_seconds)
    return exp


def channel_matches(expected: tuple, actual: tuple) -> bool:
    """("webhook", None) stands for any webhook channel."""
    return expected[0] == actual[0] and (expected[1] is None or expected[1] == actual[1])
