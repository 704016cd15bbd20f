"""The Alloy alternative to Promtail: generated configuration and the checker of its syntax and references."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alertstack.grafana import alloy

ROLES = Path(__file__).resolve().parents[2] / "roles"


@pytest.fixture(scope="module")
def redactions():
    return yaml.safe_load((ROLES / "promtail/defaults/main.yml").read_text())["promtail_redactions"]


@pytest.fixture(scope="module")
def text(redactions):
    return alloy.config(["http://loki:3100/loki/api/v1/push"], redactions, "ai-alerting", "h1", "production")


def test_alloy_and_promtail_mask_the_same_pii(redactions):
    assert yaml.safe_load((ROLES / "alloy/defaults/main.yml").read_text())["alloy_redactions"] == redactions


def test_the_generated_configuration_passes(text):
    assert alloy.check(text) == []
    root = alloy.parse(text)
    assert [(b.name, b.label) for b in root.blocks] == [
        ("discovery.docker", "containers"), ("discovery.relabel", "containers"), ("loki.source.docker", "containers"),
        ("loki.process", "redact"), ("loki.write", "default")]
    stages = [b for b in root.blocks[3].blocks]
    assert [s.name for s in stages] == ["stage.json", "stage.labels"] + ["stage.replace"] * 4
    assert stages[2].attrs["expression"] == r"\b(\d{3}-\d{2}-\d{4})\b"  # escapes survive the round trip


@pytest.mark.parametrize("old,new,expected", [
    ("loki.process.redact.receiver", "loki.process.redakt.receiver", "no component loki.process.redakt"),
    ("discovery.docker.containers.targets", "discovery.docker.containers.output", "exports no 'output'"),
    ('refresh_interval = "10s"', 'refresh_interval = "10s', "syntax"),
    ('loki.write "default" {', 'loki.writer "default" {', "unknown or unexpected component 'loki.writer'"),
    ("\\\\b(\\\\d{3}-", "\\\\b((\\\\d{3}-", "invalid regular expression"),
    ('url = "http://loki:3100/loki/api/v1/push"', 'url = "http://loki:3100"', "push URL"),
])
def test_broken_configurations_are_caught(text, old, new, expected):
    assert old in text
    problems = alloy.check(text.replace(old, new, 1))
    assert any(expected in p for p in problems), problems
