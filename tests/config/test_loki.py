"""The loki and promtail roles rendered like `invoke render` (no Docker), and their files checked."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from alertstack.grafana import alloy, dashboards, log_alerts, redaction, validate, validate_logs

from alertstack.grafana.rendered import check_stack_root
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


def test_offline_mode_skips_loki_and_promtail_with_a_message(tmp_path):
    result = render(tmp_path, ["loki", "promtail"], stack_render_only=False, images_mode="offline")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Loki skipped: images_mode is offline" in result.stdout
    assert "Promtail skipped: images_mode is offline" in result.stdout
    assert not (tmp_path / "out/compose/loki.yml").exists() and (tmp_path / "out/loki/loki.yml").exists()


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
