"""Promtail's configuration checks and what its redaction stages leave of a log line (the replace stage emulated
with the RE2 engine; the full corpus is tests/unit/test_log_redaction.py)."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from alertstack.logs import alerts as log_alerts
from alertstack.logs import redaction
from alertstack.logs import validate as validate_logs

DEFAULTS = Path(__file__).resolve().parents[2] / "roles" / "promtail" / "defaults" / "main.yml"


@pytest.fixture(scope="module")
def stages():
    return [(r["expression"], r["replace"]) for r in redaction.rules()]


def test_the_role_takes_the_shared_rules_and_only_adds_site_rules():
    defaults = yaml.safe_load(DEFAULTS.read_text())
    assert "promtail_redactions" not in defaults and defaults["promtail_redactions_extra"] == []


def _line(message: str) -> str:
    return json.dumps({"ts": "2026-11-26T21:55:11.123Z", "level": "info", "service": "inference-gateway",
                       "message": message, "request_id": "9f1c2d3e4a5b6c7d", "latency_ms": 1234567890123})


@pytest.mark.parametrize("pii,marker", [
    ("123-45-6789", "[REDACTED-SSN]"),
    ("4111 1111 1111 1111", "[REDACTED-CARD]"),
    ("4111-1111-1111-1111", "[REDACTED-CARD]"),
    ("4111111111111111", "[REDACTED-CARD]"),
    ("jane.doe+test@example.co.uk", "[REDACTED-EMAIL]"),
    ("(555) 123-4567", "[REDACTED-PHONE]"),
    ("+1 555-123-4567", "[REDACTED-PHONE]"),
    ("555.123.4567", "[REDACTED-PHONE]"),
])
def test_pii_is_masked_before_shipping(stages, pii, marker):
    out = validate_logs.redact(_line(f"user data {pii} end"), stages)
    assert pii not in out and marker in out
    assert json.loads(out)["message"] == f"user data {marker} end"  # the line stays valid JSON


def test_timestamps_ids_and_numbers_are_left_alone(stages):
    line = _line("scored 3 items in 0.153s for model fraud-v2 at 1700000000")
    assert validate_logs.redact(line, stages) == line


def test_the_pii_alert_matches_every_redaction_marker(stages):
    import re
    pattern = re.compile(log_alerts.PII_LINE_REGEX)
    for _, marker in stages:
        assert pattern.search(f"x {marker} y")
    assert not pattern.search(_line("a normal prediction request"))


def test_promtail_config_check_catches_broken_stages():
    cfg = {"server": {"http_listen_port": 9080}, "positions": {"filename": "/p.yml"},
           "clients": [{"url": "http://loki:3100/loki/api/v1/push"}],
           "scrape_configs": [{"job_name": "docker", "docker_sd_configs": [{"host": "unix:///var/run/docker.sock"}],
                               "pipeline_stages": [{"json": {"expressions": {"level": "level"}}}]}]}
    assert validate_logs.check_promtail_config(cfg) == []
    for stage, expected in [({"replace": {"expression": "(unclosed", "replace": "x"}}, "invalid regular expression"),
                            ({"replace": {"expression": r"\d{3}", "replace": "x"}}, "needs a capture group"),
                            ({"redact": {}}, "unknown pipeline stage 'redact'"),
                            ({"json": {"level": "level"}}, "json needs an `expressions` mapping")]:
        bad = copy.deepcopy(cfg)
        bad["scrape_configs"][0]["pipeline_stages"].append(stage)
        assert any(expected in p for p in validate_logs.check_promtail_config(bad)), stage
    bad = copy.deepcopy(cfg)
    bad["clients"][0]["url"] = "http://loki:3100"
    assert any("push URL" in p for p in validate_logs.check_promtail_config(bad))
