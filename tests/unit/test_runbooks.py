"""Runbooks (issue 6): every alert has a complete page; its queries parse and use real metrics; its commands exist.

The checks themselves are tested against broken input first, so that a green run means something.
Tests marked `docker` run promtool / the runbooks server from the offline images.
"""
from __future__ import annotations

import re
import socket
import subprocess
import time
import uuid

import jinja2
import pytest
import requests
import yaml

from alertstack import catalog
from alertstack.images import OFFLINE
from alertstack.paths import REPO_ROOT
from alertstack.runbooks import commands, lint, pages

PAGES = pages.load_runbooks()
SLUGS = catalog.runbook_slugs()
PROCESS = REPO_ROOT / "docs" / "process"


def _page(text: str, slug: str = "t") -> pages.Runbook:
    return pages.parse_runbook(text, slug)


GOOD = """# Runbook: test

## Alerts

### SomethingBroken
What it means.

## Overview
x
## Impact
x
## Symptoms
x
## Triage (≤ 5 minutes)
x
## Investigation

```promql
sum(rate(inference_requests_total[5m]))
```

## Mitigation

```bash
docker compose -p ai-alerting ps
```

## Escalation
x
## Post-incident tasks
x
"""


# --- the checks catch what they should -----------------------------------------------------------------------------

def test_parser_finds_sections_alerts_and_blocks():
    page = _page(GOOD)
    assert page.title == "Runbook: test"
    assert page.alerts == ["SomethingBroken"]
    assert lint.missing_sections(page) == []
    assert pages.promql_queries(page) == ["sum(rate(inference_requests_total[5m]))"]
    assert pages.shell_commands(page) == ["docker compose -p ai-alerting ps"]


@pytest.mark.parametrize("section", lint.REQUIRED_SECTIONS)
def test_missing_or_empty_section_is_reported(section):
    heading = next(h for h in _page(GOOD).sections if h.startswith(section))
    without = re.sub(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", "", GOOD, flags=re.M | re.S)
    assert lint.missing_sections(_page(without)) == [section]
    emptied = re.sub(rf"(^## {re.escape(heading)}\n).*?(?=^## |\Z)", r"\1\n", GOOD, flags=re.M | re.S)
    assert section in lint.missing_sections(_page(emptied))


def test_page_without_alert_headings_is_reported():
    page = _page(GOOD.replace("### SomethingBroken", "SomethingBroken"))
    assert any("Alerts" in m for m in lint.missing_sections(page))


def test_headings_inside_code_blocks_are_not_sections():
    text = GOOD.replace("## Escalation\nx\n", "```bash\n## Escalation\n```\n")
    assert "Escalation" in lint.missing_sections(_page(text))


def test_indented_fence_is_a_format_problem():
    text = GOOD.replace("```bash\ndocker", "1. step\n   ```bash\n   docker").replace("ps\n```", "ps\n   ```")
    assert lint.format_problems(_page(text))
    assert lint.format_problems(_page(GOOD)) == []


def test_queries_split_on_blank_lines_and_drop_comments():
    page = _page("## Investigation\n\n```promql\n# comment\nup\n\nsum(\n  up\n)\n```\n")
    assert pages.promql_queries(page) == ["up", "sum(\n  up\n)"]


def test_shell_commands_join_continuations_and_skip_comments():
    page = _page("## M\n\n```bash\n# note\nansible-playbook -i inventories/local \\\n  site.yml\n$ invoke lint\n```\n")
    assert pages.shell_commands(page) == ["ansible-playbook -i inventories/local site.yml", "invoke lint"]


@pytest.mark.parametrize("query, names", [
    ('sum by (job, le) (rate(inference_request_duration_seconds_bucket{le="0.3"}[5m]))',
     {"inference_request_duration_seconds_bucket"}),
    ('up{job="prometheus"} offset 1d and on (instance) node_load1', {"up", "node_load1"}),
    ('slo:sli_error:ratio_rate1h{slo="x"} / on (slo) (1 - slo:objective:ratio)',
     {"slo:sli_error:ratio_rate1h", "slo:objective:ratio"}),
    ('label_replace(foo_total, "dst", "$1", "src", "(.*)")', {"foo_total"}),
    ('max_over_time(bar[1h:5m]) > bool 3', {"bar"}),
    ('{__name__="baz"}', {"baz"}),
])
def test_metric_names_are_extracted(query, names):
    assert lint.promql_metric_names(query) == names


def test_unknown_metric_is_reported_and_known_ones_are_not():
    known = {"slo:sli_error:ratio_rate5m"}
    assert lint.unknown_metrics("rate(container_cpu_usage_seconds_total[5m])", known) == {
        "container_cpu_usage_seconds_total"}
    assert lint.unknown_metrics("slo:sli_error:ratio_rate5m + up + prometheus_ready + node_load1"
                              " + inference_gpu_utilization_percent", known) == set()


def test_bad_logql_is_reported():
    assert lint.logql_problems('{job="docker", service="x"} |= "error"') == []
    assert lint.logql_problems('sum(count_over_time({job="docker"}[5m]))') == []
    assert lint.logql_problems('{job="docker" |= "error"')
    assert lint.logql_problems('sum(count_over_time({job="docker"}))')


TASKS = {"smoke": {"--env", "-e"}, "silence": {"--action"}, "deploy": {"--env"}}


@pytest.mark.parametrize("command, fragment", [
    ("invoke no-such-task", "not defined in tasks.py"),
    ("invoke smoke --environment production", "no option `--environment`"),
    ("ansible-playbook -i inventories/nowhere site.yml", "inventory `inventories/nowhere`"),
    ("ansible-playbook -i inventories/local playbooks/nothing.yml", "playbook `playbooks/nothing.yml`"),
    ("ansible-playbook site.yml", "without `-i"),
    ("ansible-playbook -i inventories/local site.yml --tags no-such-tag", "tag `no-such-tag`"),
    ("docker compose logs prometheus", "-p ai-alerting"),
    ("docker compose -p other logs prometheus", "-p ai-alerting"),
    ("docker compose -p ai-alerting logs --since 5m not-a-service", "`not-a-service` is not a Compose service"),
    ("docker logs some-container", "not one of the stack's"),
    ("kubectl rollout undo deployment/inference-gateway", "Kubernetes"),
    ("curl -s x | kubectl apply -f -", "Kubernetes"),
])
def test_bad_commands_are_reported(command, fragment):
    problems = commands.check_commands_exist([command], REPO_ROOT, TASKS)
    assert len(problems) == 1 and fragment in problems[0], problems


@pytest.mark.parametrize("command", [
    "invoke smoke --env production",
    "invoke smoke -e local",
    "ansible-playbook -i inventories/local site.yml --limit monitoring",
    "ansible-playbook -i inventories/local playbooks/monitoring.yml",
    "docker compose -p ai-alerting logs --since 5m inference-gateway",
    "docker compose -p ai-alerting -f /opt/ai-alerting/compose/alertmanager.yml up -d alertmanager",
    "docker logs ai-alerting-prometheus",
    "curl -s http://127.0.0.1:9090/api/v1/alerts | python3 -m json.tool",
])
def test_good_commands_pass(command):
    assert commands.check_commands_exist([command], REPO_ROOT, TASKS) == []


def test_invoke_tasks_are_read_from_task_decorators(tmp_path):
    (tmp_path / "tasks.py").write_text(
        "from invoke import task\n\n@task\ndef lint(c):\n    pass\n\n"
        "@task(help={'env': 'x'})\ndef smoke_test(c, env='local', dry_run=False):\n    pass\n\n"
        "def helper(c):\n    pass\n")
    tasks = commands.invoke_task_names(tmp_path / "tasks.py")
    assert "lint" in tasks and "smoke-test" in tasks and "helper" not in tasks
    assert {"--env", "--dry-run", "-e"} <= tasks["smoke-test"]


def test_invoke_namespace_with_nested_collections(tmp_path):
    (tmp_path / "tasks.py").write_text(
        "from invoke import Collection, task\n\n"
        "@task\ndef up(c):\n    pass\n\n"
        "@task\ndef hidden(c):\n    pass\n\n"
        "@task(name='list', default=True)\ndef list_(c):\n    pass\n\n"
        "@task\ndef add(c, matcher, duration='2h'):\n    pass\n\n"
        "@task\ndef start(c, scenario=''):\n    pass\n\n"
        "silence = Collection('silence', list_, add)\n"
        "ns = Collection(up)\n"
        "ns.add_collection(silence)\n"
        "ns.add_collection(Collection(start), name='drill_ops')\n")
    tasks = commands.invoke_task_names(tmp_path / "tasks.py")
    assert set(tasks) == {"up", "silence.list", "silence", "silence.add", "drill-ops.start"}
    assert "--duration" in tasks["silence.add"]
    assert commands.check_commands_exist(["invoke silence.add --matcher a=b --duration 1h", "invoke silence"],
                                   tmp_path, tasks) == []
    assert commands.check_commands_exist(["invoke hidden"], tmp_path, tasks)


# --- the repository's runbooks -------------------------------------------------------------------------------------

def test_every_slug_of_the_catalogue_has_a_page():
    assert sorted(set(SLUGS) - set(PAGES)) == []


def test_no_page_without_alerts_of_the_catalogue():
    assert sorted(set(PAGES) - set(SLUGS)) == []


def test_every_alert_is_named_on_its_page():
    assert lint.coverage_problems(PAGES, catalog.RUNBOOK_SLUGS) == []


def test_pages_name_no_alert_outside_the_catalogue():
    extra = {(slug, a) for slug, page in PAGES.items() for a in page.alerts if catalog.RUNBOOK_SLUGS.get(a) != slug}
    assert extra == set()


def test_every_rule_links_to_the_page_that_names_it():
    base = "http://runbooks.invalid"
    for rule in catalog.alert_rules():
        url = rule["annotations"]["runbook_url"]
        slug = catalog.RUNBOOK_SLUGS[rule["alert"]]
        assert url == pages.runbook_url(base, slug), rule["alert"]
        assert rule["alert"] in PAGES[slug].alerts


@pytest.mark.parametrize("slug", sorted(PAGES))
def test_page_has_every_section(slug):
    assert lint.missing_sections(PAGES[slug]) == []


@pytest.mark.parametrize("slug", sorted(PAGES))
def test_page_renders_as_written(slug):
    assert lint.format_problems(PAGES[slug]) == []


@pytest.mark.parametrize("slug", sorted(PAGES))
def test_investigation_has_promql_and_logql(slug):
    page = PAGES[slug]
    blocks = {b.lang for b in page.code_blocks if b.section == "Investigation"}
    assert {"promql", "logql"} <= blocks


@pytest.mark.parametrize("slug", sorted(PAGES))
def test_mitigation_has_commands(slug):
    page = PAGES[slug]
    assert any(b.lang in pages.SHELL_LANGS for b in page.code_blocks if b.section == "Mitigation")


STACK_RECORDS = lint.stack_recording_rules()


@pytest.mark.parametrize("slug", sorted(PAGES))
def test_promql_uses_only_existing_metrics(slug):
    unknown = {q: lint.unknown_metrics(q, STACK_RECORDS) for q in pages.promql_queries(PAGES[slug])}
    assert {q: u for q, u in unknown.items() if u} == {}


@pytest.mark.parametrize("slug", sorted(PAGES))
def test_logql_parses(slug):
    problems = {q: lint.logql_problems(q) for q in pages.logql_queries(PAGES[slug])}
    assert {q: p for q, p in problems.items() if p} == {}


@pytest.mark.parametrize("slug", sorted(PAGES))
def test_commands_exist_in_this_deployment(slug):
    assert commands.check_commands_exist(pages.shell_commands(PAGES[slug]), REPO_ROOT) == []


def test_no_kubernetes_anywhere_in_the_runbooks():
    for path in sorted((REPO_ROOT / "runbooks").glob("*.md")):
        assert not re.search(r"\bkubectl\b|\bhelm\b", path.read_text()), path.name


@pytest.mark.docker
def test_promtool_rejects_a_bad_query():
    problems = lint.promql_syntax_problems([("good", "up"), ("bad", "sum(rate(up[5m])"), ("bad2", "rate(up)")])
    assert [p.split(":")[0] for p in problems] == ["bad", "bad2"]


@pytest.mark.docker
def test_every_promql_query_parses_with_promtool():
    queries = [(f"runbooks/{slug}.md", q) for slug, page in sorted(PAGES.items()) for q in pages.promql_queries(page)]
    assert len(queries) > 2 * len(PAGES)
    assert lint.promql_syntax_problems(queries) == []


# --- invoke lint: every check over a directory ------------------------------------------------------------------------

def test_lint_of_the_repository_runbooks_is_clean():
    assert lint.lint_runbooks(promtool=False) == []


def test_lint_reports_each_kind_of_problem(tmp_path):
    (tmp_path / "index.md").write_text("# index\n")
    page = GOOD.replace("## Escalation\nx\n", "").replace("inference_requests_total", "no_such_metric_total")
    page = page.replace("docker compose -p ai-alerting ps", "kubectl get pods")
    page += "\n```logql\n{job=\"docker\" |= \"x\"\n```\n"
    (tmp_path / "watchdog.md").write_text(page)
    problems = "\n".join(lint.lint_runbooks(tmp_path, promtool=False))
    for fragment in ("watchdog.md lacks Escalation", "no_such_metric_total", "kubectl", "watchdog.md: ",
                     "InferenceErrorRateCritical: runbook page"):
        assert fragment in problems


def test_invoke_lint_runs_the_runbook_lint(monkeypatch):
    from alertstack import lint as repo_lint
    calls = []
    monkeypatch.setattr(repo_lint, "run_tool", lambda *a: 0)
    monkeypatch.setattr(repo_lint, "environments", lambda: [])
    monkeypatch.setattr(repo_lint.runbook_lint, "lint_runbooks", lambda: calls.append("runbooks") or ["page: bad"])
    assert repo_lint.lint_all() == 1
    assert calls == ["runbooks"]


# --- HTML -----------------------------------------------------------------------------------------------------------

HTML = pages.render_pages()


def test_every_page_and_the_index_render():
    assert set(HTML) == {f"{s}.html" for s in PAGES} | {"index.html"}


@pytest.mark.parametrize("alert, slug", sorted(catalog.RUNBOOK_SLUGS.items()))
def test_rendered_page_has_an_anchor_per_alert(alert, slug):
    assert re.search(rf'<h3 id="{alert}">{alert}</h3>', HTML[f"{slug}.html"])


def test_links_between_pages_point_at_html():
    for name, page in HTML.items():
        assert not re.search(r'href="[a-z-]+\.md', page), name
    for slug in PAGES:
        assert f'href="{slug}.html"' in HTML["index.html"]


def test_code_blocks_render_as_code():
    page = HTML["inference-errors.html"]
    assert '<code class="language-promql">' in page and '<code class="language-bash">' in page


def test_render_directory_writes_every_page(tmp_path):
    written = pages.render_directory(REPO_ROOT / "runbooks", tmp_path / "html")
    assert sorted(p.name for p in written) == sorted(HTML)
    assert (tmp_path / "html" / "watchdog.html").read_text() == HTML["watchdog.html"]


def test_render_refuses_a_directory_without_index(tmp_path):
    (tmp_path / "a.md").write_text(GOOD)
    with pytest.raises(ValueError, match="index.md"):
        pages.render_pages(tmp_path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.docker
def test_pages_served_by_the_runbooks_image_resolve(tmp_path):
    """The role's server (python3 -m http.server in the python-runtime image, read-only mount) serves every
    alert's runbook_url with HTTP 200 and the alert's name."""
    site = tmp_path / "html"
    pages.render_directory(REPO_ROOT / "runbooks", site)
    site.chmod(0o755)
    for f in site.iterdir():
        f.chmod(0o644)
    port, name = _free_port(), f"runbooks-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "run", "-d", "--rm", "--name", name, "--user", "65534:65534", "--read-only",
                    "-p", f"127.0.0.1:{port}:8088", "-v", f"{site}:/srv/runbooks:ro", OFFLINE["python-runtime"],
                    "python3", "-m", "http.server", "8088", "--directory", "/srv/runbooks"],
                   check=True, capture_output=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/index.html", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        for alert, slug in sorted(catalog.RUNBOOK_SLUGS.items()):
            resp = requests.get(pages.runbook_url(base, slug), timeout=5)
            assert resp.status_code == 200, alert
            assert f'id="{alert}"' in resp.text
        assert requests.get(f"{base}/no-such-page.html", timeout=5).status_code == 404
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


# --- the role -------------------------------------------------------------------------------------------------------

def test_role_filters_render_and_check(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("runbooks_filters",
                                                  REPO_ROOT / "filter_plugins/alertstack_filters.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    filters = module.FilterModule().filters()
    assert filters["runbooks_problems"]("") == []
    assert set(filters["runbooks_html_pages"]("")) == set(HTML)
    broken = tmp_path / "rb"
    broken.mkdir()
    (broken / "index.md").write_text("# index\n")
    (broken / "watchdog.md").write_text(GOOD.replace("## Escalation\nx\n", ""))
    problems = filters["runbooks_problems"](str(broken))
    assert any("watchdog.md lacks Escalation" in p for p in problems)
    assert any("InferenceErrorRateCritical" in p and "does not exist" in p for p in problems)


def test_role_compose_file_serves_read_only_on_the_stack_network():
    template = (REPO_ROOT / "roles/runbooks/templates/compose.yml.j2").read_text()
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    rendered = env.from_string(template).render(
        ansible_managed="managed", runbooks_image="img:1", stack_project="ai-alerting", runbooks_port=8088,
        stack_root="/opt/ai-alerting", runbooks_bind_address="127.0.0.1", stack_network="net")
    service = yaml.safe_load(rendered)["services"]["runbooks"]
    assert service["command"] == ["python3", "-m", "http.server", "8088", "--directory", "/srv/runbooks"]
    assert service["volumes"] == ["/opt/ai-alerting/runbooks/html:/srv/runbooks:ro"]
    assert service["ports"] == ["127.0.0.1:8088:8088"]
    assert yaml.safe_load(rendered)["networks"]["stack"] == {"name": "net", "external": True}


# --- incident process documents ----------------------------------------------------------------------------------

PROCESS_DOCS = ["runbook-template.md", "incident-report-template.md", "post-incident-review-template.md",
                "oncall-handoff-checklist.md", "severity-classification.md", "escalation-policy.md",
                "observability-backlog.md"]


@pytest.mark.parametrize("name", PROCESS_DOCS)
def test_process_document_exists(name):
    assert len((PROCESS / name).read_text().strip().splitlines()) > 10


def _review_template() -> tuple[str, set[str]]:
    text = (PROCESS / "post-incident-review-template.md").read_text()
    head, template = text.split("\n---\n", 1)
    documented = set(re.findall(r"^\| `([a-z0-9_]+)`", head, re.M))
    documented |= {f"why_{i}" for i in range(1, 6)} if any("why_1" in line for line in head.splitlines()) else set()
    return template, documented


def test_review_template_placeholders_are_all_documented():
    template, documented = _review_template()
    used = set(re.findall(r"\{\{\s*([a-z0-9_]+)\s*\}\}", template))
    assert used == documented


def test_review_template_has_the_required_sections():
    template, _ = _review_template()
    for heading in ("## Summary", "## Impact", "## Timeline", "## Detection and response times",
                    "## Error budget consumed", "## Root cause", "### 5 whys", "## Action items"):
        assert heading in template
    for field in ("mttd", "time_to_notify", "mttr", "error_budget_consumed"):
        assert "{{ " + field + " }}" in template
    assert "| Action | Owner | Due date |" in template


def test_review_template_renders_with_every_field_filled():
    template, documented = _review_template()
    values = {name: f"<{name}>" for name in documented}
    out = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(template).render(**values)
    assert "{{" not in out and "<mttr>" in out
    with pytest.raises(jinja2.UndefinedError):
        jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(template).render()


def test_backlog_items_have_priority_effort_and_owner():
    rows = [line for line in (PROCESS / "observability-backlog.md").read_text().splitlines()
            if re.match(r"^\| \d+ \|", line)]
    assert len(rows) >= 10
    priorities = set()
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        number, item, why, priority, effort, owner, status = cells
        assert priority in {"P0", "P1", "P2", "P3"}, row
        assert re.fullmatch(r"\d+(\.\d+)? d", effort), row
        assert owner in {"ml-platform", "ai-infra", "platform", "data"}, row
        priorities.add(priority)
    assert priorities == {"P0", "P1", "P2", "P3"}
