"""alertstack.rendered: reading back what Ansible rendered, and rendering again only when the inputs changed."""
from __future__ import annotations

import json

import pytest
import yaml

from alertstack import rendered, slo
from alertstack.defaults import default_slos


def _stack_root(path, slos=None) -> rendered.StackRoot:
    (path / "alertmanager").mkdir(parents=True, exist_ok=True)
    (path / "alertmanager" / "alertmanager.yml").write_text(yaml.safe_dump({"route": {"receiver": "a"}}))
    (path / "prometheus" / "rules").mkdir(parents=True, exist_ok=True)
    (path / "prometheus" / "rules" / "a.yml").write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"record": "r", "expr": "1"}, {"alert": "A", "expr": "1", "labels": {"severity": "high"}}]}]}))
    if slos is not None:
        (path / "prometheus" / "slos.json").write_text(json.dumps({"prometheus_slos": slos}))
    return rendered.StackRoot(path)


def test_stack_root_reads_what_ansible_wrote(tmp_path):
    root = _stack_root(tmp_path, default_slos())
    assert root.alertmanager_config() == {"route": {"receiver": "a"}}
    assert root.alert_rules() == [{"alert": "A", "expr": "1", "labels": {"severity": "high"}}]
    assert root.slos() == slo.validate_slos(default_slos())
    assert set(root.slos_by_name()) == {s["name"] for s in default_slos()}


def test_missing_or_invalid_files_are_named(tmp_path):
    root = _stack_root(tmp_path / "old")
    with pytest.raises(rendered.RenderedError, match="slos.json does not exist.*render or deploy it again"):
        root.slos()
    bad = _stack_root(tmp_path / "bad", [{"name": "x"}])
    with pytest.raises(rendered.RenderedError, match="slos.json"):
        bad.slos()
    with pytest.raises(rendered.RenderedError, match="alertmanager.yml does not exist"):
        rendered.StackRoot(tmp_path / "nothing").alertmanager_config()


def test_renders_only_when_the_inputs_changed(tmp_path, monkeypatch):
    from alertstack import render
    calls = []

    def fake_render(env, out, echo=False):
        root = out / env / "host-1" / "opt" / "ai-alerting"
        _stack_root(root, default_slos())
        (root / "compose").mkdir(exist_ok=True)  # how alertstack.render.host_roots finds a stack root
        calls.append(env)
        return out / env

    monkeypatch.setattr(render, "render", fake_render)
    monkeypatch.setattr(rendered, "fingerprint", lambda env: "one")
    root = rendered.for_env("local", out=tmp_path)
    assert root.alertmanager_config() == {"route": {"receiver": "a"}}
    rendered.for_env("local", out=tmp_path)
    assert calls == ["local"]                                        # up to date: read, not rendered again
    monkeypatch.setattr(rendered, "fingerprint", lambda env: "two")  # an input changed
    rendered.for_env("local", out=tmp_path)
    assert calls == ["local", "local"]
    with pytest.raises(rendered.RenderedError, match="nothing for host 'nope'"):
        rendered.for_env("local", out=tmp_path, host="nope")


def test_fingerprint_follows_the_inventory():
    assert rendered.fingerprint("local") != rendered.fingerprint("production")
    assert rendered.fingerprint("local") == rendered.fingerprint("local")


def test_the_local_render_carries_the_inventory_policy_and_slos():
    """On the real render (cached under out/, or $ALERTSTACK_RENDER_CACHE): local's own e-mail address and
    route timing, the SLOs the rules were generated from, and a rule for every SLO alert."""
    local = rendered.for_env("local")
    config = local.alertmanager_config()
    assert config["route"]["group_wait"] == "5s"
    assert any(c.get("to") == "oncall@ai-alerting.local" for r in config["receivers"]
               for c in r.get("email_configs") or [])
    slos = local.slos()
    assert slos == slo.validate_slos(default_slos())  # inventories/local keeps the role's SLOs
    alerts = {r["alert"] for r in local.alert_rules()}
    assert {a.name for s in slos for a in s.alerts} <= alerts
