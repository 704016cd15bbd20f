"""Grafana datasource provisioning: Prometheus, Loki and Alertmanager with fixed uids, and the long-term store
(Prometheus-compatible query API of VictoriaMetrics, Mimir or Thanos) when the environment remote-writes to one."""
from __future__ import annotations

PROMETHEUS_UID = "prometheus"
LOKI_UID = "loki"
ALERTMANAGER_UID = "alertmanager"
LONG_TERM_UID = "long-term"
EXPRESSION_UID = "__expr__"  # Grafana's server-side expressions (math/reduce/threshold)

DATASOURCE_TYPES = {PROMETHEUS_UID: "prometheus", LOKI_UID: "loki", ALERTMANAGER_UID: "alertmanager",
                    LONG_TERM_UID: "prometheus"}


def _basic_auth(user: str | None, password_file: str | None) -> dict:
    """Basic auth whose password Grafana reads from a file when it provisions ($__file{} expansion): no secret here."""
    if not user:
        return {}
    return {"basicAuth": True, "basicAuthUser": user,
            "secureJsonData": {"basicAuthPassword": f"$__file{{{password_file}}}"}}


def datasources(prometheus_url: str = "http://prometheus:9090", loki_url: str = "http://loki:3100",
                alertmanager_url: str = "http://alertmanager:9093", scrape_interval: str = "15s",
                basic_auth_user: str | None = None,
                password_file: str = "/etc/grafana/secrets/api_password", long_term_url: str | None = None) -> dict:
    """The datasources provisioning file (apiVersion 1), as a dict ready to be dumped as YAML.

    basic_auth_user: the stack's API account in front of Prometheus and Alertmanager (their web.yml); its password
    is read from password_file inside the container.
    long_term_url: Prometheus-compatible query URL of the long-term store (e.g. http://victoria-metrics:8428); adds
    the datasource `long-term` (both replicas' samples, deduplicated by the store, kept past Prometheus's retention).
    """
    long_term = [{
        "name": "Long-term metrics", "type": "prometheus", "uid": LONG_TERM_UID, "access": "proxy",
        "url": long_term_url, "isDefault": False, "editable": False,
        "jsonData": {"httpMethod": "POST", "timeInterval": scrape_interval, "prometheusType": "Prometheus"},
    }] if long_term_url else []
    return {
        "apiVersion": 1,
        # Remove datasources that an earlier version provisioned under these names, so uids stay unique.
        "deleteDatasources": [],
        "datasources": [
            {
                "name": "Prometheus", "type": "prometheus", "uid": PROMETHEUS_UID, "access": "proxy",
                "url": prometheus_url, "isDefault": True, "editable": False,
                "jsonData": {"httpMethod": "POST", "timeInterval": scrape_interval,
                             "prometheusType": "Prometheus"},
                **_basic_auth(basic_auth_user, password_file),
            },
            {
                "name": "Loki", "type": "loki", "uid": LOKI_UID, "access": "proxy",
                "url": loki_url, "isDefault": False, "editable": False,
                "jsonData": {"maxLines": 1000},
            },
            {
                "name": "Alertmanager", "type": "alertmanager", "uid": ALERTMANAGER_UID, "access": "proxy",
                "url": alertmanager_url, "isDefault": False, "editable": False,
                # implementation: the upstream Prometheus Alertmanager (not Mimir/Cortex);
                # handleGrafanaManagedAlerts: Grafana-managed alerts are sent to it, so they follow its routing.
                "jsonData": {"implementation": "prometheus", "handleGrafanaManagedAlerts": True},
                **_basic_auth(basic_auth_user, password_file),
            },
        ] + long_term,
    }


def provisioned_uids(provisioning: dict) -> dict[str, str]:
    """uid -> type of every datasource in a datasources provisioning file."""
    return {d["uid"]: d["type"] for d in provisioning.get("datasources", []) if isinstance(d, dict) and "uid" in d}
