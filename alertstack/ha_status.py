"""`invoke ha status`: the Alertmanager cluster's members, the peers each Alertmanager sees, and which Prometheus
replicas are up and how many Alertmanagers each sends to. Read from the running instances' own APIs; the instances are
those the inventory declares (alertstack.ha_faults.from_inventory for a single-host environment, one per monitoring
host elsewhere)."""
from __future__ import annotations

from dataclasses import dataclass, field


from alertstack import ansible, api, endpoints
from alertstack.ha_faults import HAStack, from_inventory


@dataclass
class AlertmanagerState:
    name: str
    url: str
    up: bool
    cluster_status: str = "unreachable"
    peer_name: str = ""
    peers: list[str] = field(default_factory=list)   # peer names as this member sees them


@dataclass
class PrometheusState:
    name: str
    url: str
    up: bool
    alertmanagers: int = 0                            # active Alertmanagers it sends to


@dataclass
class ClusterReport:
    alertmanagers: list[AlertmanagerState]
    prometheus: list[PrometheusState]

    @property
    def ok(self) -> bool:
        size = len(self.alertmanagers)
        return (all(a.up and len(a.peers) == size for a in self.alertmanagers)
                and all(p.up and p.alertmanagers == size for p in self.prometheus))


def stack_for_env(env: str) -> HAStack:
    """The instances of `env`: its replicas on one host, or one Prometheus/Alertmanager per monitoring host."""
    inventory = ansible.inventory_vars(env)
    hosts = inventory.get("monitoring", {}).get("hosts", [])
    hostvars = inventory["_meta"]["hostvars"]
    first = hostvars[hosts[0]] if hosts else {}
    if first.get("stack_single_host", True) or len(hosts) < 2:
        return from_inventory(env)
    def url(host, key, port):
        vars_ = hostvars[host]
        return f"http://{vars_.get('ansible_host', host)}:{vars_.get(key, port)}"
    return HAStack(root=first.get("stack_root", ""), project=first.get("stack_project", ""),
                   network=first.get("stack_network", ""),
                   prometheus={h: url(h, "prometheus_port", 9090) for h in hosts},
                   alertmanagers={h: url(h, "alertmanager_port", 9093) for h in hosts},
                   sink_url="", auth=endpoints.credentials(env, first))


def _json(url: str, auth) -> dict | None:
    try:
        return api.call("GET", url, auth, timeout=5).json()
    except (api.ApiError, ValueError):
        return None


def collect(stack: HAStack) -> ClusterReport:
    alertmanagers = []
    for name, url in stack.alertmanagers.items():
        status = _json(f"{url}/api/v2/status", stack.auth)
        cluster = (status or {}).get("cluster") or {}
        alertmanagers.append(AlertmanagerState(
            name=name, url=url, up=status is not None, cluster_status=cluster.get("status", "unreachable"),
            peer_name=cluster.get("name", ""), peers=sorted(p["name"] for p in cluster.get("peers") or [])))
    prometheus = []
    for name, url in stack.prometheus.items():
        data = _json(f"{url}/api/v1/alertmanagers", stack.auth)
        active = ((data or {}).get("data") or {}).get("activeAlertmanagers") or []
        prometheus.append(PrometheusState(name=name, url=url, up=data is not None, alertmanagers=len(active)))
    return ClusterReport(alertmanagers, prometheus)


def format_report(report: ClusterReport) -> str:
    names = {a.peer_name: a.name for a in report.alertmanagers if a.peer_name}
    size = len(report.alertmanagers)
    lines = [f"Alertmanager cluster: {sum(a.up for a in report.alertmanagers)}/{size} members answer"]
    for a in report.alertmanagers:
        seen = ", ".join(names.get(p, p) for p in a.peers) or "-"
        lines.append(f"  {a.name:<16} {a.url:<26} {'up' if a.up else 'DOWN':<5} cluster={a.cluster_status:<11} "
                     f"sees {len(a.peers)}/{size}: {seen}")
    lines.append(f"Prometheus replicas: {sum(p.up for p in report.prometheus)}/{len(report.prometheus)} up")
    for p in report.prometheus:
        lines.append(f"  {p.name:<16} {p.url:<26} {'up' if p.up else 'DOWN':<5} "
                     f"sends to {p.alertmanagers}/{size} Alertmanagers")
    lines.append("status: " + ("ok" if report.ok else "DEGRADED"))
    return "\n".join(lines)


def status(env: str) -> int:
    """Print the report; 0 when every member sees every other and every replica sends to every Alertmanager."""
    report = collect(stack_for_env(env))
    print(format_report(report))
    return 0 if report.ok else 1
