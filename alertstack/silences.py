"""Alertmanager silences through API v2: add, list, expire, scheduled maintenance, and the inventory diff.

Every input is validated before any HTTP call, and a bad one raises SilenceError naming what is wrong.
Credentials are arguments (`auth=(user, password)`); the invoke tasks read them from the environment
(ALERTMANAGER_USER / ALERTMANAGER_PASSWORD) or the local vault, never from the command line.
"""
from __future__ import annotations

import builtins
import re
from datetime import datetime, timedelta, timezone
from typing import Iterable, Mapping, Sequence

import requests

from alertstack import api
from alertstack.vocabulary import duration_seconds

# Silences created by the Ansible `silences` role carry this createdBy, so the role only expires its own.
ANSIBLE_CREATED_BY = "ansible:ai-alerting"
MAINTENANCE_COMMENT = "scheduled maintenance"
MAX_DURATION = timedelta(days=30)
MIN_DURATION = timedelta(minutes=1)

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_MATCHER = re.compile(r"^\s*([^=!~\s]+)\s*(=~|!~|!=|=)\s*(.*?)\s*$")
_SILENCE_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class SilenceError(ValueError):
    """Bad input for a silence, or an Alertmanager answer that is not a success."""


def parse_matcher(text: str) -> dict:
    """`name=value`, `name!=value`, `name=~regex`, `name!~regex` -> an API v2 matcher object.

    The value may be double-quoted. A regex must compile (Alertmanager anchors it at both ends).
    """
    if not isinstance(text, str) or not text.strip():
        raise SilenceError(f"matcher {text!r} is empty; expected name=value, name!=value, name=~regex or name!~regex")
    m = _MATCHER.match(text)
    if not m:
        raise SilenceError(f"matcher {text!r} has no operator; expected name=value, name!=value, "
                           f"name=~regex or name!~regex")
    name, op, value = m.groups()
    if not _LABEL_NAME.match(name):
        raise SilenceError(f"matcher {text!r}: label name {name!r} is invalid (letters, digits, _; not starting "
                           f"with a digit)")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    is_regex = op in ("=~", "!~")
    if is_regex:
        try:
            re.compile(value)
        except re.error as exc:
            raise SilenceError(f"matcher {text!r}: regex {value!r} does not compile: {exc}") from None
    elif value == "" and op == "=":
        # Allowed by Alertmanager (matches alerts without the label), but never alone: checked in validate_matchers.
        pass
    return {"name": name, "value": value, "isRegex": is_regex, "isEqual": op in ("=", "=~")}


def _matches_empty(matcher: Mapping) -> bool:
    value = matcher["value"]
    if matcher["isRegex"]:
        hit = re.fullmatch(value, "") is not None
    else:
        hit = value == ""
    return hit if matcher["isEqual"] else not hit


def validate_matchers(matchers: Sequence[str] | str) -> list:
    """Parse every matcher; refuse none at all, duplicates, and sets that would silence every alert."""
    if isinstance(matchers, str):
        matchers = [matchers]
    if not matchers:
        raise SilenceError("at least one matcher is required (e.g. alertname=InferenceErrorRateCritical)")
    parsed = [parse_matcher(m) for m in matchers]
    seen = set()
    for m in parsed:
        key = (m["name"], m["value"], m["isRegex"], m["isEqual"])
        if key in seen:
            raise SilenceError(f"matcher on {m['name']!r} is given twice")
        seen.add(key)
    if all(_matches_empty(m) for m in parsed):
        raise SilenceError("these matchers would silence every alert (each one matches an empty label); "
                           "add one that names a label value, e.g. service=feature-store")
    return parsed


def parse_duration(text: str) -> timedelta:
    """`30m`, `2h`, `1d`, `1h30m`, `1w` -> timedelta, between MIN_DURATION and MAX_DURATION."""
    if not isinstance(text, str) or not text.strip():
        raise SilenceError("duration is required, e.g. 30m, 2h or 1d")
    try:
        d = timedelta(seconds=duration_seconds(text))
    except ValueError:
        raise SilenceError(f"duration {text!r} is not valid; use a number and a unit (s, m, h, d, w), "
                           "e.g. 30m or 2h") from None
    if d < MIN_DURATION:
        raise SilenceError(f"duration {text!r} is shorter than the minimum of {MIN_DURATION}")
    if d > MAX_DURATION:
        raise SilenceError(f"duration {text!r} is longer than the maximum of {MAX_DURATION.days} days; "
                           f"a longer silence hides real incidents, fix or remove the alert instead")
    return d


def _required_text(value, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SilenceError(f"{what} is required and must not be empty")
    return value.strip()


def _base(url: str) -> str:
    if not isinstance(url, str) or not re.match(r"^https?://", url):
        raise SilenceError(f"Alertmanager URL {url!r} must start with http:// or https://")
    return url.rstrip("/")


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _request(method: str, url: str, auth, **kwargs) -> requests.Response:
    try:
        return api.call(method, url, auth, "Alertmanager", **kwargs)
    except api.ApiError as exc:
        raise SilenceError(str(exc)) from None


def build_silence(matchers: Sequence[str] | str, duration: str, comment: str, author: str,
                  starts_at: datetime | None = None) -> dict:
    """Validate the inputs and return the API v2 silence body (no HTTP)."""
    parsed = validate_matchers(matchers)
    length = parse_duration(duration)
    comment = _required_text(comment, "comment")
    author = _required_text(author, "author")
    start = starts_at or datetime.now(timezone.utc)
    return {"matchers": parsed, "startsAt": _iso(start), "endsAt": _iso(start + length),
            "createdBy": author, "comment": comment}


def add(alertmanager_url: str, matchers: Sequence[str] | str, duration: str, comment: str, author: str,
        auth: tuple[str, str] | None = None, starts_at: datetime | None = None) -> str:
    """Create a silence; every argument is required and checked before the HTTP call. Returns the silence id."""
    body = build_silence(matchers, duration, comment, author, starts_at)
    base = _base(alertmanager_url)
    resp = _request("POST", f"{base}/api/v2/silences", auth, json=body)
    return resp.json()["silenceID"]


def list_silences(alertmanager_url: str, auth: tuple[str, str] | None = None,
                  state: str | None = "active") -> list:
    """Silences known to Alertmanager; `state` filters (active, pending, expired; None = all), newest first."""
    if state not in (None, "active", "pending", "expired"):
        raise SilenceError(f"state {state!r} must be one of active, pending, expired (or None for all)")
    base = _base(alertmanager_url)
    items = _request("GET", f"{base}/api/v2/silences", auth).json()
    if state:
        items = [s for s in items if s.get("status", {}).get("state") == state]
    return sorted(items, key=lambda s: s.get("startsAt", ""), reverse=True)


def expire(alertmanager_url: str, silence_id: str, auth: tuple[str, str] | None = None) -> None:
    """Expire (end now) the silence with this id."""
    if not isinstance(silence_id, str) or not _SILENCE_ID.match(silence_id.strip()):
        raise SilenceError(f"silence id {silence_id!r} is not a silence id (a UUID as printed by `silence list`)")
    base = _base(alertmanager_url)
    _request("DELETE", f"{base}/api/v2/silence/{silence_id.strip()}", auth)


def maintenance(alertmanager_url: str, service: str, duration: str, author: str,
                auth: tuple[str, str] | None = None, starts_at: datetime | None = None) -> str:
    """Scheduled maintenance: silence every alert with label service=<service> for `duration`."""
    service = _required_text(service, "service")
    if any(c in service for c in "=~!,\" "):
        raise SilenceError(f"service {service!r} must be a plain label value (e.g. feature-store)")
    return add(alertmanager_url, [f"service={service}"], duration, MAINTENANCE_COMMENT, author, auth, starts_at)


def credentials(env: str = "local") -> tuple[str, str] | None:
    """API credentials for the CLI: ALERTMANAGER_USER / ALERTMANAGER_PASSWORD from the process environment, else
    the environment's API account as alertstack.endpoints finds it (STACK_API_USER / STACK_API_PASSWORD, or the
    local environment's throwaway secrets). Never from command-line arguments."""
    import os
    user, password = os.environ.get("ALERTMANAGER_USER"), os.environ.get("ALERTMANAGER_PASSWORD")
    if user and password:
        return user, password
    from alertstack import endpoints
    return endpoints.for_env(env).auth


def format_silence(s: Mapping) -> str:
    """One line for `invoke silence list`."""
    ops = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}
    ms = ",".join(f"{m['name']}{ops[(bool(m.get('isRegex')), bool(m.get('isEqual', True)))]}{m['value']}"
                  for m in s.get("matchers", []))
    return (f"{s.get('id')}  {s.get('status', {}).get('state', '?'):7}  until {s.get('endsAt')}  {ms}  "
            f"by {s.get('createdBy')}: {s.get('comment')}")


# --- inventory-declared silences (the Ansible `silences` role) ------------------------------------------------

def _matcher_key(matchers: Iterable[Mapping]) -> tuple:
    return tuple(sorted((m["name"], m["value"], bool(m.get("isRegex")), bool(m.get("isEqual", True)))
                        for m in matchers))


def _declared_key(d: Mapping) -> tuple:
    return _matcher_key(validate_matchers(d["matchers"])), d["comment"].strip()


def validate_declared(declared: Sequence[Mapping]) -> None:
    """Check the inventory's alertmanager_silences; SilenceError names the entry and what is wrong."""
    if not isinstance(declared, (builtins.list, tuple)):
        raise SilenceError("alertmanager_silences must be a list of {matchers, duration, comment}")
    keys = set()
    for i, d in enumerate(declared):
        where = f"alertmanager_silences[{i}]"
        if not isinstance(d, Mapping):
            raise SilenceError(f"{where} must be a mapping with matchers, duration and comment")
        unknown = set(d) - {"matchers", "duration", "comment"}
        if unknown:
            raise SilenceError(f"{where} has unknown keys {sorted(unknown)}; allowed: matchers, duration, comment")
        for key in ("matchers", "duration", "comment"):
            if key not in d:
                raise SilenceError(f"{where} is missing {key!r}")
        try:
            validate_matchers(d["matchers"])
            parse_duration(d["duration"])
            _required_text(d["comment"], "comment")
        except SilenceError as exc:
            raise SilenceError(f"{where}: {exc}") from None
        key = _declared_key(d)
        if key in keys:
            raise SilenceError(f"{where} declares the same matchers and comment as an earlier entry")
        keys.add(key)


def desired_silences_diff(existing: Sequence[Mapping], declared: Sequence[Mapping],
                          created_by: str = ANSIBLE_CREATED_BY, now: datetime | None = None) -> dict:
    """Compare Alertmanager's silences with the inventory's `alertmanager_silences`.

    A declared silence is {matchers: [..], duration: "2h", comment: "..."}; it is satisfied by an active or
    pending silence created by `created_by` with the same matchers and comment (its end time is not compared,
    so a re-run changes nothing). Returns {"create": [API bodies], "keep": [ids], "expire": [ids]}: expire lists
    only silences that `created_by` made and the inventory no longer declares, never a human's silence.
    """
    validate_declared(declared)
    now = now or datetime.now(timezone.utc)
    live = [s for s in existing
            if s.get("createdBy") == created_by and s.get("status", {}).get("state") in ("active", "pending")]
    by_key: dict = {}
    for s in live:
        by_key.setdefault((_matcher_key(s.get("matchers", [])), (s.get("comment") or "").strip()), []).append(s)
    create, keep, used = [], [], set()
    for d in declared:
        key = _declared_key(d)
        if key in by_key:
            first, *dupes = by_key[key]
            keep.append(first["id"])
            used.add(first["id"])
        else:
            body = build_silence(d["matchers"], d["duration"], d["comment"], created_by, starts_at=now)
            create.append(body)
    expire_ids = [s["id"] for s in live if s["id"] not in used]
    return {"create": create, "keep": keep, "expire": expire_ids}


# `silences.list(...)` reads naturally at call sites; defined last so nothing above shadows the builtin.
list = list_silences  # noqa: A001
