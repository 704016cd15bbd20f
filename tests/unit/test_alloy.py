"""The Alloy alternative to Promtail: generated configuration and the checker of its syntax and references."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alertstack.logs import alloy, redaction
from alertstack.logs import sources as log_sources

ROLES = Path(__file__).resolve().parents[2] / "roles"
SOURCES = log_sources.host_sources(log_sources.default_collection("ai-alerting"), ["gpu", "inference"]) + [
    {"service": "model-server", "file": {"paths": ["/var/log/model/*.log"]}}]


@pytest.fixture(scope="module")
def redactions():
    return redaction.rules()


@pytest.fixture(scope="module")
def text(redactions):
    return alloy.config(["http://loki:3100/loki/api/v1/push"], redactions, SOURCES, "h1", "production")


def test_alloy_and_promtail_take_the_same_rules_and_collection():
    alloy_defaults = yaml.safe_load((ROLES / "alloy/defaults/main.yml").read_text())
    promtail_defaults = yaml.safe_load((ROLES / "promtail/defaults/main.yml").read_text())
    assert alloy_defaults["alloy_redactions_extra"] == promtail_defaults["promtail_redactions_extra"] == []
    assert alloy_defaults["alloy_log_collection"] == promtail_defaults["promtail_log_collection"].replace(
        "promtail", "alloy")


def test_the_generated_configuration_passes(text, redactions):
    assert alloy.check(text) == []
    root = alloy.parse(text)
    assert [(b.name, b.label) for b in root.blocks] == [
        ("discovery.docker", "containers"), ("discovery.relabel", "containers"), ("loki.source.docker", "containers"),
        ("discovery.relabel", "journal"), ("loki.source.journal", "units"), ("local.file_match", "files"),
        ("loki.source.file", "files"), ("loki.process", "logs"), ("loki.write", "default")]
    stages = [b for b in root.blocks[7].blocks]
    assert [s.name for s in stages] == ["stage.regex", "stage.template", "stage.labels"] + ["stage.replace"] * len(
        redactions)
    # The same expressions, in the same order, as the Promtail replace stages; escapes survive the round trip.
    assert [(s.attrs["expression"], s.attrs["replace"]) for s in stages[3:]] == [
        (r["expression"], r["replace"]) for r in redactions]
    assert stages[0].attrs["expression"] == log_sources.LEVEL_EXPRESSION


def test_the_docker_relabel_rules_are_the_promtail_ones(text):
    """Alloy's discovery.relabel carries the rules Promtail's docker job relabels with (same selection, labels)."""
    root = alloy.parse(text)
    rules = [b.attrs for b in root.blocks[1].blocks]
    promtail = [j for j in log_sources.promtail_scrape_configs(SOURCES, "h1", "production")
                if j["job_name"] == "docker"][0]["relabel_configs"]
    assert rules == [{k: v for k, v in r.items() if k != "separator"} for r in promtail]
    files = root.blocks[5].attrs["path_targets"]
    assert files == [{"__path__": "/var/log/model/*.log", "service": "model-server", "job": "file", "host": "h1",
                      "env": "production"}]


@pytest.mark.parametrize("old,new,expected", [
    ("loki.process.logs.receiver", "loki.process.lgs.receiver", "no component loki.process.lgs"),
    ("discovery.docker.containers.targets", "discovery.docker.containers.output", "exports no 'output'"),
    ('refresh_interval = "10s"', 'refresh_interval = "10s', "syntax"),
    ('loki.write "default" {', 'loki.writer "default" {', "unknown or unexpected component 'loki.writer'"),
    ("\\\\b(eyJ", "\\\\b((eyJ", "invalid regular expression"),
    ("(?P<level>", "(?<=x)(?P<level>", "look-around"),
    ('url = "http://loki:3100/loki/api/v1/push"', 'url = "http://loki:3100"', "push URL"),
])
def test_broken_configurations_are_caught(text, old, new, expected):
    assert old in text
    problems = alloy.check(text.replace(old, new, 1))
    assert any(expected in p for p in problems), problems
