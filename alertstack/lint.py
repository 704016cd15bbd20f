"""Static checks of the repository: yamllint, ansible-lint, the runbook pages (alertstack.runbooks.lint), and the
components' own checkers on every rendered environment (promtool check config/rules, amtool check-config)."""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from alertstack import render, tools
from alertstack.paths import REPO_ROOT, VENV_BIN, environments
from alertstack.progress import say
from alertstack.runbooks import lint as runbook_lint


def check_rendered_host(root: Path) -> list[str]:
    """promtool/amtool problems of one rendered host root ([] when everything is valid)."""
    problems = []
    prom = root / "prometheus"
    if (prom / "prometheus.yml").exists():
        res = tools.promtool(["check", "config", "/etc/prometheus/prometheus.yml"], {prom: "/etc/prometheus"})
        if not res.ok:
            problems.append(f"{prom}/prometheus.yml: {res.output}")
        if (prom / "web.yml").exists():
            res = tools.promtool(["check", "web-config", "/etc/prometheus/web.yml"], {prom: "/etc/prometheus"})
            if not res.ok:
                problems.append(f"{prom}/web.yml: {res.output}")
    am = root / "alertmanager"
    if (am / "alertmanager.yml").exists():
        res = tools.amtool(["check-config", "/etc/alertmanager/alertmanager.yml"], {am: "/etc/alertmanager"})
        if not res.ok:
            problems.append(f"{am}/alertmanager.yml: {res.output}")
    from alertstack.grafana import rendered, validate
    found, exprs = rendered.check_stack_root(root)
    problems += found
    if exprs:
        problems += validate.check_promql(exprs)
    return problems


def check_environment(env: str, out: Path) -> list[str]:
    rendered = render.render(env, out)
    problems = []
    for host, root in render.host_roots(rendered).items():
        found = check_rendered_host(root)
        say(f"  {env}/{host}: {'ok' if not found else f'{len(found)} problem(s)'}")
        problems += found
    return problems


def run_tool(name: str, *args: str) -> int:
    say(f"$ {name} {' '.join(args)}")
    return subprocess.call([str(VENV_BIN / name), *args], cwd=REPO_ROOT)


def lint_all() -> int:
    failures = 0
    failures += run_tool("yamllint", ".") != 0
    failures += run_tool("ansible-lint", "--offline", "site.yml") != 0
    say("Checking the runbooks")
    problems = runbook_lint.lint_runbooks()
    for p in problems:
        say(f"  {p}")
    failures += bool(problems)
    with tempfile.TemporaryDirectory() as tmp:
        for env in environments():
            say(f"Rendering and checking {env}")
            problems = check_environment(env, Path(tmp))
            for p in problems:
                say(f"  {p}")
            failures += bool(problems)
    say(f"lint: {'ok' if not failures else f'{failures} check(s) failed'}")
    return 1 if failures else 0
