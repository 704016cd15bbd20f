"""Runbooks: parse the Markdown pages under runbooks/, render them to HTML, and check what they tell on-call to run.

A runbook page (runbooks/<slug>.md) has
- one `# ` title,
- one `## ` section per required section (REQUIRED_SECTIONS; a heading matches when it starts with the name,
  so "## Triage (≤ 5 minutes)" is the Triage section),
- under `## Alerts`, one `### <AlertName>` heading per alert the page covers (the HTML anchor is the alert name),
- fenced code blocks tagged with their language: ```promql, ```logql, ```bash / ```sh.

The checks return lists of problems (plain strings naming the page and what is wrong); an empty list means OK.
"""
from __future__ import annotations

import ast
import html
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import markdown
import yaml
from markdown.extensions.toc import slugify as _default_slugify

from alertstack.paths import REPO_ROOT

RUNBOOKS_DIR = REPO_ROOT / "runbooks"
INDEX_SLUG = "index"

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
ALERTS_SECTION = "Alerts"
SHELL_LANGS = ("bash", "sh", "shell", "console")

# Metric names the demo platform exports (docs: shared contract 4). Histograms expand to their series.
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
    "model_fairness_metric",
    "inference_input_validation_failures_total",
})
# Series every Prometheus has about itself and its targets, and the self-metrics of the stack's components.
SELF_METRICS = frozenset({"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds", "scrape_samples_scraped",
                          "scrape_samples_post_metric_relabeling", "scrape_series_added"})
SELF_METRIC_PREFIXES = ("prometheus_", "alertmanager_", "node_")

# Compose services of the stack (shared contract 5) plus the log shipper.
COMPOSE_PROJECT = "ai-alerting"
KNOWN_SERVICES = frozenset({
    "prometheus", "alertmanager", "node-exporter", "notification-sink", "inference-gateway", "feature-store",
    "drift-monitor", "runbooks", "grafana", "loki", "alloy", "promtail", "dcgm-exporter",
})
FORBIDDEN_COMMANDS = ("kubectl", "helm", "oc")

_ALERT_NAME_RE = re.compile(r"^[A-Z][A-Za-z0-9]+$")
_FENCE_RE = re.compile(r"^```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
_HEADING_RE = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")


@dataclass
class CodeBlock:
    lang: str
    code: str
    section: str  # the `## ` section it is in


@dataclass
class Runbook:
    slug: str
    title: str
    text: str
    sections: dict[str, str] = field(default_factory=dict)  # `## ` heading -> body text
    alerts: list[str] = field(default_factory=list)
    code_blocks: list[CodeBlock] = field(default_factory=list)
    path: Path | None = None


def _clean_heading(text: str) -> str:
    return text.strip().strip("`").strip()


def parse_runbook(text: str, slug: str, path: Path | None = None) -> Runbook:
    """Parse one page's Markdown. Headings inside fenced code blocks are ignored."""
    book = Runbook(slug=slug, title="", text=text, path=path)
    section = ""
    in_fence = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        if in_fence or line.startswith("```"):
            if section:
                book.sections[section] += line + "\n"
            continue
        match = _HEADING_RE.match(line)
        if match:
            level, heading = len(match.group(1)), _clean_heading(match.group(2))
            if level == 1 and not book.title:
                book.title = heading
                continue
            if level == 2:
                section = heading
                book.sections.setdefault(section, "")
                continue
            if level == 3 and section == ALERTS_SECTION and _ALERT_NAME_RE.match(heading):
                book.alerts.append(heading)
        if section:
            book.sections[section] += line + "\n"
    for match in _FENCE_RE.finditer(text):
        lang = match.group(1).lower()
        preceding = text[:match.start()]
        headings = re.findall(r"^##[ \t]+(.+?)[ \t]*$", preceding, re.M)
        book.code_blocks.append(CodeBlock(lang, match.group(2), _clean_heading(headings[-1]) if headings else ""))
    return book


def load_runbook(path: str | Path) -> Runbook:
    path = Path(path)
    return parse_runbook(path.read_text(encoding="utf-8"), path.stem, path)


def load_runbooks(directory: str | Path = RUNBOOKS_DIR) -> dict[str, Runbook]:
    """Every runbook page in `directory` by slug (index.md is not a runbook)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"runbooks directory {directory} does not exist")
    return {p.stem: load_runbook(p) for p in sorted(directory.glob("*.md")) if p.stem != INDEX_SLUG}


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


def code_blocks(page: Runbook, *langs: str) -> list[str]:
    return [b.code for b in page.code_blocks if b.lang in langs]


def _split_queries(code: str) -> list[str]:
    """A block holds one query per paragraph; `#` lines are comments."""
    queries, current = [], []
    for line in code.splitlines() + [""]:
        stripped = line.strip()
        if stripped.startswith("#"):
            continue
        if stripped:
            current.append(line.rstrip())
        elif current:
            queries.append("\n".join(current).strip())
            current = []
    return queries


def promql_queries(page: Runbook) -> list[str]:
    """Every PromQL query in ```promql blocks (queries separated by blank lines, `#` comments dropped)."""
    return [q for code in code_blocks(page, "promql") for q in _split_queries(code)]


def logql_queries(page: Runbook) -> list[str]:
    return [q for code in code_blocks(page, "logql") for q in _split_queries(code)]


def shell_commands(page: Runbook) -> list[str]:
    """Every command line in ```bash/```sh blocks: continuation lines joined, comments and prompts dropped."""
    commands = []
    for code in code_blocks(page, *SHELL_LANGS):
        pending = ""
        for raw in code.splitlines():
            line = raw.strip()
            if not pending and (not line or line.startswith("#")):
                continue
            if line.startswith("$ "):
                line = line[2:]
            if line.endswith("\\"):
                pending += line[:-1].rstrip() + " "
                continue
            commands.append((pending + line).strip())
            pending = ""
        if pending.strip():
            commands.append(pending.strip())
    return commands


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
    from alertstack.grafana import logql

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


# --- commands -----------------------------------------------------------------------------------------------------

def _task_decorator(node: ast.FunctionDef) -> ast.expr | None:
    for deco in node.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name == "task":
            return deco
    return None


def _kwarg(call: ast.expr, key: str):
    if isinstance(call, ast.Call):
        for kw in call.keywords:
            if kw.arg == key and isinstance(kw.value, ast.Constant):
                return kw.value.value
    return None


def invoke_task_names(tasks_py: str | Path) -> dict[str, set[str]]:
    """Task names as the invoke CLI accepts them -> their options, read from tasks.py without importing it.

    Understands @task / @task(name=..., default=...), and a module-level namespace `ns = Collection(...)` with
    nested `Collection("name", ...)`, `.add_task(fn, name=...)` and `.add_collection(coll, name=...)` (sub-tasks
    are `collection.task`; a default task also answers to `collection`). Underscores become dashes, as invoke's
    auto_dash_names does. Without a namespace, every @task function is a top-level task.
    """
    tree = ast.parse(Path(tasks_py).read_text(encoding="utf-8"))
    dash = lambda name: name.replace("_", "-")  # noqa: E731
    functions: dict[str, tuple[str, bool, set[str]]] = {}  # python name -> (task name, default, flags)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and (deco := _task_decorator(node)) is not None:
            args = [a.arg for a in node.args.args[1:] + node.args.kwonlyargs]  # the first is the context
            flags = {"--" + dash(a) for a in args} | {"-" + a[0] for a in args} | {"--no-" + dash(a) for a in args}
            functions[node.name] = (dash(_kwarg(deco, "name") or node.name), bool(_kwarg(deco, "default")), flags)

    collections: dict[str, dict] = {}  # variable -> {"name": str|None, "tasks": {name: (default, flags)}, "subs": {}}

    def collection_from(call: ast.Call) -> dict:
        coll = {"name": None, "tasks": {}, "subs": {}}
        args = list(call.args)
        if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
            coll["name"] = dash(args.pop(0).value)
        for arg in args:
            add(coll, arg, None)
        return coll

    def add(coll: dict, item: ast.expr, name: str | None) -> None:
        if isinstance(item, ast.Name) and item.id in functions:
            task_name, default, flags = functions[item.id]
            coll["tasks"][dash(name) if name else task_name] = (default, flags)
        elif isinstance(item, ast.Name) and item.id in collections:
            sub = collections[item.id]
            coll["subs"][dash(name) if name else (sub["name"] or dash(item.id))] = sub
        elif isinstance(item, ast.Call) and getattr(item.func, "id", "") == "Collection":
            sub = collection_from(item)
            coll["subs"][dash(name) if name else sub["name"]] = sub

    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Call) and getattr(node.value.func, "id", "") == "Collection"):
            collections[node.targets[0].id] = collection_from(node.value)
        elif (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
              and isinstance(node.value.func, ast.Attribute) and isinstance(node.value.func.value, ast.Name)
              and node.value.func.value.id in collections and node.value.args):
            method, coll = node.value.func.attr, collections[node.value.func.value.id]
            if method in ("add_task", "add_collection"):
                name = node.value.args[1].value if len(node.value.args) > 1 and isinstance(
                    node.value.args[1], ast.Constant) else _kwarg(node.value, "name")
                add(coll, node.value.args[0], name)

    root = collections.get("ns") or collections.get("namespace")
    if root is None:
        return {name: flags for name, _default, flags in functions.values()}
    tasks: dict[str, set[str]] = {}

    def walk(coll: dict, prefix: str) -> None:
        for name, (default, flags) in coll["tasks"].items():
            tasks[prefix + name] = flags
            if default and prefix:
                tasks[prefix.rstrip(".")] = flags
        for name, sub in coll["subs"].items():
            walk(sub, f"{prefix}{name}.")

    walk(root, "")
    return tasks


def _playbook_tags(repo_root: Path) -> set[str]:
    tags: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "tags":
                    if isinstance(value, str):
                        tags.update(t.strip() for t in value.split(","))
                    elif isinstance(value, list):
                        tags.update(str(t) for t in value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    files = [repo_root / "site.yml", *sorted((repo_root / "playbooks").glob("*.yml")),
             *sorted((repo_root / "roles").glob("*/tasks/*.yml"))]
    for file in files:
        if file.exists():
            try:
                walk(yaml.safe_load(file.read_text(encoding="utf-8")))
            except yaml.YAMLError:
                continue
    return tags | {"always", "all"}


def _check_invoke(argv: list[str], tasks: Mapping[str, set[str]] | None) -> list[str]:
    if tasks is None:
        return ["tasks.py not found: cannot check invoke tasks"]
    rest = [a for a in argv[1:] if a != "--"]
    while rest and rest[0].startswith("-"):  # invoke's own options (e.g. --echo)
        rest = rest[1:]
    if not rest:
        return ["`invoke` without a task name"]
    name = rest[0]
    if name not in tasks:
        return [f"invoke task `{name}` is not defined in tasks.py (tasks: {', '.join(sorted(tasks))})"]
    problems = []
    for arg in rest[1:]:
        flag = arg.split("=", 1)[0]
        if flag.startswith("-") and flag not in tasks[name]:
            problems.append(f"invoke task `{name}` has no option `{flag}`")
    return problems


def _check_ansible(argv: list[str], repo_root: Path) -> list[str]:
    problems, inventories, playbooks, tags = [], [], [], []
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg in ("-i", "--inventory") and i + 1 < len(argv):
            inventories.append(argv[i + 1])
            i += 2
            continue
        if arg.startswith("--inventory="):
            inventories.append(arg.split("=", 1)[1])
        elif arg in ("-t", "--tags", "--skip-tags") and i + 1 < len(argv):
            tags += argv[i + 1].split(",")
            i += 2
            continue
        elif arg.startswith(("--tags=", "--skip-tags=")):
            tags += arg.split("=", 1)[1].split(",")
        elif arg in ("-e", "--extra-vars", "-l", "--limit", "--vault-password-file", "-u", "--user",
                     "--start-at-task", "-f", "--forks"):
            i += 2
            continue
        elif not arg.startswith("-"):
            playbooks.append(arg)
        i += 1
    if not inventories:
        problems.append("ansible-playbook without `-i inventories/<env>`")
    for inv in inventories:
        if not (repo_root / inv).exists():
            problems.append(f"inventory `{inv}` does not exist in the repository")
    if not playbooks:
        problems.append("ansible-playbook without a playbook")
    for book in playbooks:
        if not (repo_root / book).is_file():
            problems.append(f"playbook `{book}` does not exist in the repository")
    if tags:
        known = _playbook_tags(repo_root)
        for tag in tags:
            if tag and tag not in known:
                problems.append(f"tag `{tag}` is not used by any play or role task")
    return problems


_COMPOSE_VALUE_OPTIONS = frozenset({"-p", "--project-name", "-f", "--file", "--env-file", "--profile", "--since",
                                    "--until", "--tail", "-n", "-u", "--user", "-w", "--workdir", "-e", "--env",
                                    "--index", "-t", "--timeout", "--signal", "-s"})


def _check_docker(argv: list[str]) -> list[str]:
    if len(argv) > 1 and argv[1] == "compose":
        project = None
        services = []
        i = 2
        while i < len(argv):
            arg = argv[i]
            if arg in ("-p", "--project-name") and i + 1 < len(argv):
                project = argv[i + 1]
                i += 2
                continue
            if arg.startswith("--project-name="):
                project = arg.split("=", 1)[1]
            i += 1
        if project != COMPOSE_PROJECT:
            return [f"docker compose must name the project: `docker compose -p {COMPOSE_PROJECT} ...`"]
        # the service is the first plain word after the subcommand (logs/ps/exec/restart/...)
        words, skip = [], False
        for arg in argv[2:]:
            if skip:
                skip = False
            elif arg in _COMPOSE_VALUE_OPTIONS:
                skip = True
            elif not arg.startswith("-"):
                words.append(arg)
        if len(words) >= 2 and words[0] in ("logs", "exec", "restart", "stop", "start", "ps", "top", "up", "kill",
                                            "pause", "unpause"):
            services = [words[1]]
        return [f"`{s}` is not a Compose service of the stack" for s in services if s not in KNOWN_SERVICES
                and not re.fullmatch(r"\d+", s)]
    if len(argv) > 2 and argv[1] in ("logs", "exec", "inspect", "restart", "stats", "top"):
        names = [a for a in argv[2:] if not a.startswith("-") and not re.fullmatch(r"\d+[smh]?", a)]
        if names:
            container = names[0]
            service = re.sub(r"-\d+$", "", container.removeprefix(f"{COMPOSE_PROJECT}-"))
            if not container.startswith(f"{COMPOSE_PROJECT}-") or service not in KNOWN_SERVICES:
                return [f"container `{container}` is not one of the stack's (ai-alerting-<service>)"]
    return []


def _commands_in(line: str) -> list[list[str]]:
    """Split a shell line on pipes and && / ; into argv lists (quotes respected)."""
    try:
        lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;")
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError:
        return [line.split()]
    commands, current = [], []
    for tok in tokens:
        if tok and set(tok) <= set("|&;"):
            if current:
                commands.append(current)
            current = []
        else:
            current.append(tok)
    if current:
        commands.append(current)
    return commands


def check_commands_exist(commands: Iterable[str], repo_root: str | Path = REPO_ROOT,
                         tasks: Mapping[str, set[str]] | None = None) -> list[str]:
    """Problems with shell commands: unknown invoke tasks/options, missing playbooks/inventories/tags,
    docker compose without `-p ai-alerting`, containers that are not the stack's, and Kubernetes tooling."""
    repo_root = Path(repo_root)
    if tasks is None and (repo_root / "tasks.py").exists():
        tasks = invoke_task_names(repo_root / "tasks.py")
    problems = []
    for line in commands:
        for argv in _commands_in(line):
            while argv and ("=" in argv[0] and not argv[0].startswith("-")):  # VAR=value prefixes
                argv = argv[1:]
            if argv and argv[0] == "sudo":
                argv = argv[1:]
            if not argv:
                continue
            prog = Path(argv[0]).name
            found: list[str] = []
            if prog in FORBIDDEN_COMMANDS:
                found = [f"`{prog}` does not apply: the stack runs on Docker Compose, not Kubernetes"]
            elif prog in ("invoke", "inv"):
                found = _check_invoke(argv, tasks)
            elif prog == "ansible-playbook":
                found = _check_ansible(argv, repo_root)
            elif prog == "docker":
                found = _check_docker(argv)
            problems += [f"{line!r}: {p}" for p in found]
    return problems


# --- HTML ---------------------------------------------------------------------------------------------------------

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; }}
pre {{ background: #f4f4f4; padding: .75rem; overflow-x: auto; }}
code {{ font-family: ui-monospace, monospace; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: .25rem .5rem; }}
nav {{ font-size: .9rem; margin-bottom: 1rem; }}
</style>
</head>
<body>
<nav><a href="index.html">All runbooks</a></nav>
<main>
{body}
</main>
</body>
</html>
"""


def _slugifier(alerts: Iterable[str]):
    """Alert-name headings keep the alert name as their anchor (`#InferenceErrorRateCritical`)."""
    names = set(alerts)

    def slugify(value: str, separator: str) -> str:
        plain = value.strip().strip("`")
        return plain if plain in names else _default_slugify(value, separator)

    return slugify


def render_html(page_text: str, title: str, alerts: Iterable[str] = ()) -> str:
    """One runbook page as a standalone HTML document; `.md` links become `.html`."""
    text = re.sub(r"\]\(([A-Za-z0-9_-]+)\.md(#[^)]*)?\)", lambda m: f"]({m.group(1)}.html{m.group(2) or ''})",
                  page_text)
    body = markdown.markdown(text, extensions=["fenced_code", "tables", "toc", "sane_lists"],
                             extension_configs={"toc": {"slugify": _slugifier(alerts)}})
    return _PAGE.format(title=html.escape(title), body=body)


def render_pages(source: str | Path = RUNBOOKS_DIR) -> dict[str, str]:
    """file name (<slug>.html) -> HTML for every page in `source`, index included."""
    source = Path(source)
    pages = {}
    for path in sorted(source.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        page = parse_runbook(text, path.stem)
        pages[f"{path.stem}.html"] = render_html(text, page.title or path.stem, page.alerts)
    if "index.html" not in pages:
        raise ValueError(f"{source} has no index.md")
    return pages


def render_directory(source: str | Path, dest: str | Path) -> list[Path]:
    """Write every page's HTML into `dest` (created); returns the files written."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in render_pages(source).items():
        out = dest / name
        out.write_text(content, encoding="utf-8")
        written.append(out)
    return written


def runbook_url(base_url: str, slug: str) -> str:
    """The runbook_url annotation of an alert whose page is `slug` (shared contract 1)."""
    return f"{base_url.rstrip('/')}/{slug}.html"


def coverage_problems(pages: Mapping[str, Runbook], alert_slugs: Mapping[str, str]) -> list[str]:
    """Every alert of the catalog has a page that names it under `## Alerts`."""
    problems = []
    for alert, slug in sorted(alert_slugs.items()):
        if slug not in pages:
            problems.append(f"{alert}: runbook page runbooks/{slug}.md does not exist")
        elif alert not in pages[slug].alerts:
            problems.append(f"{alert}: runbooks/{slug}.md has no `### {alert}` heading under `## Alerts`")
    return problems
