"""The `ha` environment as the failure tests drive it: where each replica answers, the synthetic incident they flip,
the faults (docker kill / stop / start, network disconnect / connect) and the notifications counted per receiver.

Everything is read from what was deployed (the inventory's ports and replicas, the deployed alertmanager.yml and its
secret files); nothing is rebuilt a second way.
"""
from __future__ import annotations

import json
import shlex
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import yaml

from alertstack import ansible, api, endpoints, sink
from alertstack.ha import replica_names
from alertstack.images import OFFLINE
from alertstack.tools import run_in_image

ENV = "ha"
INCIDENT_METRIC = "ha_drill_page"   # node_exporter textfile metric the ha inventory's HADrillPage rule fires on
INCIDENT_ALERT = "HADrillPage"
INCIDENT_FILE = "textfile/ha_drill.prom"


class HAError(RuntimeError):
    """A step of a failure test that could not be carried out (a docker call, an API that does not answer)."""


@dataclass
class HAStack:
    root: Path
    project: str
    network: str
    prometheus: dict[str, str]        # service name -> URL on 127.0.0.1
    alertmanagers: dict[str, str]     # service name -> URL on 127.0.0.1
    sink_url: str
    auth: tuple[str, str] | None
    long_term_url: str | None = None  # VictoriaMetrics on 127.0.0.1 (the remote-write target), when deployed
    incidents: dict[str, int] = field(default_factory=dict)

    def container(self, service: str) -> str:
        return f"{self.project}-{service}"


def _urls(bind: str, base_port: int, names: list[str]) -> dict[str, str]:
    host = "127.0.0.1" if bind in ("0.0.0.0", "::") else bind
    return {name: f"http://{host}:{base_port + i}" for i, name in enumerate(names)}


def from_inventory(env: str = ENV) -> HAStack:
    """The single-host HA environment `env` as its inventory declares it."""
    hv = endpoints.monitoring_hostvars(env)
    bind = hv.get("stack_bind_address", "127.0.0.1")
    return HAStack(
        root=Path(hv["stack_root"]), project=hv["stack_project"], network=hv["stack_network"],
        prometheus=_urls(bind, int(hv.get("prometheus_port", 9090)),
                         replica_names("prometheus", int(hv.get("prometheus_replicas", 1)))),
        alertmanagers=_urls(bind, int(hv.get("alertmanager_port", 9093)),
                            replica_names("alertmanager", int(hv.get("alertmanager_replicas", 1)))),
        sink_url=hv.get("notification_sink_url", "http://127.0.0.1:8099"),
        auth=endpoints.credentials(env, hv),
        long_term_url=(_urls(bind, int(hv["victoria_metrics_host_port"]), ["vm"])["vm"]
                       if "victoria_metrics_host_port" in hv else None),
    )


# --- the synthetic incident ------------------------------------------------------------------------------------------
def set_incident(stack: HAStack, incident: str, firing: bool) -> None:
    """Open (firing=True) or end an incident: ha_drill_page{incident=...} in node_exporter's textfile directory.
    Its alert carries service=ha-drill-<incident>, so each test's notifications are told apart."""
    stack.incidents[incident] = 1 if firing else 0
    path = stack.root / INCIDENT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# TYPE {INCIDENT_METRIC} gauge"]
    lines += [f'{INCIDENT_METRIC}{{incident="{name}"}} {value}' for name, value in sorted(stack.incidents.items())]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.chmod(0o644)
    tmp.replace(path)  # atomic: node_exporter never reads half a file


def incident_service(incident: str) -> str:
    return f"ha-drill-{incident}"


# --- docker faults ---------------------------------------------------------------------------------------------------
def docker(*args: str, check: bool = True, with_stderr: bool = False) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise HAError(f"docker {shlex.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout + proc.stderr if with_stderr else proc.stdout


def logs(stack: HAStack, service: str, tail: int = 25) -> str:
    """The last `tail` log lines of a service (Alertmanager and Prometheus log to stderr)."""
    return docker("logs", "--tail", str(tail), stack.container(service), check=False, with_stderr=True).strip()


def kill(stack: HAStack, service: str) -> None:
    docker("kill", stack.container(service))


def stop(stack: HAStack, service: str) -> None:
    docker("stop", "-t", "10", stack.container(service))


def start(stack: HAStack, service: str) -> None:
    docker("start", stack.container(service))


def disconnect(stack: HAStack, service: str) -> None:
    docker("network", "disconnect", stack.network, stack.container(service))


def connect(stack: HAStack, service: str) -> None:
    docker("network", "connect", "--alias", service, stack.network, stack.container(service))


def running(stack: HAStack, service: str) -> bool:
    out = docker("inspect", "-f", "{{.State.Running}}", stack.container(service), check=False)
    return out.strip() == "true"


# --- Alertmanager cluster --------------------------------------------------------------------------------------------
def _get(url: str, auth, timeout: float = 5.0):
    return api.call("GET", url, auth, timeout=timeout).json()


def cluster_status(stack: HAStack, service: str) -> dict | None:
    """/api/v2/status .cluster of one Alertmanager ({name, status, peers}), None when it does not answer."""
    try:
        return _get(f"{stack.alertmanagers[service]}/api/v2/status", stack.auth)["cluster"]
    except (api.ApiError, ValueError, KeyError):
        return None


def first_sender(stack: HAStack) -> str:
    """The Alertmanager that notifies first: position 0 of the cluster (peers sorted by name); the others wait
    peer_timeout x their position and send only what the notification log does not show as sent."""
    names = {}
    for service in stack.alertmanagers:
        status = cluster_status(stack, service)
        if status:
            names[status["name"]] = service
    if not names:
        raise HAError("no Alertmanager of the cluster answers")
    return names[min(names)]


def wait_cluster(stack: HAStack, size: int, timeout_s: float = 90.0, services: list[str] | None = None) -> float:
    """Wait until every listed Alertmanager (default: all) sees `size` ready peers; returns the seconds waited."""
    started = time.monotonic()
    services = services or list(stack.alertmanagers)
    while True:
        seen = {s: cluster_status(stack, s) for s in services}
        if all(st and len(st.get("peers") or []) == size for st in seen.values()):
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise HAError(f"Alertmanager cluster not at {size} members after {timeout_s:.0f}s: "
                          + ", ".join(f"{s}={len(st['peers']) if st else 'down'}" for s, st in seen.items()))
        time.sleep(1)


# --- Prometheus ------------------------------------------------------------------------------------------------------
def query(stack: HAStack, expr: str, replica: str | None = None, long_term: bool = False) -> list[dict]:
    """Instant query of one Prometheus replica (default the first), or of the long-term store."""
    url = stack.long_term_url if long_term else stack.prometheus[replica or next(iter(stack.prometheus))]
    try:
        return api.query(url, expr, auth=None if long_term else stack.auth)
    except api.ApiError as exc:
        raise HAError(f"query {expr!r}: {exc}") from None


def alert_state(stack: HAStack, alertname: str, replica: str, **labels: str) -> str | None:
    """'firing' / 'pending' of an alert on one Prometheus replica, None when it is not active there."""
    try:
        alerts = _get(f"{stack.prometheus[replica]}/api/v1/alerts", stack.auth)["data"]["alerts"]
    except (api.ApiError, ValueError):
        return None
    for alert in alerts:
        lab = alert["labels"]
        if lab.get("alertname") == alertname and all(lab.get(k) == v for k, v in labels.items()):
            return alert["state"]
    return None


# --- receivers and notifications -------------------------------------------------------------------------------------
def promised_receivers(stack: HAStack, labels: dict[str, str]) -> list[str]:
    """Receivers the deployed routing tree sends an alert with `labels` to (`amtool config routes test`)."""
    args = " ".join(shlex.quote(f"{k}={v}") for k, v in labels.items())
    result = run_in_image(OFFLINE["alertmanager"], "/bin/sh",
                          ["-c", f"/bin/amtool config routes test --config.file=/etc/alertmanager/alertmanager.yml "
                                 f"{args}"],
                          {stack.root / "alertmanager": "/etc/alertmanager"})
    if result.returncode != 0:
        raise HAError(f"amtool config routes test: {result.output}")
    return sorted(r.strip() for r in result.stdout.strip().split(",") if r.strip())


def receiver_channels(stack: HAStack) -> dict[str, list[tuple[str, str | None]]]:
    """{receiver: [(sink kind, channel or None)]} of the deployed alertmanager.yml: where each of its integrations
    lands in the notification sink (slack/<channel>, webhook/<name>, pagerduty events-v2, e-mail recipient)."""
    config = yaml.safe_load((stack.root / "alertmanager" / "alertmanager.yml").read_text())
    secrets = stack.root / "alertmanager" / "secrets"

    def url(item: dict, key: str) -> str:
        if item.get(key):
            return str(item[key])
        ref = item.get(f"{key}_file")
        return (secrets / Path(ref).name).read_text().strip() if ref else ""

    out: dict[str, list[tuple[str, str | None]]] = {}
    for receiver in config.get("receivers") or []:
        targets = []
        for key, items in receiver.items():
            if not key.endswith("_configs"):
                continue
            kind = key[: -len("_configs")]
            for item in items or []:
                if kind == "slack":
                    targets.append(("slack", urlparse(url(item, "api_url")).path.rstrip("/").split("/")[-1]))
                elif kind == "webhook":
                    targets.append(("webhook", urlparse(url(item, "url")).path.rstrip("/").split("/")[-1]))
                elif kind == "pagerduty":
                    targets.append(("pagerduty", "events-v2"))
                elif kind == "email":
                    targets.append(("email", str(item.get("to"))))
                else:
                    targets.append((kind, None))
        out[receiver["name"]] = targets
    return out


def _incident_notifications(stack: HAStack, receivers: list[str], since: float, incident: str):
    """(receiver, message) for the sink's messages since `since` that mention the incident's service, attributed to
    the receivers by their integrations' sink channels."""
    channels = receiver_channels(stack)
    marker = incident_service(incident)
    for message in sink.messages(stack.sink_url, since=since):
        if marker not in json.dumps(message.get("payload"), default=str):
            continue
        for receiver in receivers:
            for kind, channel in channels.get(receiver, []):
                if message["kind"] == kind and (channel is None or message.get("channel") == channel):
                    yield receiver, message


def notification_counts(stack: HAStack, receivers: list[str], since: float, incident: str) -> dict[str, Counter]:
    """{receiver: Counter(firing=n, resolved=m)}: the incident's notifications per receiver."""
    counts = {r: Counter(firing=0, resolved=0) for r in receivers}
    for receiver, message in _incident_notifications(stack, receivers, since, incident):
        counts[receiver][message.get("status") or "unknown"] += 1
    return counts


def alertmanager_addresses(stack: HAStack) -> dict[str, str]:
    """{address on the stack's network: service} of its Alertmanagers, to name the sender of a notification."""
    out = {}
    for service in stack.alertmanagers:
        address = docker("inspect", "-f", f'{{{{with index .NetworkSettings.Networks "{stack.network}"}}}}'
                         "{{.IPAddress}}{{end}}", stack.container(service), check=False).strip()
        if address:
            out[address] = service
    return out


def notification_log(stack: HAStack, receivers: list[str], since: float, incident: str) -> str:
    """One line per notification of the incident: when, receiver, status and the Alertmanager that sent it (a
    duplicate from two members is late gossip; two from one member is a retry)."""
    names = alertmanager_addresses(stack)
    return "\n".join(f"  {m.get('received_at_iso')}  {r:<22} {m.get('status')!s:<9} from "
                     f"{names.get(m.get('sender'), m.get('sender') or 'unknown')}"
                     for r, m in sorted(_incident_notifications(stack, receivers, since, incident),
                                        key=lambda rm: (rm[1]["received_at"], rm[0])))


def format_counts(counts: dict[str, Counter]) -> str:
    return "\n".join(f"  {r:<22} firing={c['firing']} resolved={c['resolved']}"
                     + (f" other={sum(v for k, v in c.items() if k not in ('firing', 'resolved'))}"
                        if set(c) - {"firing", "resolved"} else "")
                     for r, c in sorted(counts.items()))


def wait_counts(stack: HAStack, receivers: list[str], since: float, incident: str, status: str,
                timeout_s: float, say=print) -> dict[str, Counter]:
    """Poll until every receiver got at least one `status` notification of the incident (or timeout)."""
    started = time.monotonic()
    while True:
        counts = notification_counts(stack, receivers, since, incident)
        if all(c[status] >= 1 for c in counts.values()):
            say(f"every receiver got its {status} notification after {time.monotonic() - started:.0f}s")
            return counts
        if time.monotonic() - started > timeout_s:
            say(f"timeout: not every receiver got a {status} notification in {timeout_s:.0f}s")
            return counts
        time.sleep(2)


# --- keeping the environment whole ---------------------------------------------------------------------------------
def heal(stack: HAStack) -> None:
    """Undo every fault: each replica running and attached to the project's network."""
    for service in list(stack.prometheus) + list(stack.alertmanagers):
        if not running(stack, service):
            start(stack, service)
        networks = docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", stack.container(service))
        if stack.network not in json.loads(networks or "{}"):
            connect(stack, service)


def teardown(stack: HAStack) -> None:
    """Remove the environment's containers, volumes and network (all created by its deploy, none shared)."""
    docker("compose", "-p", stack.project, "down", "--volumes", "--remove-orphans", "--timeout", "5", check=False)
    docker("network", "rm", stack.network, check=False)


def alertmanagers_holding(stack: HAStack, alertname: str, **labels: str) -> list[str]:
    """The Alertmanagers whose /api/v2/alerts holds an active alert of that name and labels."""
    holding = []
    for service, url in stack.alertmanagers.items():
        try:
            alerts = _get(f"{url}/api/v2/alerts", stack.auth)
        except (api.ApiError, ValueError):
            continue
        if any(a["labels"].get("alertname") == alertname and all(a["labels"].get(k) == v for k, v in labels.items())
               for a in alerts):
            holding.append(service)
    return holding


def wait_until(predicate, timeout_s: float, what: str, poll_s: float = 0.5) -> float:
    """Poll predicate() until true; returns the seconds waited, HAError naming `what` on timeout."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout_s:
            raise HAError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(poll_s)
    return time.monotonic() - started
