"""inventories/lab as alertstack/lab.py reads it (no Docker): addresses, names, and the files Ansible is pointed at."""
from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from alertstack import ansible, lab
from alertstack.paths import INVENTORIES


@pytest.fixture(scope="module")
def spec() -> lab.Lab:
    return lab.read_spec()


def test_staging_shape_with_a_second_monitoring_host_two_inference_one_gpu():
    groups = ansible.inventory_vars(lab.ENV)
    assert len(groups["monitoring"]["hosts"]) == 2  # production's pair: a cross-host Alertmanager cluster
    assert len(groups["inference"]["hosts"]) == 2
    assert len(groups["gpu"]["hosts"]) == 1 and groups["gpu"]["hosts"][0] in groups["inference"]["hosts"]


def test_every_address_is_distinct_and_inside_the_lab_subnet(spec):
    subnet = ipaddress.ip_network(spec.subnet)
    addresses = [*spec.hosts.values(), spec.registry_address]
    assert len(set(addresses)) == len(addresses)
    assert all(ipaddress.ip_address(a) in subnet for a in addresses), addresses
    # Never the range the hosts' own Docker engines use for their networks (172.17.0.0/12 and 192.168.0.0/16).
    assert not subnet.overlaps(ipaddress.ip_network("172.16.0.0/12"))
    assert not subnet.overlaps(ipaddress.ip_network("192.168.0.0/16"))


def test_containers_and_network_carry_the_lab_prefix(spec):
    names = [spec.container(h) for h in spec.hosts] + [lab.REGISTRY_CONTAINER, spec.network]
    assert all(n.startswith("ai-alerting-lab") for n in names), names


def test_ansible_uses_the_key_and_known_hosts_that_lab_up_writes():
    hostvars = ansible.inventory_vars(lab.ENV)["_meta"]["hostvars"]
    inventory_dir = INVENTORIES / lab.ENV
    for host, hv in hostvars.items():
        key = Path(hv["ansible_ssh_private_key_file"].replace("{{ inventory_dir }}", str(inventory_dir))).resolve()
        assert key == lab.KEY, host
        assert f"UserKnownHostsFile={{{{ inventory_dir }}}}/../../build/lab/ssh/known_hosts" in \
            hv["ansible_ssh_common_args"] and "StrictHostKeyChecking=yes" in hv["ansible_ssh_common_args"]
        assert (inventory_dir / "../../build/lab/ssh/known_hosts").resolve() == lab.KNOWN_HOSTS
        assert hv["ansible_user"] != "root" and hv["ansible_become"] is True


def test_the_registry_certificate_the_hosts_trust_is_the_one_lab_up_makes():
    hv = next(iter(ansible.inventory_vars(lab.ENV)["_meta"]["hostvars"].values()))
    ca = Path(hv["images_registry_ca"].replace("{{ inventory_dir }}", str(INVENTORIES / lab.ENV))).resolve()
    assert ca == lab.TLS_DIR / "cert.pem"


@pytest.mark.parametrize("value", ["10.231.0.2", "registry:port", ":5000", ""])
def test_a_malformed_registry_endpoint_is_named(value):
    with pytest.raises(lab.LabError, match="images_registry"):
        lab._endpoint(value, "images_registry")


def test_one_notification_sink_every_alertmanager_delivers_to():
    """The receivers' single destination (as Slack or PagerDuty are in production) runs on the first monitoring
    host; every receiver URL is its address, so both Alertmanagers of the cluster deliver to the same place."""
    inventory = ansible.inventory_vars(lab.ENV)
    hostvars, monitoring = inventory["_meta"]["hostvars"], inventory["monitoring"]["hosts"]
    assert [h for h in monitoring if hostvars[h].get("notification_sink_enabled")] == monitoring[:1]
    first = hostvars[monitoring[0]]
    sink = f"http://{first['ansible_host']}:{first.get('notification_sink_http_port', 8099)}/"
    assert first["notification_sink_url"] == sink.rstrip("/")
    for host in monitoring:
        urls = [v for k, v in hostvars[host]["alertmanager_secrets"].items() if k.endswith("_url")]
        assert urls and all(u.startswith(sink) for u in urls), (host, urls)
        assert hostvars[host]["alertmanager_pagerduty_url"].startswith(sink)
        # Each monitoring host's own Prometheus and Alertmanager URLs.
        assert hostvars[host]["prometheus_external_url"] == f"http://{hostvars[host]['ansible_host']}:9090"
        assert hostvars[host]["alertmanager_external_url"] == f"http://{hostvars[host]['ansible_host']}:9093"
