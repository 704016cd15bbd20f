"""The `lab` environment end to end: pristine Debian 12 hosts reached over SSH with `become`, images from the local
registry, the whole site.yml across hosts, then the running stack checked across the network."""
from __future__ import annotations

import json
import re
import ssl
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
import yaml

from alertstack import ansible, endpoints, ha_status, lab, sink, smoke
from alertstack.drills import channels
from alertstack.images import OFFLINE

pytestmark = pytest.mark.lab


def _ssh(spec: lab.Lab, host: str, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(lab.ssh_command(spec, host, command), capture_output=True, text=True, timeout=120)


def _recap_ok(run: ansible.PlaybookRun, spec: lab.Lab) -> dict:
    recap = ansible.recap(run.output)
    assert set(recap) == set(spec.hosts), f"PLAY RECAP names {sorted(recap)}, not {sorted(spec.hosts)}"
    for host, counts in recap.items():
        assert counts["failed"] == 0 and counts["unreachable"] == 0, f"{host}: {counts}\n{run.output[-3000:]}"
    return recap


def test_cold_deploy_from_pristine_hosts_succeeds(lab_deployed):
    assert lab_deployed.cold.ok, lab_deployed.cold.output[-5000:]
    recap = _recap_ok(lab_deployed.cold, lab_deployed.spec)
    # Pristine hosts: the engine was installed on every one of them (the task ran and changed something).
    assert all(counts["changed"] > 0 for counts in recap.values()), recap
    assert re.search(r"TASK \[docker : Install Docker Engine.*\n(changed: \[[^\]]+\]\n){%d}" % len(recap),
                     lab_deployed.cold.output), "the docker role did not install the engine on every host"


def test_second_run_changes_nothing(lab_deployed):
    assert lab_deployed.warm.ok, lab_deployed.warm.output[-5000:]
    recap = _recap_ok(lab_deployed.warm, lab_deployed.spec)
    assert {host: counts["changed"] for host, counts in recap.items()} == {h: 0 for h in lab_deployed.spec.hosts}


def test_ansible_logs_in_as_a_non_root_user_and_becomes_root(lab_deployed):
    spec = lab_deployed.spec
    for host in spec.hosts:
        who = _ssh(spec, host, "id -un; sudo -n id -un; sudo -n stat -c %U /opt/ai-alerting/compose")
        assert who.returncode == 0, who.stderr
        assert who.stdout.split() == [spec.user, "root", "root"], (host, who.stdout)
        # No password login, no root login: the lab key is the only way in.
        sshd = _ssh(spec, host, "sudo -n sshd -T | grep -Ei '^(passwordauthentication|permitrootlogin) '")
        assert sorted(sshd.stdout.lower().split()) == sorted(["passwordauthentication", "no", "permitrootlogin", "no"])


def test_the_lab_key_stays_private_and_out_of_git():
    assert oct(lab.KEY.stat().st_mode & 0o777) == "0o600"
    assert oct(lab.SSH_DIR.stat().st_mode & 0o777) == "0o700"
    ignored = subprocess.run(["git", "check-ignore", "-q", str(lab.KEY)], cwd=lab.LAB_DIR.parents[1])
    assert ignored.returncode == 0, f"{lab.KEY} is not ignored by git"


def test_every_host_pulled_its_images_from_the_registry_and_built_none(lab_deployed):
    spec = lab_deployed.spec
    context = ssl.create_default_context(cafile=str(lab.TLS_DIR / "cert.pem"))
    url = f"https://127.0.0.1:{spec.registry_push_port}/v2/_catalog"
    with urllib.request.urlopen(url, timeout=10, context=context) as resp:
        catalog = set(json.load(resp)["repositories"])
    wanted = {tag.split(":")[0] for name, tag in OFFLINE.items() if name != "base"}
    assert wanted <= catalog, f"registry holds {sorted(catalog)}"
    registry = f"{spec.registry_address}:{lab.REGISTRY_PORT}"
    inventory = ansible.inventory_vars(lab.ENV)
    for host in spec.hosts:
        images = _ssh(spec, host, "sudo -n docker images --format '{{.Repository}}:{{.Tag}} {{.ID}}'")
        assert images.returncode == 0, images.stderr
        ids = dict(line.split() for line in images.stdout.splitlines())
        node = OFFLINE["node-exporter"]
        assert ids.get(node) and ids.get(node) == ids.get(f"{registry}/{node}"), (host, ids)
        monitoring = host in inventory["monitoring"]["hosts"]
        assert (OFFLINE["prometheus"] in ids) == monitoring, f"{host} pulled what its groups do not run: {ids}"
        assert OFFLINE["base"] not in ids, f"{host} has the build base image: it built images itself"
        built = _ssh(spec, host, "test -e /opt/ai-alerting/images && echo built || echo none")
        assert built.stdout.strip() == "none", f"{host} has build contexts under /opt/ai-alerting/images"


def test_smoke_passes_against_the_lab(lab_deployed):
    report = smoke.smoke(endpoints.for_env(lab.ENV), timeout_s=180)
    failed = [f"{c.name}: {c.detail}" for c in report.checks if not c.ok]
    assert report.ok, failed


def test_every_node_exporter_is_scraped_across_the_network(lab_deployed):
    """One `node` target per inventory host, at that host's lab address, up (smoke checks every target is up)."""
    ep = endpoints.for_env(lab.ENV)
    expected = {h: (f"{a}:9100", "1") for h, a in lab_deployed.spec.hosts.items()}
    deadline = time.monotonic() + 60
    while True:
        resp = requests.get(f"{ep.prometheus_url}/api/v1/query", params={"query": 'up{job="node"}'}, auth=ep.auth,
                            timeout=10)
        resp.raise_for_status()
        up = {r["metric"]["host"]: (r["metric"]["instance"], r["value"][1]) for r in resp.json()["data"]["result"]}
        if up == expected or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert up == expected


def test_the_log_shipper_is_configured_to_ship_to_loki_on_the_monitoring_host(lab_deployed):
    """Loki and Alloy cannot run here (no Debian package): each host's Alloy configuration is rendered, validated by
    the role and put in place, pointing at Loki on the monitoring host's inventory address, and the deploy reached
    the shipping step on every host (the role says why it does not start the container)."""
    spec = lab_deployed.spec
    inventory = ansible.inventory_vars(lab.ENV)
    loki = spec.hosts[inventory["monitoring"]["hosts"][0]]
    for host in spec.hosts:
        config = _ssh(spec, host, "sudo -n cat /opt/ai-alerting/alloy/config.alloy")
        assert config.returncode == 0, (host, config.stderr)
        assert f'url = "http://{loki}:3100/loki/api/v1/push"' in config.stdout, (host, config.stdout[:2000])
        # Labelled with this host's inventory name and the lab's env, as its Prometheus series are.
        assert f'replacement   = "{host}"' in config.stdout and 'replacement   = "lab"' in config.stdout, host
    reached = re.findall(r"Alloy skipped: images_mode is offline", lab_deployed.cold.output)
    assert len(reached) == len(spec.hosts), "the log shipping step was not reached on every host"


def _monitoring_hosts() -> list[str]:
    return list(ansible.inventory_vars(lab.ENV)["monitoring"]["hosts"])


def test_the_alertmanager_cluster_gossips_between_the_monitoring_hosts(lab_deployed):
    """`invoke ha status --env lab`: each monitoring host's Alertmanager sees both members, at their lab addresses
    (gossip on port 9094 across the lab network), and each host's Prometheus sends to both Alertmanagers."""
    spec = lab_deployed.spec
    monitoring = _monitoring_hosts()
    assert len(monitoring) == 2, monitoring
    stack = ha_status.stack_for_env(lab.ENV)
    deadline = time.monotonic() + 90
    while True:
        report = ha_status.collect(stack)
        if report.ok or time.monotonic() > deadline:
            break
        time.sleep(2)
    print("\n" + ha_status.format_report(report))
    assert report.ok, ha_status.format_report(report)
    assert [a.name for a in report.alertmanagers] == monitoring
    assert all(len(a.peers) == 2 for a in report.alertmanagers)
    assert all(p.alertmanagers == 2 for p in report.prometheus)
    gossip = {f"{spec.hosts[h]}:9094" for h in monitoring}
    for host, url in stack.alertmanagers.items():
        status = requests.get(f"{url}/api/v2/status", auth=stack.auth, timeout=10).json()["cluster"]
        assert {p["address"] for p in status["peers"]} == gossip, (host, status["peers"])
    # The CLI says the same and exits 0.
    invoke = str(Path(sys.executable).with_name("invoke"))
    cli = subprocess.run([invoke, "ha", "status", "--env", lab.ENV], capture_output=True, text=True, timeout=120,
                         cwd=lab.REPO_ROOT)
    assert cli.returncode == 0 and "status: ok" in cli.stdout, cli.stdout + cli.stderr


def test_an_alert_from_a_rule_reaches_every_receiver_once_through_the_cross_host_cluster(lab_deployed, tmp_path):
    """node_exporter stopped on one inference host: both Prometheus (one per monitoring host) lose the target across
    the network, both fire HostDown (its `for` is 30s in the lab) and send it to both Alertmanagers; the cluster
    deduplicates, so every channel the deployed routing notifies now gets exactly one firing notification."""
    spec = lab_deployed.spec
    ep = endpoints.for_env(lab.ENV)
    host = "lab-gpu-01"
    first = _monitoring_hosts()[0]
    stack_root = ansible.inventory_vars(lab.ENV)["_meta"]["hostvars"][first]["stack_root"]
    deployed = lab.fetch(spec, first, f"{stack_root}/alertmanager", tmp_path / "deployed")
    config = yaml.safe_load((deployed / "alertmanager.yml").read_text())
    since = time.time()
    stop = _ssh(spec, host, "sudo -n docker stop ai-alerting-node-exporter >/dev/null && echo stopped")
    assert stop.stdout.strip() == "stopped", stop.stderr
    try:
        message = sink.wait_for(ep.sink_url, lambda m: host in json.dumps(m), timeout_s=240, since=since,
                                alertname="HostDown", status="firing")
        assert message, f"HostDown for {host} never reached the sink: {sink.messages(ep.sink_url, since=since)}"
        # The labels each Alertmanager received (replica dropped by both Prometheus) and the receivers it routed to.
        routed = []
        for url in ha_status.stack_for_env(lab.ENV).alertmanagers.values():
            alert = next(a for a in requests.get(f"{url}/api/v2/alerts", auth=ep.auth, timeout=10).json()
                         if a["labels"].get("alertname") == "HostDown" and a["labels"].get("host") == host)
            assert "replica" not in alert["labels"], alert["labels"]
            routed.append((alert["labels"], sorted(r["name"] for r in alert["receivers"])))
        assert len(routed) == 2 and routed[0] == routed[1], routed
        labels, receivers = routed[0]
        # Where the deployed routing delivers now (time intervals applied: a business-hours route may be muted).
        now = datetime.fromtimestamp(since, timezone.utc)
        expect = channels.expected_channels(config, labels, now, now + timedelta(minutes=5))
        assert sorted(set(expect.receivers)) == receivers, (expect.receivers, receivers)
        assert expect.required, expect

        def counts() -> dict[tuple, int]:
            """Firing notifications about HostDown on `host`, per expected channel (kind, channel)."""
            found = {c: 0 for c in expect.required + expect.optional}
            for m in sink.messages(ep.sink_url, since=since, alertname="HostDown", status="firing"):
                if host in json.dumps(m.get("payload"), default=str):
                    for c in found:
                        found[c] += channels.channel_matches(c, (m["kind"], m.get("channel")))
            return found
        deadline = time.monotonic() + 120
        while min(counts()[c] for c in expect.required) < 1 and time.monotonic() < deadline:
            time.sleep(2)
        # A member that missed the other's notification log would send its own copy after peer_timeout (15s,
        # upstream's default) times its position: wait past that before counting.
        time.sleep(30)
        found = counts()
        print(f"\nHostDown {host} through the 2-member cluster, firing notifications per channel: "
              + ", ".join(f"{kind}:{channel or '*'}={n}" for (kind, channel), n in found.items())
              + f" (receivers {receivers})")
        assert {c: found[c] for c in expect.required} == {c: 1 for c in expect.required}, found
        assert all(found[c] <= 1 for c in expect.optional), found
    finally:
        _ssh(spec, host, "sudo -n docker start ai-alerting-node-exporter")


def test_the_errors_drill_fault_acts_on_every_inference_host_over_ssh(lab_deployed):
    """The fault and mitigation of `invoke drill errors --env lab` (alertstack.faults on alertstack.labstack): the bad
    release rolls out to every inference host's gateway over the lab's SSH, and the rollback brings each back to the
    release Ansible deployed. Both are idempotent. (The whole drill, waiting for the burn-rate alert to resolve, takes
    about 6 minutes: docs/lab.md gives its measured run.)"""
    from alertstack import faults, labstack
    from alertstack.drills.runner import stack_from_env
    spec = lab_deployed.spec
    stack = stack_from_env(lab.ENV)
    assert isinstance(stack, labstack.LabStack)
    assert set(stack.inference_hosts) == set(ansible.inventory_vars(lab.ENV)["inference"]["hosts"])

    def versions() -> dict[str, str]:
        return {h: requests.get(f"http://{spec.hosts[h]}:8080/healthz", timeout=5).json()["version"]
                for h in stack.inference_hosts}
    deployed = versions()
    assert len(set(deployed.values())) == 1, deployed
    injected = faults.inject("errors", stack)
    try:
        assert injected["changed"] and injected["version"] != injected["previous_version"], injected
        deadline = time.monotonic() + 15
        while set(versions().values()) != {injected["version"]} and time.monotonic() < deadline:
            time.sleep(0.5)
        assert versions() == {h: injected["version"] for h in stack.inference_hosts}
        assert faults.inject("errors", stack)["changed"] is False
    finally:
        mitigated = faults.mitigate("errors", stack)
    assert mitigated["changed"] and mitigated["rolled_back_from"] == injected["version"], mitigated
    deadline = time.monotonic() + 15
    while versions() != deployed and time.monotonic() < deadline:
        time.sleep(0.5)
    assert versions() == deployed
    assert faults.mitigate("errors", stack)["changed"] is False
    for host in stack.inference_hosts:
        left = _ssh(spec, host, "sudo -n ls /opt/ai-alerting/demo/gateway")
        assert left.stdout.split() == ["release.yml"], (host, left.stdout)
