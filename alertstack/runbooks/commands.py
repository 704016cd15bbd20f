"""The check of the shell commands a runbook tells on-call to run: invoke tasks and their options (read from tasks.py
without importing it), ansible-playbook's playbooks, inventories and tags, `docker compose -p ai-alerting` and the
stack's Compose services and containers, and no Kubernetes tooling."""
from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path
from typing import Iterable, Mapping

import yaml

from alertstack.paths import REPO_ROOT

# Compose services of the stack plus the log shipper.
COMPOSE_PROJECT = "ai-alerting"
KNOWN_SERVICES = frozenset({
    "prometheus", "alertmanager", "node-exporter", "notification-sink", "inference-gateway", "feature-store",
    "drift-monitor", "runbooks", "grafana", "loki", "alloy", "promtail", "dcgm-exporter",
})
FORBIDDEN_COMMANDS = ("kubectl", "helm", "oc")


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
