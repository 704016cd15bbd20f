"""The grafana role rendered the way `invoke render` does (connection local, stack_render_only, no Docker), and
every file it writes checked against its format; PromQL through the real promtool (Docker)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from alertstack.grafana import validate
from alertstack.grafana.rendered import check_stack_root

REPO = Path(__file__).resolve().parents[2]
SENTINEL_PASSWORD = "sentinel-grafana-password-0123"
SENTINEL_API_PASSWORD = "sentinel-api-password-4567"


def render(tmp: Path, roles: list[str], hosts: str = "monitoring", inventory: dict | None = None,
           **extra) -> subprocess.CompletedProcess:
    """Run the roles on local hosts of a production-like inventory (one monitoring host unless given); files go
    under tmp/out."""
    variables = {
        "stack_root": str(tmp / "out"), "stack_render_only": True, "stack_project": "ai-alerting",
        "stack_network": "ai-alerting", "stack_bind_address": "127.0.0.1", "stack_env": "production",
        "stack_single_host": False, "images_mode": "upstream",
        "runbooks_base_url": "https://runbooks.example.com", "grafana_external_url": "https://grafana.example.com",
        "grafana_admin_password": SENTINEL_PASSWORD, "stack_api_user": "ops",
        "stack_api_password": SENTINEL_API_PASSWORD, **extra,
    }
    inventory = inventory or {"all": {"children": {"monitoring": {"hosts": {"mon1": {}}}}}}
    inventory["all"].setdefault("vars", {}).update(ansible_connection="local", ansible_python_interpreter=sys.executable)
    play = [{"hosts": hosts, "gather_facts": False, "vars": variables,
             "pre_tasks": [{"ansible.builtin.file": {"path": "{{ stack_root }}/compose", "state": "directory",
                                                     "mode": "0755"}}],
             "roles": roles,
             # As playbooks/services.yml: the stack role writes every Compose file the roles added.
             "tasks": [{"ansible.builtin.include_role": {"name": "stack", "tasks_from": "converge"}}]}]
    (tmp / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (tmp / "play.yml").write_text(yaml.safe_dump(play))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
           "ANSIBLE_FILTER_PLUGINS": str(REPO / "filter_plugins"), "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(tmp / "inventory.yml"),
                           str(tmp / "play.yml")], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("grafana")
    result = render(tmp, ["grafana"])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return tmp / "out"


def test_render_writes_the_complete_grafana_configuration(rendered):
    files = sorted(str(p.relative_to(rendered)) for p in rendered.rglob("*") if p.is_file())
    assert files == [
        "compose/grafana.yml",
        "grafana/dashboards/inference-service.json", "grafana/dashboards/ml-monitoring.json",
        "grafana/dashboards/oncall-overview.json", "grafana/dashboards/slo-overview.json",
        "grafana/grafana.ini",
        "grafana/provisioning/alerting/log-alerts.yml", "grafana/provisioning/dashboards/ai-alerting.yml",
        "grafana/provisioning/datasources/datasources.yml",
    ]


def test_rendered_files_pass_every_format_check(rendered):
    problems, exprs = validate.check_grafana_tree(rendered / "grafana")
    assert problems == []
    assert len(exprs) >= 40
    # the SLO dashboard's queries read the generated SLO recording rules, checked by promtool like the others
    assert any("slo:error_budget:exhaustion_seconds" in e for _, e in exprs)
    assert check_stack_root(rendered) == ([], exprs)


def test_alert_annotations_keep_grafana_templates_and_use_the_environment_urls(rendered):
    rules = yaml.safe_load((rendered / "grafana/provisioning/alerting/log-alerts.yml").read_text())
    rule = rules["groups"][0]["rules"][0]
    assert "{{ $values.B.Value }}" in rule["annotations"]["description"]
    assert rule["annotations"]["runbook_url"] == "https://runbooks.example.com/feature-store.html"
    assert rule["annotations"]["dashboard_url"] == "https://grafana.example.com/d/ml-monitoring"
    dash = json.loads((rendered / "grafana/dashboards/inference-service.json").read_text())
    legends = [t.get("legendFormat") for p in dash["panels"] for t in p.get("targets", [])]
    assert "{{endpoint}} {{model}}" in legends  # Grafana's own templates survive Ansible templating


def test_security_settings_and_no_secret_in_the_rendered_output(rendered):
    ini = (rendered / "grafana/grafana.ini").read_text()
    assert "[auth.anonymous]\nenabled = false" in ini and "allow_sign_up = false" in ini
    assert "root_url = https://grafana.example.com" in ini
    compose = yaml.safe_load((rendered / "compose/grafana.yml").read_text())["services"]["grafana"]
    assert compose["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/etc/grafana/secrets/admin_password"
    assert compose["ports"] == ["127.0.0.1:3000:3000"]
    assert not (rendered / "grafana/secrets").exists()
    for path in rendered.rglob("*"):
        if path.is_file():
            assert SENTINEL_PASSWORD not in path.read_text() and SENTINEL_API_PASSWORD not in path.read_text(), path
    ds = yaml.safe_load((rendered / "grafana/provisioning/datasources/datasources.yml").read_text())["datasources"]
    auth = {d["uid"]: (d.get("basicAuthUser"), d.get("secureJsonData")) for d in ds}
    secret_ref = {"basicAuthPassword": "$__file{/etc/grafana/secrets/api_password}"}
    assert auth == {"prometheus": ("ops", secret_ref), "alertmanager": ("ops", secret_ref), "loki": (None, None)}


def test_offline_mode_renders_but_skips_deployment_with_a_message(tmp_path):
    result = render(tmp_path, ["grafana"], stack_render_only=False, images_mode="offline")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Grafana skipped: images_mode is offline" in result.stdout
    assert (tmp_path / "out/grafana/provisioning/datasources/datasources.yml").exists()
    assert not (tmp_path / "out/compose/grafana.yml").exists()
    assert not (tmp_path / "out/grafana/secrets/admin_password").exists()


@pytest.mark.docker
def test_every_promql_expression_parses_with_promtool(rendered):
    _, exprs = validate.check_grafana_tree(rendered / "grafana")
    assert validate.check_promql(exprs) == []


@pytest.mark.docker
def test_promtool_catches_a_broken_panel_query(rendered, tmp_path):
    tree = tmp_path / "grafana"
    subprocess.run(["cp", "-r", str(rendered / "grafana"), str(tree)], check=True)
    path = tree / "dashboards/inference-service.json"
    model = json.loads(path.read_text())
    panel = next(p for p in model["panels"] if p.get("title") == "Request rate by endpoint and model")
    panel["targets"][0]["expr"] = "sum by (endpoint (rate(inference_requests_total[$__rate_interval]))"
    path.write_text(json.dumps(model))
    problems, exprs = validate.check_grafana_tree(tree)
    assert problems == []  # structurally fine: only PromQL parsing can tell
    promql = validate.check_promql(exprs)
    assert len(promql) == 1
    assert "Request rate by endpoint and model" in promql[0] and "parse error" in promql[0]
