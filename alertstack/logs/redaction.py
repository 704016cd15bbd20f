"""The log redaction rules (alertstack/logs/redaction.yml), their checks, and what they leave of a line.

One list feeds both shippers: Promtail gets one `replace` stage per rule, Alloy one `stage.replace`, in file order.
`apply` runs them with the RE2 engine the way both shippers do (validate.redact).
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from alertstack.logs.logql import LogQLError, check_regex, compile_re2
from alertstack.logs.validate import redact

RULES_FILE = Path(__file__).with_name("redaction.yml")
MARKER = re.compile(r"^\[REDACTED-[A-Z]+\]$")
# What the PIIInLogs alert searches for: any marker a rule writes.
MARKER_REGEX = r"\[REDACTED-[A-Z]+\]"


def rules() -> list[dict]:
    """The built-in rules, in the order they are applied: [{name, expression, replace}]."""
    return yaml.safe_load(RULES_FILE.read_text())["redactions"]


def effective(extra: list[dict] | None = None) -> list[dict]:
    """The built-in rules, then the site's extra ones (the roles' *_redactions_extra)."""
    return rules() + list(extra or [])


def problems(redactions: list[dict], where: str = "redactions") -> list[str]:
    """What is wrong with a list of rules ([] = OK): names, RE2 syntax, exactly one capture group, markers."""
    out, seen = [], set()
    if not isinstance(redactions, list):
        return [f"{where}: must be a list of {{name, expression, replace}}"]
    for i, r in enumerate(redactions):
        w = f"{where}[{i}]"
        if not (isinstance(r, dict) and {"name", "expression", "replace"} <= set(r)):
            out.append(f"{w}: needs name, expression and replace, got {r!r}")
            continue
        w = f"{where}[{i}] ({r['name']})"
        if r["name"] in seen:
            out.append(f"{w}: name used twice")
        seen.add(r["name"])
        try:
            check_regex(r["expression"])
        except LogQLError as exc:
            out.append(f"{w}: {exc}")
            continue
        groups = compile_re2(r["expression"]).groups
        if groups != 1:
            out.append(f"{w}: needs exactly one capture group (the text replaced), has {groups}; use (?:...) "
                       "for the others")
        if not MARKER.match(str(r["replace"])):
            out.append(f"{w}: replace must be a marker like [REDACTED-CARD] (what the PIIInLogs alert counts), "
                       f"got {r['replace']!r}")
    return out


def apply(line: str, redactions: list[dict] | None = None) -> str:
    """The line as it leaves the host."""
    return redact(line, [(r["expression"], r["replace"]) for r in (rules() if redactions is None else redactions)])
