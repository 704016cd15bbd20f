"""On the deployed stack: every alert's runbook_url resolves (HTTP 200) to a page that names the alert, and the
runbooks' queries run against the live Prometheus.

Needs the `deployed_stack` fixture (tests/e2e/conftest.py): an object with runbooks_base_url, prometheus_url,
alertmanager_url and alerts_defined() -> the alerts the stack defines, each a mapping (or object) with the alert's
name (`name` or `alert`) and its annotations (`annotations` mapping, or a `runbook_url` key/attribute); `auth`, when
present, is the (user, password) of the Prometheus API.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import requests

from alertstack import catalog
from alertstack.runbooks import lint, pages

pytestmark = pytest.mark.e2e

TIMEOUT = 10


def _auth(stack):
    """Basic-auth credentials of the stack's APIs (the fixture's `auth`), or None."""
    return getattr(stack, "auth", None)


def _field(item, *names):
    for name in names:
        if isinstance(item, dict) and name in item:
            return item[name]
        if hasattr(item, name):
            return getattr(item, name)
    return None


def _runbook_url(alert) -> str | None:
    annotations = _field(alert, "annotations") or {}
    return annotations.get("runbook_url") if isinstance(annotations, dict) and "runbook_url" in annotations \
        else _field(alert, "runbook_url")


def _prometheus_alert_rules(prometheus_url: str, auth=None) -> list[dict]:
    resp = requests.get(f"{prometheus_url}/api/v1/rules", params={"type": "alert"}, timeout=TIMEOUT, auth=auth)
    resp.raise_for_status()
    return [rule for group in resp.json()["data"]["groups"] for rule in group["rules"] if rule["type"] == "alerting"]


def _get_page(url: str) -> requests.Response:
    host = urlsplit(url).hostname
    assert host in ("127.0.0.1", "localhost", "::1"), f"runbook_url {url} is not on this machine"
    return requests.get(url, timeout=TIMEOUT)


def _assert_page_names_alert(alert: str, url: str) -> None:
    resp = _get_page(url)
    assert resp.status_code == 200, f"{alert}: GET {url} -> {resp.status_code}"
    assert "text/html" in resp.headers.get("Content-Type", ""), f"{alert}: {url} is not HTML"
    assert re.search(rf'<h3 id="{re.escape(alert)}">{re.escape(alert)}</h3>', resp.text), \
        f"{alert}: {url} does not name the alert in a heading"


def test_every_defined_alert_has_a_resolving_runbook(deployed_stack):
    alerts = list(deployed_stack.alerts_defined())
    assert alerts, "the stack defines no alerts"
    names = set()
    for alert in alerts:
        name = _field(alert, "name", "alert", "alertname")
        url = _runbook_url(alert)
        assert url, f"{name}: no runbook_url annotation"
        assert name in catalog.RUNBOOK_SLUGS, f"{name} is not in alertstack.catalog.RUNBOOK_SLUGS"
        assert url == pages.runbook_url(deployed_stack.runbooks_base_url, catalog.RUNBOOK_SLUGS[name]), name
        _assert_page_names_alert(name, url)
        names.add(name)
    # every Prometheus alert of the catalogue is defined (log alerts are only there when Grafana/Loki run)
    assert set(catalog.alert_names()) <= names


def test_every_prometheus_alert_rule_links_to_its_runbook(deployed_stack):
    """Independent of alerts_defined(): what the live Prometheus loaded."""
    rules = _prometheus_alert_rules(deployed_stack.prometheus_url, _auth(deployed_stack))
    assert {r["name"] for r in rules} >= set(catalog.alert_names())
    for rule in rules:
        url = rule["annotations"].get("runbook_url")
        assert url, f"{rule['name']}: no runbook_url"
        _assert_page_names_alert(rule["name"], url)


def test_index_lists_every_page(deployed_stack):
    resp = requests.get(f"{deployed_stack.runbooks_base_url}/index.html", timeout=TIMEOUT)
    assert resp.status_code == 200
    for slug in catalog.runbook_slugs():
        assert f'href="{slug}.html"' in resp.text


def test_unknown_page_is_not_found(deployed_stack):
    resp = requests.get(f"{deployed_stack.runbooks_base_url}/no-such-runbook.html", timeout=TIMEOUT)
    assert resp.status_code == 404


def test_runbook_self_metrics_exist_in_the_live_prometheus(deployed_stack):
    """Self-metrics a runbook queries (prometheus_*, alertmanager_*, node_*) are really exported by this stack's
    versions; demo and recording-rule metrics are checked against the rules in the unit tests."""
    resp = requests.get(f"{deployed_stack.prometheus_url}/api/v1/label/__name__/values", timeout=TIMEOUT,
                        auth=_auth(deployed_stack))
    resp.raise_for_status()
    live = set(resp.json()["data"])
    used = {m for page in pages.load_runbooks().values() for q in pages.promql_queries(page)
            for m in lint.promql_metric_names(q) if m.startswith(lint.SELF_METRIC_PREFIXES)}
    # Exported only when Alertmanager runs as a cluster (production's two monitoring hosts); the local stack has
    # one Alertmanager with clustering off, so these series do not exist here.
    cluster_only = {m for m in used if m.startswith("alertmanager_cluster_")}
    assert sorted(used - live - cluster_only) == []


def test_runbook_queries_run_on_the_live_prometheus(deployed_stack):
    """Every PromQL query of every runbook is accepted by the live Prometheus's query API."""
    failures = {}
    for slug, page in sorted(pages.load_runbooks().items()):
        for query in pages.promql_queries(page):
            resp = requests.get(f"{deployed_stack.prometheus_url}/api/v1/query", params={"query": query},
                                timeout=TIMEOUT, auth=_auth(deployed_stack))
            if resp.status_code != 200 or resp.json().get("status") != "success":
                failures[f"{slug}: {query}"] = resp.text[:200]
    assert failures == {}
