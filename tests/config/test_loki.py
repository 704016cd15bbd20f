"""The loki, promtail and alloy roles rendered like `invoke render` (no Docker), and their files checked; the log
shipper the real site.yml selects (log_shipper) in every environment."""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2

import pytest
import yaml

from alertstack import ansible
from alertstack.grafana import dashboards, validate
from alertstack.paths import INVENTORIES, REPO_ROOT, VENV_BIN

from alertstack.grafana.rendered import check_stack_root
from alertstack.logs import alerts as log_alerts
from alertstack.logs import alloy, redaction
from alertstack.logs import sources as log_sources
from alertstack.logs import validate as validate_logs
from test_grafana import render  # same render path as the grafana role's test


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("logs")
    inventory = {"all": {"hosts": {"mon1": {"ansible_host": "10.0.0.1"}},
                         "children": {"monitoring": {"hosts": {"mon1": {}}}}}}
    result = render(tmp, ["loki", "promtail"], inventory=inventory)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return tmp / "out"


def test_render_writes_the_complete_loki_and_promtail_configuration(rendered):
    files = sorted(str(p.relative_to(rendered)) for p in rendered.rglob("*") if p.is_file())
    assert files == ["compose/loki.yml", "compose/promtail.yml", "loki/loki.yml", "loki/rules/fake/log-alerts.yml",
                     "promtail/promtail.yml"]


def test_the_whole_rendered_stack_root_passes(rendered):
    assert check_stack_root(rendered) == ([], [])


def test_loki_config_is_a_single_binary_with_filesystem_storage_retention_and_ruler(rendered):
    cfg = yaml.safe_load((rendered / "loki/loki.yml").read_text())
    assert validate_logs.check_loki_config(cfg) == []
    assert cfg["server"]["http_listen_port"] == 3100  # an integer, not a templated string
    assert cfg["ruler"]["alertmanager_url"] == "http://alertmanager:9093"
    # Absolute generatorURL: Grafana's Explore on the rule's query, with the Loki datasource.
    assert (cfg["ruler"]["external_url"], cfg["ruler"]["datasource_uid"]) == ("https://grafana.example.com", "loki")
    assert cfg["ruler"]["alertmanager_client"] == {"basic_auth_username": "ops",
                                                   "basic_auth_password": "${LOKI_ALERTMANAGER_PASSWORD}"}
    compose = yaml.safe_load((rendered / "compose/loki.yml").read_text())["services"]["loki"]
    assert "-config.expand-env=true" in compose["command"]
    assert compose["env_file"] == [f"{rendered}/loki/secrets/alertmanager.env"]
    assert not (rendered / "loki/secrets").exists()  # render-only writes no secret
    # The ruler reads <storage.local.directory>/<tenant>/: the rendered rules directory is mounted there.
    assert f"{rendered}/loki/rules:{cfg['ruler']['storage']['local']['directory']}:ro" in compose["volumes"]


def test_loki_rules_are_in_the_tenant_directory_and_in_the_rulers_format(rendered):
    rules = yaml.safe_load((rendered / "loki/rules/fake/log-alerts.yml").read_text())
    assert validate.check_loki_rules(rules, dashboards.UIDS) == []
    assert [r["alert"] for r in rules["groups"][0]["rules"]] == [a.name for a in log_alerts.LOG_ALERTS]


def test_promtail_config_passes_and_redacts_before_shipping(rendered):
    cfg = yaml.safe_load((rendered / "promtail/promtail.yml").read_text())
    assert validate_logs.check_promtail_config(cfg) == []
    job = cfg["scrape_configs"][0]
    assert job["docker_sd_configs"][0]["host"] == "unix:///var/run/docker.sock"
    assert {"target_label": "job", "replacement": "docker"} in job["relabel_configs"]
    assert {"source_labels": ["__collect"], "regex": "yes", "action": "keep"} == job["relabel_configs"][-1]
    names = [next(iter(s)) for s in job["pipeline_stages"]]
    rules = redaction.rules()
    assert names == ["regex", "template", "labels"] + ["replace"] * len(rules)  # redaction is the last thing done
    assert set(job["pipeline_stages"][2]["labels"]) == {"level"}
    assert validate_logs.replace_stages(cfg) == [(r["expression"], r["replace"]) for r in rules]
    line = '{"level":"error","service":"inference-gateway","message":"card 4111 1111 1111 1111 of a@b.io"}'
    out = validate_logs.redact(line, validate_logs.replace_stages(cfg))
    assert out == '{"level":"error","service":"inference-gateway","message":"card [REDACTED-CARD] of [REDACTED-EMAIL]"}'


def test_a_host_group_with_nothing_to_collect_fails_before_any_host_is_touched(tmp_path):
    inventory = {"all": {"hosts": {"mon1": {}, "edge1": {}},
                         "children": {"monitoring": {"hosts": {"mon1": {}}}, "edge": {"hosts": {"edge1": {}}}}}}
    collection = {"monitoring": [{"docker": {"compose_project": "ai-alerting"}}]}
    for role in ("promtail", "alloy"):
        result = render(tmp_path, [role], hosts="all", inventory=copy.deepcopy(inventory), log_collection=collection)
        assert result.returncode != 0, role
        assert "log_collection declares nothing to collect for host group 'edge' (hosts edge1)" in result.stdout


def test_an_invalid_site_redaction_rule_fails_with_its_name(tmp_path):
    bad = [{"name": "order-ref", "expression": "(?<=order )(\\d+)", "replace": "[REDACTED-ORDER]"}]
    result = render(tmp_path, ["promtail"], promtail_redactions_extra=bad)
    assert result.returncode != 0
    assert "(order-ref): look-around is not supported by RE2" in result.stdout


def test_a_single_monitoring_host_ships_to_the_compose_service_and_others_to_every_monitoring_loki(rendered,
                                                                                                  tmp_path):
    cfg = yaml.safe_load((rendered / "promtail/promtail.yml").read_text())
    assert cfg["clients"] == [{"url": "http://10.0.0.1:3100/loki/api/v1/push"}]
    inventory = {"all": {"hosts": {"mon1": {"ansible_host": "10.0.0.1"}, "mon2": {"ansible_host": "10.0.0.2"},
                                   "inf1": {"ansible_host": "10.0.1.1"}},
                         "children": {"monitoring": {"hosts": {"mon1": {}, "mon2": {}}},
                                      "inference": {"hosts": {"inf1": {}}}}}}
    result = render(tmp_path, ["promtail"], hosts="inference", inventory=inventory)
    assert result.returncode == 0, result.stdout[-3000:]
    cfg = yaml.safe_load((tmp_path / "out/promtail/promtail.yml").read_text())
    assert cfg["clients"] == [{"url": "http://10.0.0.1:3100/loki/api/v1/push"},
                              {"url": "http://10.0.0.2:3100/loki/api/v1/push"}]
    result = render(tmp_path, ["promtail"], hosts="inference", inventory=inventory, stack_single_host=True)
    cfg = yaml.safe_load((tmp_path / "out/promtail/promtail.yml").read_text())
    assert cfg["clients"] == [{"url": "http://loki:3100/loki/api/v1/push"}]


def test_the_labels_the_alerts_select_are_the_labels_promtail_writes(rendered):
    cfg = yaml.safe_load((rendered / "promtail/promtail.yml").read_text())
    job = cfg["scrape_configs"][0]
    written = {r.get("target_label") for r in job["relabel_configs"]} | set(job["pipeline_stages"][2]["labels"])
    for alert in log_alerts.LOG_ALERTS:
        selected = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)\s*\"", alert.expr.split("}")[0]))
        assert selected <= written, (alert.name, selected - written)


def test_loki_config_check_refuses_clear_text_and_stray_dollars(rendered):
    cfg = yaml.safe_load((rendered / "loki/loki.yml").read_text())
    cfg["ruler"]["alertmanager_client"]["basic_auth_password"] = "hunter2-in-clear"
    cfg["server"]["log_prefix"] = "cost$5"
    problems = validate_logs.check_loki_config(cfg)
    assert any("never a clear-text secret" in p for p in problems)
    assert any("server.log_prefix contains a '$'" in p for p in problems)


def test_a_broken_loki_setting_fails_the_role_with_a_clear_message(tmp_path):
    result = render(tmp_path, ["loki"], loki_config_overrides={"compactor": {"retention_enabled": False}})
    assert result.returncode != 0
    assert "compactor.retention_enabled must be true" in result.stdout


def test_offline_mode_skips_loki_and_both_shippers_with_a_message(tmp_path):
    """The local environment's images_mode: no image for Loki, Promtail or Alloy. Each renders and checks its
    configuration, adds no Compose service, and says so in one message."""
    result = render(tmp_path, ["loki", "promtail", "alloy"], stack_render_only=False, images_mode="offline")
    assert result.returncode == 0, result.stdout[-3000:]
    for component, config in (("Loki", "loki/loki.yml"), ("Promtail", "promtail/promtail.yml"),
                              ("Alloy", "alloy/config.alloy")):
        assert result.stdout.count(f"{component} skipped: images_mode is offline") == 1, component
        assert (tmp_path / "out" / config).is_file(), config
    assert alloy.check((tmp_path / "out/alloy/config.alloy").read_text()) == []
    assert sorted(p.name for p in (tmp_path / "out/compose").glob("*.yml")) == []


def test_alloy_renders_the_same_shipping_with_a_checked_configuration(tmp_path):
    inventory = {"all": {"hosts": {"mon1": {"ansible_host": "10.0.0.1"}, "inf1": {"ansible_host": "10.0.1.1"}},
                         "children": {"monitoring": {"hosts": {"mon1": {}}}, "inference": {"hosts": {"inf1": {}}}}}}
    result = render(tmp_path, ["alloy"], hosts="inference", inventory=inventory)
    assert result.returncode == 0, result.stdout[-3000:]
    text = (tmp_path / "out/alloy/config.alloy").read_text()
    assert alloy.check(text) == []
    assert 'url = "http://10.0.0.1:3100/loki/api/v1/push"' in text
    assert text.count("stage.replace {") == len(redaction.rules()) and 'replace    = "[REDACTED-SSN]"' in text
    # The inference host ships the declared workloads (built-in default: no log_collection in this inventory).
    assert '"/?(?:(?:.+[-_])?inference-gateway(?:[-_]\\\\d+)?)"' in text
    compose = yaml.safe_load((tmp_path / "out/compose/alloy.yml").read_text())["services"]["alloy"]
    assert compose["image"].startswith("docker.io/grafana/alloy:v1.")
    # Containers only: the Docker socket, read-only at the path the configuration names; no journal, no file mount.
    assert 'host             = "unix:///var/run/docker.sock"' in text
    assert [v for v in compose["volumes"] if v.startswith("/") and "config.alloy" not in v] == [
        "/var/run/docker.sock:/var/run/docker.sock:ro"]


@pytest.mark.parametrize("role", ["promtail", "alloy"])
def test_the_shipper_mounts_the_hosts_log_sources_read_only_once(tmp_path, role):
    """Journal (with machine-id), declared file directories and a non-default Docker socket, each mounted once,
    read-only, at the path the generated configuration reads."""
    collection = {"all": [{"docker": {"compose_project": "ai-alerting"}},
                          {"service": "model", "file": {"paths": ["/srv/model/*.log", "/srv/model/old/*.log"]}}],
                  "monitoring": [{"service": "gpu", "journald": {"units": ["nvidia-persistenced.service"]}},
                                 {"service": "app", "journald": {"units": ["app.service"]}}]}
    socket = "/run/user/1000/docker.sock"
    result = render(tmp_path, [role], log_collection=collection, **{f"{role}_docker_socket": socket})
    assert result.returncode == 0, result.stdout[-3000:]
    compose = yaml.safe_load((tmp_path / f"out/compose/{role}.yml").read_text())["services"][role]
    host_paths = [v for v in compose["volumes"] if v.startswith("/") and "/etc/" + role not in v.split(":")[1]]
    assert host_paths == [f"{p}:{p}:ro" for p in [socket, "/var/log/journal", "/run/log/journal", "/etc/machine-id",
                                                  "/srv/model"]]
    config = next((tmp_path / "out" / role).iterdir()).read_text()
    assert f"unix://{socket}" in config and "/srv/model/old/*.log" in config
    # The journal source names no path, so journald's default directories (persistent and volatile) are both read.
    if role == "alloy":
        journal = config.split('loki.source.journal "units" {', 1)[1].split("}", 1)[0]
        assert "max_age" in journal and "path" not in journal
    else:
        jobs = {j["job_name"]: j for j in yaml.safe_load(config)["scrape_configs"]}
        assert jobs["journal"]["journal"] == {"max_age": "12h"}


# --- the log shipper that site.yml selects (log_shipper) ------------------------------------------------------------

def production_sources(host: str) -> list[dict]:
    """The sources production's inventory declares for a host (its log_collection rendered with its hostvars)."""
    inventory = ansible.inventory_vars("production")
    hostvars = inventory["_meta"]["hostvars"][host]
    collection = yaml.safe_load(jinja2.Template(yaml.safe_dump(hostvars["log_collection"])).render(**hostvars))
    names = [g for g, body in inventory.items() if g not in ("_meta", "all") and host in body.get("hosts", [])]
    return log_sources.host_sources(collection, names)


def render_site(tmp_path: Path, inventory: Path, limit: str, **extra) -> tuple[subprocess.CompletedProcess, Path]:
    """`invoke render`'s run of the real site.yml (render-only, local connection) for the hosts of `limit`."""
    out = tmp_path / "site"
    variables = {"stack_render_only": True, "stack_render_dir": str(out), "ansible_connection": "local",
                 "ansible_python_interpreter": sys.executable, "ansible_become": False, **extra}
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(REPO_ROOT / "site.yml"), "--limit", limit,
           "-e", f"@{inventory / 'vault.example.yml'}", "-e", json.dumps(variables)]
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"), "ANSIBLE_GATHERING": "explicit",
           "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900), out


def test_production_ships_with_alloy_and_every_host_gets_its_declared_selectors(rendered_envs):
    inventory = ansible.inventory_vars("production")
    push = [f"http://{inventory['_meta']['hostvars'][h]['ansible_host']}:3100/loki/api/v1/push"
            for h in inventory["monitoring"]["hosts"]]
    gpu_hosts = set(inventory["gpu"]["hosts"])
    for host, root in sorted(rendered_envs["production"].items()):
        assert inventory["_meta"]["hostvars"][host]["log_shipper"] == "alloy"
        assert not (root / "promtail").exists() and not (root / "compose/promtail.yml").exists(), host
        text = (root / "alloy/config.alloy").read_text()
        assert alloy.check(text) == [], host
        sources = production_sources(host)
        print(f"\n{host}:", *log_sources.selectors(sources), sep="\n  ")
        # Exactly the configuration of the host's declared sources, to every monitoring host's Loki.
        assert text == alloy.config(push, redaction.rules(), sources, host, "production"), host
        for source in sources:
            if "service" in source:
                assert f'replacement   = "{source["service"]}"' in text, (host, source)
        assert ("nvidia-fabricmanager\\\\.service" in text) is (host in gpu_hosts), host
        compose = yaml.safe_load((root / "compose/alloy.yml").read_text())["services"]["alloy"]
        mounts = [v for v in compose["volumes"] if v.startswith("/") and "config.alloy" not in v]
        journal = [f"{p}:{p}:ro" for p in log_sources.JOURNAL_MOUNTS] if host in gpu_hosts else []
        assert mounts == ["/var/run/docker.sock:/var/run/docker.sock:ro"] + journal, host


def test_alloy_is_the_default_when_the_inventory_does_not_choose(tmp_path):
    inventory = tmp_path / "inventory"
    shutil.copytree(INVENTORIES / "production", inventory)
    main = inventory / "group_vars/all/main.yml"
    main.write_text(re.sub(r"(?m)^log_shipper:.*\n", "", main.read_text()))
    assert "log_shipper" not in yaml.safe_load(main.read_text())
    result, out = render_site(tmp_path, inventory, "prd-gpu-01")
    assert result.returncode == 0, result.stdout[-3000:]
    root = out / "prd-gpu-01/opt/ai-alerting"
    assert alloy.check((root / "alloy/config.alloy").read_text()) == []
    assert (root / "compose/alloy.yml").is_file() and not (root / "promtail").exists()


def test_log_shipper_promtail_renders_promtail_instead(tmp_path):
    result, out = render_site(tmp_path, INVENTORIES / "production", "prd-gpu-01,prd-inference-01",
                              log_shipper="promtail")
    assert result.returncode == 0, result.stdout[-3000:]
    for host in ("prd-gpu-01", "prd-inference-01"):
        root = out / host / "opt/ai-alerting"
        assert not (root / "alloy").exists() and not (root / "compose/alloy.yml").exists(), host
        cfg = yaml.safe_load((root / "promtail/promtail.yml").read_text())
        assert validate_logs.check_promtail_config(cfg) == [], host
        assert [j["job_name"] for j in cfg["scrape_configs"]] == (["docker", "journal"] if host == "prd-gpu-01"
                                                                  else ["docker"]), host
        compose = yaml.safe_load((root / "compose/promtail.yml").read_text())["services"]["promtail"]
        assert "/var/run/docker.sock:/var/run/docker.sock:ro" in compose["volumes"], host
        assert ("/etc/machine-id:/etc/machine-id:ro" in compose["volumes"]) is (host == "prd-gpu-01"), host


def test_an_unknown_log_shipper_fails_preflight_naming_it():
    run = ansible.playbook("production", playbook="playbooks/preflight.yml", extra_vars={"log_shipper": "fluentbit"},
                           echo=False)
    assert not run.ok
    assert "log_shipper is 'fluentbit', it must be alloy" in run.output
    # It is the first check: no role's preflight ran, no host was touched (preflight runs on the controller).
    assert "Validate the stack-wide variables" not in run.output
