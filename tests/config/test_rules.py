"""The generated rule files, checked by Prometheus's own tool: `promtool check rules` and `promtool test rules`.

The suites live in tests/rules/ (see its README): behaviour suites run against rule files without annotations and
list only series labels (the rule's own labels are merged in here); annotations_test.yml checks exact annotation text.
"""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from alertstack.catalog import RUNBOOK_SLUGS, alert_names
from alertstack.defaults import default_slos
from alertstack.rules import dump_yaml, rule_files
from alertstack.tools import promtool

pytestmark = pytest.mark.docker

SUITES = Path(__file__).resolve().parent.parent / "rules"
RUNBOOKS = "https://runbooks.test"
GRAFANA = "https://grafana.test/d"


def _strip_annotations(text: str) -> tuple[str, dict[str, dict]]:
    """Rule file text without annotations, and {alertname: labels the rule sets}."""
    data = yaml.safe_load(text)
    labels: dict[str, dict] = {}
    for group in data["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                rule.pop("annotations", None)
                labels[rule["alert"]] = rule.get("labels", {})
    return dump_yaml(data), labels


def prepare(workdir: Path) -> tuple[list[str], set[str]]:
    """Write rule files and suites into workdir; return (suite file names, alert names that have test cases)."""
    files = rule_files(default_slos(), RUNBOOKS, GRAFANA)
    (workdir / "full").mkdir()
    rule_labels: dict[str, dict] = {}
    for name, text in files.items():
        (workdir / "full" / name).write_text(text)
        stripped, labels = _strip_annotations(text)
        (workdir / name).write_text(stripped)
        rule_labels.update(labels)
    suites, tested = [], set()
    for path in sorted(SUITES.glob("*_test.yml")):
        suite = yaml.safe_load(path.read_text())
        if path.name != "annotations_test.yml":
            for test in suite["tests"]:
                for case in test.get("alert_rule_test", []):
                    assert case["alertname"] in rule_labels, f"{path.name}: no rule named {case['alertname']}"
                    tested.add(case["alertname"])
                    for exp in case.get("exp_alerts") or []:
                        exp["exp_labels"] = {**copy.deepcopy(rule_labels[case["alertname"]]),
                                             **(exp.get("exp_labels") or {})}
        (workdir / path.name).write_text(dump_yaml(suite))
        suites.append(path.name)
    return suites, tested


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rules")


def test_promtool_check_rules_accepts_every_generated_file(tmp_path):
    files = rule_files(default_slos(), RUNBOOKS, GRAFANA)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = promtool(["check", "rules", *[f"/w/{n}" for n in files]], {tmp_path: "/w"})
    assert result.ok, result.output
    assert result.output.count("SUCCESS") == len(files)


def test_promtool_check_rules_rejects_a_broken_expression(tmp_path):
    """The check above can fail: a broken expression in an extra file is reported by promtool."""
    extra = {"broken.yml": {"groups": [{"name": "broken", "rules": [{
        "alert": "Broken", "expr": "sum(rate(x[5m])", "labels": {"severity": "info", "team": "platform",
                                                                  "service": "monitoring"},
        "annotations": {"summary": "s", "description": "d", "runbook": "watchdog", "dashboard": "oncall-overview"}}]}]}}
    text = rule_files(default_slos(), RUNBOOKS, GRAFANA, extra)["broken.yml"]
    (tmp_path / "broken.yml").write_text(text)
    result = promtool(["check", "rules", "/w/broken.yml"], {tmp_path: "/w"})
    assert not result.ok
    assert "broken.yml" in result.output


def test_promtool_test_rules_suites_pass(workdir):
    suites, _ = prepare(workdir)
    result = promtool(["test", "rules", *suites], {workdir: "/w"}, workdir="/w", timeout=600)
    assert result.ok, result.output
    assert result.output.count("SUCCESS") == len(suites), result.output


def test_every_alert_has_a_firing_and_a_silent_case():
    """Every Prometheus alert appears in a suite with a case that expects it and one that expects nothing."""
    fires, silent = set(), set()
    for path in SUITES.glob("*_test.yml"):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                (fires if case.get("exp_alerts") else silent).add(case["alertname"])
    names = set(alert_names())
    assert names - fires == set(), "alerts without a firing case"
    assert names - silent == {"Watchdog"}, "alerts without a case that must not fire"


def test_runbook_urls_follow_the_catalog():
    files = rule_files(default_slos(), RUNBOOKS, GRAFANA)
    for text in files.values():
        for group in yaml.safe_load(text)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    slug = RUNBOOK_SLUGS[rule["alert"]]
                    assert rule["annotations"]["runbook_url"] == f"{RUNBOOKS}/{slug}.html", rule["alert"]
