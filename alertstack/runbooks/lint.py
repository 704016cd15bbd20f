"""The checks of the runbook pages; each returns a list of problems (plain strings naming the page and what is
wrong), [] when all is well. `lint_runbooks()` runs them all over a directory (`invoke lint`); `directory_problems()`
is the quick subset the runbooks role asserts before it renders."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Mapping

import yaml

from alertstack.runbooks.commands import check_commands_exist
from alertstack.runbooks.pages import (ALERTS_SECTION, RUNBOOKS_DIR, Runbook, load_runbooks, logql_queries,
                                       promql_queries, shell_commands)

REQUIRED_SECTIONS = (
    "Overview",
    "Impact",
    "Symptoms",
    "Triage",
    "Investigation",
    "Mitigation",
    "Escalation",
    "Post-incident tasks",
)

# Metric names the demo platform exports (apps/). Histograms expand to their series.
DEMO_PLATFORM_METRICS = frozenset({
    "inference_requests_total",
    "inference_request_duration_seconds_bucket",
    "inference_request_duration_seconds_count",
    "inference_request_duration_seconds_sum",
    "model_load_errors_total",
    "feature_fetch_total",
    "feature_fetch_errors_total",
    "feature_missing_total",
    "inference_gpu_utilization_percent",
    "inference_gpu_memory_used_bytes",
    "inference_gpu_memory_total_bytes",
    "model_drift_psi",
    "model_performance_metric",
    "model_feedback_total",
    "model_feedback_window_labels",
    "model_fairness_metric",
    "inference_input_validation_failures_total",
})
# Series every Prometheus has about itself and its targets, and the self-metrics of the stack's components.
SELF_METRICS = frozenset({"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds", "scrape_samples_scraped",
                          "scrape_samples_post_metric_relabeling", "scrape_series_added"})
SELF_METRIC_PREFIXES = ("prometheus_", "alertmanager_", "node_")


def _section_for(page: Runbook, required: str) -> str | None:
    for heading in page.sections:
        if heading.lower().startswith(required.lower()):
            return heading
    return None


def missing_sections(page: Runbook) -> list[str]:
    """Required sections the page lacks, or has with an empty body."""
    missing = []
    for required in REQUIRED_SECTIONS:
        heading = _section_for(page, required)
        if heading is None or not page.sections[heading].strip():
            missing.append(required)
    if not page.alerts:
        missing.append(f"{ALERTS_SECTION} (a `### AlertName` heading per alert)")
    return missing


def format_problems(page: Runbook) -> list[str]:
    """Markdown that would not render or not be checked: indented fences (python-markdown renders fences only at
    the left margin, so a fence inside a list item shows as text), and code blocks without a language tag."""
    problems = []
    for number, line in enumerate(page.text.splitlines(), 1):
        if re.match(r"^[ \t]+```", line):
            problems.append(f"line {number}: indented code fence (put fences at the left margin)")
    problems += [f"code block in section {b.section!r} has no language tag" for b in page.code_blocks if not b.lang]
    return problems


# --- PromQL -------------------------------------------------------------------------------------------------------

_PROMQL_KEYWORDS = frozenset({
    "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or", "unless",
    "inf", "nan", "start", "end", "atan2",
})
_GROUPING_RE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")


def promql_metric_names(query: str) -> set[str]:
    """Metric names a PromQL query selects (a lexical scan; promtool checks the syntax)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', '""', query)  # string literals
    text = re.sub(r"#[^\n]*", "", text)
    text = re.sub(r"\{[^{}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\[\]]*\]", " ", text)  # ranges and subqueries
    text = _GROUPING_RE.sub(" ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.:])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _PROMQL_KEYWORDS:
            continue
        if re.fullmatch(r"\d+[smhdwy]", name):
            continue
        names.add(name)
    # a selector that is only label matchers: {__name__="x"}
    names.update(re.findall(r'__name__\s*=\s*"([A-Za-z_:][A-Za-z0-9_:]*)"', query))
    return names


def gpu_metrics() -> set[str]:
    """Series of GPU hosts: the DCGM fields of the exporter's counters file (the demo platform's simulated GPU
    exports the same names) and the inventory's declared GPU count (alertstack.gpu)."""
    from alertstack import gpu

    return gpu.metric_names(gpu.default_counters()) | {gpu.DECLARED_RECORD}


def unknown_metrics(query: str, known: Iterable[str]) -> set[str]:
    """Metric names in `query` that are neither in `known`, the demo platform, GPU hosts nor self-metrics."""
    allowed = set(known) | DEMO_PLATFORM_METRICS | SELF_METRICS | gpu_metrics()
    return {m for m in promql_metric_names(query)
            if m not in allowed and not m.startswith(SELF_METRIC_PREFIXES)}


def promql_rule_file(queries: Iterable[str]) -> str:
    """A Prometheus rule file with one recording rule per query, for `promtool check rules` to parse."""
    rules = [{"record": f"runbook:query_{i}", "expr": q} for i, q in enumerate(queries)]
    return yaml.safe_dump({"groups": [{"name": "runbook-queries", "rules": rules}]}, sort_keys=False)


def promql_syntax_problems(queries: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[str]:
    """Parse every query with promtool (from the Prometheus image, one container for all queries).

    `queries`: (where, query) pairs, `where` naming the page; returns "<where>: <promtool's error>" per bad query.
    """
    import tempfile

    from alertstack.tools import promtool

    items = list(queries.items()) if isinstance(queries, Mapping) else list(queries)
    if not items:
        return []
    with tempfile.TemporaryDirectory(prefix="runbook-promql-") as tmp:
        Path(tmp, "queries.yml").write_text(promql_rule_file(q for _, q in items), encoding="utf-8")
        result = promtool(["check", "rules", "/work/queries.yml"], {tmp: "/work"})
    if result.ok:
        return []
    problems = []
    for line in result.output.splitlines():
        match = re.search(r'"runbook:query_(\d+)": (.*)$', line)
        if match:
            where, query = items[int(match.group(1))]
            problems.append(f"{where}: {match.group(2)} in {query!r}")
    return problems or [f"promtool check rules failed: {result.output}"]


def logql_problems(query: str) -> list[str]:
    """Problems with a LogQL query, from the project's strict LogQL parser (Loki cannot run here). A query that
    starts with a stream selector is a log query; anything else must be a metric query."""
    from alertstack.logs import logql

    return logql.check(query, metric=not query.lstrip().startswith("{"))


def stack_recording_rules() -> set[str]:
    """Names of the recording rules the stack deploys (alertstack.rules with the default SLOs)."""
    from alertstack.defaults import default_slos
    from alertstack.rules import rule_files

    names: set[str] = set()
    for text in rule_files(default_slos(), "http://runbooks.invalid", "http://grafana.invalid").values():
        for group in (yaml.safe_load(text) or {}).get("groups") or []:
            names.update(r["record"] for r in group.get("rules") or [] if "record" in r)
    return names


def coverage_problems(pages: Mapping[str, Runbook], alert_slugs: Mapping[str, str]) -> list[str]:
    """Every alert of the catalog has a page that names it under `## Alerts`."""
    problems = []
    for alert, slug in sorted(alert_slugs.items()):
        if slug not in pages:
            problems.append(f"{alert}: runbook page runbooks/{slug}.md does not exist")
        elif alert not in pages[slug].alerts:
            problems.append(f"{alert}: runbooks/{slug}.md has no `### {alert}` heading under `## Alerts`")
    return problems


def directory_problems(source: str | Path = RUNBOOKS_DIR) -> list[str]:
    """Pages under `source` missing a required section, and catalogue alerts without a page naming them (what the
    runbooks role checks before it renders); [] when all is well, one sentence when the directory cannot be read."""
    from alertstack.catalog import RUNBOOK_SLUGS

    try:
        pages = load_runbooks(source)
    except OSError as exc:
        return [str(exc)]
    found = [f"{slug}.md lacks {', '.join(missing)}" for slug, page in pages.items()
             if (missing := missing_sections(page))]
    return found + coverage_problems(pages, RUNBOOK_SLUGS)


def page_problems(page: Runbook, known_records: Iterable[str] = ()) -> list[str]:
    """Everything wrong with one page short of promtool: sections, format, PromQL metrics that exist nowhere (beyond
    `known_records`), LogQL that does not parse, and shell commands that do not exist in this deployment."""
    where = f"{page.slug}.md"
    found = [f"{where} lacks {m}" for m in missing_sections(page)]
    found += [f"{where}: {p}" for p in format_problems(page)]
    for query in promql_queries(page):
        if unknown := unknown_metrics(query, known_records):
            found.append(f"{where}: unknown metrics {', '.join(sorted(unknown))} in {query!r}")
    found += [f"{where}: {p} in {q!r}" for q in logql_queries(page) for p in logql_problems(q)]
    found += [f"{where}: {p}" for p in check_commands_exist(shell_commands(page))]
    return found


def lint_runbooks(source: str | Path = RUNBOOKS_DIR, promtool: bool = True) -> list[str]:
    """Every check of every page under `source` and of the catalogue's coverage; with `promtool`, every PromQL query
    is also parsed by promtool (Docker, the Prometheus image)."""
    from alertstack.catalog import RUNBOOK_SLUGS

    try:
        pages = load_runbooks(source)
    except OSError as exc:
        return [str(exc)]
    records = stack_recording_rules()
    found = [p for page in pages.values() for p in page_problems(page, records)]
    found += coverage_problems(pages, RUNBOOK_SLUGS)
    if promtool:
        found += promql_syntax_problems([(f"{slug}.md", q) for slug, page in sorted(pages.items())
                                         for q in promql_queries(page)])
    return found
