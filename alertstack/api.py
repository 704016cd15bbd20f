"""One HTTP client for the Prometheus and Alertmanager APIs (requests, basic auth, one timeout), and the calls the
drills, the incident reports and the silences make with it."""
from __future__ import annotations

from datetime import datetime

import requests
import yaml

TIMEOUT = 10


class ApiError(RuntimeError):
    """Prometheus or Alertmanager unreachable or answering an error; the message names the service and the call."""


def call(method: str, url: str, auth=None, service: str = "the API", timeout: float = TIMEOUT,
         **kwargs) -> requests.Response:
    """One HTTP request with basic `auth`; ApiError when `service` is unreachable, refuses the credentials or
    answers anything but a success. `timeout` is for the long reads (backtests over days of history)."""
    try:
        resp = requests.request(method, url, auth=tuple(auth) if auth else None, timeout=timeout, **kwargs)
    except requests.RequestException as exc:
        raise ApiError(f"{service} at {url} is unreachable: {exc}") from None
    if resp.status_code in (401, 403):
        raise ApiError(f"{service} refused the credentials ({resp.status_code}) for {method} {url}: it needs the "
                       f"stack's API user and password (the environment's stack_api_user / stack_api_password)")
    if not resp.ok:
        raise ApiError(f"{service} answered {resp.status_code} to {method} {url}: {resp.text.strip()[:300]}")
    return resp


def _get(url: str, params=None, auth=None, service: str = "Prometheus", timeout: float = TIMEOUT,
         post: bool = False):
    """The JSON answer of a GET with `params`, or with `post` a POST of them as a form (PromQL expressions too long
    for a URL: the generated SLO rules with their info series inlined)."""
    try:
        if post:
            return call("POST", url, auth, service, timeout, data=params).json()
        return call("GET", url, auth, service, timeout, params=params).json()
    except ValueError as exc:  # a body that is not JSON: not the API we meant to call
        raise ApiError(f"{service} at {url} did not answer JSON: {exc}") from None


def _prom(prometheus_url: str, path: str, params=None, auth=None, timeout: float = TIMEOUT, post: bool = False):
    body = _get(f"{prometheus_url.rstrip('/')}{path}", params, auth, timeout=timeout, post=post)
    if body.get("status") != "success":
        raise ApiError(f"Prometheus {path}: {body.get('errorType')}: {body.get('error')}")
    return body["data"]


def alerts(prometheus_url: str, auth=None, alertname: str | None = None) -> list:
    """Active (pending or firing) alerts from /api/v1/alerts, optionally only those called `alertname`."""
    items = _prom(prometheus_url, "/api/v1/alerts", auth=auth)["alerts"]
    return [a for a in items if alertname is None or a.get("labels", {}).get("alertname") == alertname]


def rules(prometheus_url: str, auth=None) -> dict:
    """The /api/v1/rules answer ({"groups": [...]}), as alertstack.drills.bounds.deployed_rule reads it."""
    return _prom(prometheus_url, "/api/v1/rules", auth=auth)


def config(prometheus_url: str, auth=None) -> dict:
    """The configuration Prometheus runs with (/api/v1/status/config), parsed."""
    return yaml.safe_load(_prom(prometheus_url, "/api/v1/status/config", auth=auth)["yaml"]) or {}


def query(prometheus_url: str, expr: str, at: float | None = None, auth=None, timeout: float = TIMEOUT,
          post: bool = False) -> list:
    """Instant query; the result vector (list of {metric, value: [ts, "v"]}), or the matrix of a range selector
    (list of {metric, values: [[ts, "v"], ...]}). `post`: send the expression as a form (long expressions)."""
    params = {"query": expr}
    if at is not None:
        params["time"] = f"{at:.3f}"
    return _prom(prometheus_url, "/api/v1/query", params, auth, timeout, post)["result"]


def scalar(prometheus_url: str, expr: str, at: float | None = None, auth=None) -> float | None:
    """The single value of an instant query (None when the result is empty)."""
    result = query(prometheus_url, expr, at, auth)
    if not result:
        return None
    return float(result[0]["value"][1])


def query_range(prometheus_url: str, expr: str, start: float, end: float, step: float, auth=None,
                timeout: float = TIMEOUT, post: bool = False) -> list:
    """Range query; the result matrix (list of {metric, values: [[ts, "v"], ...]}). `post`: as for query."""
    params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{max(step, 1):.0f}s"}
    return _prom(prometheus_url, "/api/v1/query_range", params, auth, timeout, post)["result"]


def label_values(prometheus_url: str, label: str, auth=None) -> list[str]:
    """Every value of `label` the Prometheus holds (`__name__`: every metric name)."""
    return _prom(prometheus_url, f"/api/v1/label/{label}/values", auth=auth, timeout=60)


def alertmanager_config(alertmanager_url: str, auth=None) -> dict:
    """The configuration Alertmanager runs with (/api/v2/status config.original), parsed."""
    body = _get(f"{alertmanager_url.rstrip('/')}/api/v2/status", auth=auth, service="Alertmanager")
    return yaml.safe_load(body.get("config", {}).get("original", "")) or {}


def alertmanager_alerts(alertmanager_url: str, auth=None, alertname: str | None = None) -> list:
    """Alerts Alertmanager holds (/api/v2/alerts, active, silenced and inhibited included)."""
    params = {"filter": f'alertname="{alertname}"'} if alertname else None
    return _get(f"{alertmanager_url.rstrip('/')}/api/v2/alerts", params, auth, "Alertmanager")


def post_alerts(alertmanager_url: str, alerts: list, auth=None) -> None:
    """Send alerts to Alertmanager as Prometheus does (POST /api/v2/alerts): [{labels, annotations, startsAt,
    endsAt}]; an alert whose endsAt is past is resolved."""
    call("POST", f"{alertmanager_url.rstrip('/')}/api/v2/alerts", auth, "Alertmanager", json=alerts)


def parse_time(text: str | None) -> float | None:
    """RFC 3339 time from the APIs ('2026-01-02T03:04:05.123456789Z') -> Unix seconds."""
    if not text:
        return None
    t = text.replace("Z", "+00:00")
    if "." in t:  # Python parses at most microseconds
        head, rest = t.split(".", 1)
        frac = "".join(c for c in rest if c.isdigit())
        tz = rest[len(frac):]
        t = f"{head}.{frac[:6]}{tz}"
    return datetime.fromisoformat(t).timestamp()
