"""A real Alertmanager (the offline image, its own container) delivering to a real notification sink (in this
process), for tests that must not touch the deployed local stack: incident platforms, deploy silences."""
from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import yaml

from alertstack.defaults import NOTIFICATION_TEMPLATES
from alertstack.images import OFFLINE
from notification_sink.server import Sink, make_handler, start_smtp


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SinkServer:
    sink: Sink
    url: str
    smtp_port: int


@contextmanager
def notification_sink(**options) -> Iterator[SinkServer]:
    """The notification sink's HTTP and SMTP servers on free 127.0.0.1 ports (options: Sink's keyword arguments)."""
    sink = Sink(None, **options)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(sink))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    smtp_port = free_port()
    smtp = start_smtp(sink, "127.0.0.1", smtp_port)
    try:
        yield SinkServer(sink, f"http://127.0.0.1:{server.server_address[1]}", smtp_port)
    finally:
        smtp.stop()
        server.shutdown()
        server.server_close()


def sink_secrets(config: dict, sink_url: str, extra: dict | None = None) -> dict:
    """A value for every secret file the config references: URLs into the sink (Slack channels, webhooks),
    placeholders for the rest; `extra` overrides."""
    from alertstack import routing
    values = {}
    for name in routing.secret_files(config):
        if name.startswith("slack_") and name.endswith("_url"):
            values[name] = f"{sink_url}/slack/{name[len('slack_'):-len('_url')].replace('_', '-')}"
        elif name.endswith("_url"):
            values[name] = f"{sink_url}/webhook/{name[:-len('_url')]}"
        else:
            values[name] = f"placeholder-{name}-0000"
    return {**values, **(extra or {})}


def for_sink(config: dict, sink: SinkServer) -> dict:
    """The config with its non-secret endpoints (SMTP, PagerDuty, Opsgenie) pointed at the sink."""
    config = json.loads(json.dumps(config))
    config["global"].update(smtp_smarthost=f"127.0.0.1:{sink.smtp_port}", smtp_require_tls=False)
    for receiver in config["receivers"]:
        for c in receiver.get("pagerduty_configs") or []:
            c["url"] = f"{sink.url}/pagerduty/v2/enqueue"
        for c in receiver.get("opsgenie_configs") or []:
            c["api_url"] = f"{sink.url}/opsgenie/"
    return config


@contextmanager
def alertmanager(config: dict, secrets: dict, directory: Path, ready_timeout_s: float = 60,
                 name: str | None = None, storage: Path | None = None, flags: tuple = ()) -> Iterator[str]:
    """Alertmanager (offline image, host network, 127.0.0.1 only, no cluster) with `config`, the project's
    notification templates and `secrets` as files; yields its URL; the container (`name`, default a random one)
    is removed afterwards. `storage`: a host directory for its data (kept across `crash_and_start`), else the
    container's own /tmp; `flags`: more command-line flags."""
    (directory / "templates").mkdir(parents=True, exist_ok=True)
    (directory / "templates" / NOTIFICATION_TEMPLATES.name).write_text(NOTIFICATION_TEMPLATES.read_text())
    (directory / "secrets").mkdir(exist_ok=True)
    for secret, value in secrets.items():
        (directory / "secrets" / secret).write_text(value)
    (directory / "alertmanager.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    name = name or f"alertstack-test-am-{uuid.uuid4().hex[:8]}"
    volumes = ["-v", f"{directory}:/etc/alertmanager:ro"]
    if storage is not None:
        storage.mkdir(parents=True, exist_ok=True)
        volumes += ["-v", f"{storage}:/alertmanager"]
    run = ["docker", "run", "-d", "--name", name, "--network", "host", "--user", "0", *volumes,
           "--entrypoint", "/bin/alertmanager", OFFLINE["alertmanager"],
           "--config.file=/etc/alertmanager/alertmanager.yml", f"--web.listen-address=127.0.0.1:{port}",
           "--cluster.listen-address=", f"--storage.path={'/alertmanager' if storage is not None else '/tmp'}",
           *flags]
    _STARTS[name] = run
    subprocess.run(run, check=True, capture_output=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, name, ready_timeout_s)
        yield url
    finally:
        _STARTS.pop(name, None)
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


_STARTS: dict[str, list] = {}  # container name -> its `docker run` command line, for crash_and_start


def crash_and_start(name: str, url: str) -> None:
    """Kill the Alertmanager container `name` with SIGKILL (a crash, a power loss: no shutdown snapshot) and start
    it again, same flags and storage; returns once it answers at `url`."""
    subprocess.run(["docker", "kill", "--signal", "KILL", name], check=True, capture_output=True)
    subprocess.run(["docker", "rm", "-f", name], check=True, capture_output=True)
    subprocess.run(_STARTS[name], check=True, capture_output=True)
    wait_ready(url, name)


def restart(name: str, url: str) -> None:
    """Restart the Alertmanager container `name` cleanly (SIGTERM: it writes its snapshot of silences and the
    notification log; the alerts it held in memory are gone); returns once it answers at `url`."""
    subprocess.run(["docker", "restart", "-t", "10", name], check=True, capture_output=True)
    wait_ready(url, name)


def webhook_config(sink_url: str) -> dict:
    """An alertmanager.yml with one webhook receiver (`events`, resolves sent) into the sink, grouping by alert name
    and flushing fast (group_wait 1s, group_interval 2s), repeat_interval 4h as in production."""
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {"receiver": "events", "group_by": ["alertname"], "group_wait": "1s", "group_interval": "2s",
                  "repeat_interval": "4h"},
        "receivers": [{"name": "events",
                       "webhook_configs": [{"url": f"{sink_url}/webhook/events", "send_resolved": True}]}],
    }


def pages(sink_url: str, alertname: str, since: float, status: str = "firing") -> list:
    """The sink's notifications about `alertname` since `since` with this status (firing: pages)."""
    from alertstack import sink
    return sink.messages(sink_url, since=since, alertname=alertname, status=status)


def wait_ready(url: str, name: str, timeout_s: float = 60) -> None:
    """Wait until the Alertmanager container `name` answers /-/ready at `url`; AssertionError with its logs."""
    deadline = time.monotonic() + timeout_s
    while not _ready(url):
        if time.monotonic() > deadline:
            logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True)
            raise AssertionError(f"Alertmanager did not start: {logs.stdout}{logs.stderr}")
        time.sleep(0.3)


def _ready(url: str) -> bool:
    try:
        urllib.request.urlopen(f"{url}/-/ready", timeout=1)
        return True
    except OSError:
        return False


def post_alerts(am_url: str, alerts: list[dict], resolved: bool = False) -> None:
    """Send alerts ({labels, annotations}) as Prometheus does: firing for 5 more minutes, or resolved now."""
    ends = datetime.now(timezone.utc) + (timedelta(seconds=-1) if resolved else timedelta(minutes=5))
    body = [{"labels": a["labels"], "annotations": a.get("annotations") or {},
             "endsAt": ends.isoformat().replace("+00:00", "Z")} for a in alerts]
    req = urllib.request.Request(f"{am_url}/api/v2/alerts", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=5).read()


def wait_until(predicate, timeout_s: float, what: str, poll_s: float = 0.3):
    """predicate()'s first truthy value within timeout_s, else AssertionError naming `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(poll_s)
