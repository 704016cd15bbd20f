"""The shared redaction rules (alertstack/logs/redaction.yml) against a corpus of sensitive samples and benign
look-alikes, applied with the RE2 engine (google-re2) in the order Promtail and Alloy apply their replace stages."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import re2
import yaml

from alertstack.logs import alerts as log_alerts
from alertstack.logs import redaction
from alertstack.logs import validate as validate_logs

CORPUS = yaml.safe_load((Path(__file__).with_name("redaction_corpus.yml")).read_text())
SENSITIVE, BENIGN = CORPUS["sensitive"], CORPUS["benign"]
ACCEPTED = CORPUS["accepted_false_positives"]


def _id(line: str) -> str:
    return line[:60]


def test_the_corpus_is_large_enough_and_covers_every_kind():
    assert len(SENSITIVE) + len(BENIGN) >= 60
    assert {s["marker"] for s in SENSITIVE} == {"SECRET", "CARD", "PHONE", "IBAN", "EMAIL", "SSN", "ID"}
    assert {r["replace"] for r in redaction.rules()} == {f"[REDACTED-{m}]" for m in
                                                         {s["marker"] for s in SENSITIVE}}


def test_every_rule_compiles_with_re2_and_has_one_capture_group():
    assert redaction.problems(redaction.rules()) == []
    for r in redaction.rules():
        assert re2.compile(r["expression"]).groups == 1, r["name"]


@pytest.mark.parametrize("sample", SENSITIVE, ids=[_id(s["line"]) for s in SENSITIVE])
def test_sensitive_samples_vanish(sample):
    out = redaction.apply(sample["line"])
    leaked = [str(v) for v in sample["vanish"] if str(v) in out]
    assert leaked == [], f"leaked {leaked}: {out}"
    assert f"[REDACTED-{sample['marker']}]" in out, out
    if sample["line"].startswith("{"):
        json.loads(out)  # a JSON line stays JSON (no escape cut in half)


@pytest.mark.parametrize("line", BENIGN, ids=[_id(b) for b in BENIGN])
def test_benign_look_alikes_survive(line):
    assert redaction.apply(line) == line


@pytest.mark.parametrize("sample", ACCEPTED, ids=[_id(a["line"]) for a in ACCEPTED])
def test_the_documented_false_positives_are_real(sample):
    """docs/log-redaction.md lists these as accepted: keep the document honest."""
    assert f"[REDACTED-{sample['marker']}]" in redaction.apply(sample["line"])
    assert sample["line"] in Path(__file__).resolve().parents[2].joinpath("docs/log-redaction.md").read_text()


def test_counts(capsys):
    """The figures quoted in docs/log-redaction.md."""
    redacted = sum(all(str(v) not in redaction.apply(s["line"]) for v in s["vanish"]) for s in SENSITIVE)
    preserved = sum(redaction.apply(b) == b for b in BENIGN)
    with capsys.disabled():
        print(f"\nredaction corpus: {redacted}/{len(SENSITIVE)} sensitive redacted, {len(SENSITIVE) - redacted} "
              f"leaked, {preserved}/{len(BENIGN)} benign preserved")
    assert (redacted, preserved) == (len(SENSITIVE), len(BENIGN))


def test_replacement_follows_promtail_semantics():
    """Only the capture group is replaced, every match, stage after stage on the previous result."""
    stages = [(r"user=(\w+)", "[REDACTED-USER]"), (r"(\[REDACTED-USER\])", "X")]
    assert validate_logs.redact("user=a user=b keep", stages) == "user=X user=X keep"
    assert validate_logs.redact("no match", stages) == "no match"


def test_re2_refuses_what_python_re_accepts():
    bad = [{"name": "lookbehind", "expression": r"(?<=card )(\d{16})", "replace": "[REDACTED-CARD]"},
           {"name": "backref", "expression": r"(\d)\1", "replace": "[REDACTED-X]"},
           {"name": "possessive", "expression": r"(\d++)", "replace": "[REDACTED-X]"},
           {"name": "two-groups", "expression": r"(a)(b)", "replace": "[REDACTED-X]"},
           {"name": "marker", "expression": r"(a)", "replace": "***"}]
    problems = redaction.problems(bad)
    for name, expected in [("lookbehind", "look-around"), ("backref", "back-references"), ("possessive", "RE2"),
                           ("two-groups", "exactly one capture group"), ("marker", "must be a marker")]:
        assert any(f"({name})" in p and expected in p for p in problems), (name, problems)


def test_the_pii_alert_counts_every_marker_and_ignores_normal_lines():
    pattern = re2.compile(log_alerts.PII_LINE_REGEX)
    for r in redaction.rules():
        assert pattern.search(f"x {r['replace']} y"), r["replace"]
    for line in BENIGN:
        assert not pattern.search(redaction.apply(line)), line
