"""A silence around a deploy: the services a deploy restarts are muted while the play runs, never critical alerts.

`invoke deploy --env E --silence` opens, before the play, one Alertmanager silence with the matchers
`service=~"<the services the deploy touches>"` and `severity!="critical"`, created by the deploy's author, with the
environment, the git revision and the services in its comment. The silence is a lease: it ends `margin` after it
is opened and is extended by `margin` every `margin / 3` while the play runs, so it lasts the deploy's length plus
at most the margin even if the controller dies; when the play ends (success, failure, exception or Ctrl-C) it is
expired at once.

Bad input (no services, a margin that is not a duration, an author or revision missing) raises SilenceError before
anything is contacted. An Alertmanager that cannot be reached (a first deploy) does not stop the deploy: it runs
without a silence, and says so.
"""
from __future__ import annotations

import getpass
import re
import subprocess
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator, Sequence

from alertstack import api
from alertstack.paths import REPO_ROOT
from alertstack.progress import say as _say
from alertstack.silences import SilenceError, validate_matchers

# The matcher that keeps critical alerts out of every deploy silence.
NOT_CRITICAL = 'severity!="critical"'
DEFAULT_MARGIN = timedelta(minutes=10)
MAX_MARGIN = timedelta(hours=2)
# Alert `service` labels of what a deploy converges (alertstack/rules_data, generated SLO rules): the monitoring
# stack on every deploy, the GPU exporters where the inventory has GPU hosts, the demo platform (and its simulated
# GPU) where it is deployed.
MONITORING_SERVICES = ("monitoring",)
GPU_SERVICES = ("gpu",)
DEMO_SERVICES = ("inference-gateway", "feature-store", "drift-monitor")
_SERVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def touched_services(inventory: dict) -> list[str]:
    """The alert services a deploy of this inventory (ansible-inventory --list) restarts or reconfigures."""
    hostvars = inventory.get("_meta", {}).get("hostvars", {})
    services = list(MONITORING_SERVICES)
    demo = any(hv.get("demo_platform_enabled") for hv in hostvars.values())
    if inventory.get("gpu", {}).get("hosts") or demo:  # the demo gateway exports a simulated GPU's DCGM series
        services += GPU_SERVICES
    if demo:
        services += DEMO_SERVICES
    return services


def matchers(services: Sequence[str]) -> list[str]:
    """Matchers of the deploy silence: the services, and never a critical alert."""
    services = [s.strip() for s in services if s and s.strip()]
    if not services:
        raise SilenceError("a deploy silence needs at least one service to silence")
    bad = [s for s in services if not _SERVICE.match(s)]
    if bad:
        raise SilenceError(f"service {bad[0]!r} is not a plain label value (e.g. feature-store)")
    found = [f'service=~"{"|".join(re.escape(s) for s in sorted(set(services)))}"', NOT_CRITICAL]
    validate_matchers(found)
    return found


def git_revision(repo=REPO_ROOT) -> str:
    """The checked-out commit (12 hex digits), `-dirty` when the working tree has changes; `unknown` outside git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=10).stdout.strip()
    try:
        rev = git("rev-parse", "--short=12", "HEAD")
        return (rev + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")) or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def default_author() -> str:
    """Who deploys: git's user.email, else the login name."""
    try:
        email = subprocess.run(["git", "config", "user.email"], cwd=REPO_ROOT, capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        email = ""
    return email or getpass.getuser()


def comment(env: str, author: str, revision: str, services: Sequence[str]) -> str:
    return (f"deploy of {env} by {author} at git {revision}: {', '.join(services)} restarting "
            f"(critical alerts not silenced; expired when the play ends)")


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class DeploySilence:
    """One deploy's silence in Alertmanager (API v2); `id` is None until opened."""
    alertmanager_url: str
    auth: tuple[str, str] | None
    matchers: list[str]
    comment: str
    author: str
    margin: timedelta
    id: str | None = None
    ends_at: datetime | None = None
    _body: dict = field(default_factory=dict)

    def _post(self) -> str:
        self.ends_at = datetime.now(timezone.utc) + self.margin
        body = {**self._body, "endsAt": _iso(self.ends_at)}
        if self.id:
            body["id"] = self.id
        resp = api.call("POST", f"{self.alertmanager_url.rstrip('/')}/api/v2/silences", self.auth, "Alertmanager",
                        json=body)
        return resp.json()["silenceID"]

    def open(self) -> str:
        self._body = {"matchers": validate_matchers(self.matchers), "startsAt": _iso(datetime.now(timezone.utc)),
                      "createdBy": self.author, "comment": self.comment}
        self.id = self._post()
        return self.id

    def renew(self) -> None:
        """Extend the lease to now + margin. Alertmanager keeps the id of an active silence when only its end moves,
        so the start is sent back as Alertmanager stored it."""
        stored = api.call("GET", f"{self.alertmanager_url.rstrip('/')}/api/v2/silence/{self.id}", self.auth,
                          "Alertmanager").json()
        self._body["startsAt"] = stored.get("startsAt", self._body["startsAt"])
        self.id = self._post()

    def expire(self) -> None:
        api.call("DELETE", f"{self.alertmanager_url.rstrip('/')}/api/v2/silence/{self.id}", self.auth,
                 "Alertmanager")


def parse_margin(margin: str | timedelta) -> timedelta:
    if isinstance(margin, timedelta):
        value = margin
    else:
        from alertstack.silences import parse_duration
        value = parse_duration(margin)
    if not timedelta(seconds=3) <= value <= MAX_MARGIN:
        raise SilenceError(f"deploy silence margin {margin!r} must be between 3 seconds and {MAX_MARGIN}")
    return value


@contextmanager
def around_deploy(alertmanager_url: str, auth: tuple[str, str] | None, env: str, services: Sequence[str],
                  author: str, revision: str, margin: str | timedelta = DEFAULT_MARGIN,
                  renew_every_s: float | None = None, say: Callable[[str], None] = _say) -> Iterator[str | None]:
    """Silence `services` (never critical alerts) while the body runs; yields the silence id (None when
    Alertmanager could not be reached). Expired when the body ends, however it ends."""
    if not isinstance(author, str) or not author.strip():
        raise SilenceError("a deploy silence needs its author")
    if not isinstance(revision, str) or not revision.strip():
        raise SilenceError("a deploy silence needs the git revision")
    lease = parse_margin(margin)
    found = matchers(services)
    silence = DeploySilence(alertmanager_url, auth, found, comment(env, author.strip(), revision.strip(), services),
                            author.strip(), lease)
    try:
        silence.open()
    except api.ApiError as exc:
        say(f"deploy silence: not opened ({exc}); deploying without one")
        yield None
        return
    say(f"deploy silence {silence.id}: {', '.join(found)} until the play ends (lease {lease}, renewed while it runs)")
    stop = threading.Event()
    every = renew_every_s if renew_every_s is not None else max(lease.total_seconds() / 3, 1.0)

    def keep_alive() -> None:
        while not stop.wait(every):
            try:
                silence.renew()
            except api.ApiError as exc:
                say(f"deploy silence {silence.id}: could not extend it ({exc}); it ends at {_iso(silence.ends_at)}")

    renewer = threading.Thread(target=keep_alive, name="deploy-silence-renewal", daemon=True)
    renewer.start()
    try:
        yield silence.id
    finally:
        stop.set()
        renewer.join(timeout=30)
        try:
            silence.expire()
            say(f"deploy silence {silence.id}: expired")
        except api.ApiError as exc:
            say(f"deploy silence {silence.id}: could not expire it ({exc}); it lapses at {_iso(silence.ends_at)}, "
                f"or run: invoke silence expire --id {silence.id} --env {env}")


def for_env(env: str, margin: str | timedelta = DEFAULT_MARGIN, author: str | None = None,
            say: Callable[[str], None] = _say):
    """around_deploy() for a deploy of `env`: its Alertmanager and API account (alertstack.endpoints, the silence
    CLI's credentials), the services its inventory makes the deploy touch, this checkout's git revision."""
    from alertstack import ansible, endpoints, silences
    lease = parse_margin(margin)
    if author is not None and not author.strip():
        raise SilenceError("--author must not be empty")
    services = touched_services(ansible.inventory_vars(env))
    url = endpoints.for_env(env).alertmanager_url
    return around_deploy(url, silences.credentials(env), env, services, author or default_author(), git_revision(),
                         lease, say=say)
