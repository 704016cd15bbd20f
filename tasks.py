"""invoke tasks: parse arguments, call the alertstack package. No logic lives here."""
from __future__ import annotations

import sys
from pathlib import Path

from invoke import Collection, task

from alertstack import cli
from alertstack.cli import known_errors

REPO = Path(__file__).resolve().parent
cli.parse_errors_exit_2()  # every bad argument, invoke's own parse errors included: one line on stderr, exit 2


def _exit(code: int) -> None:
    if code:
        raise SystemExit(code)


@task
def up(c):
    """Deploy the local environment with the real playbook, smoke-check it and print its URLs."""
    from alertstack import stack
    _exit(stack.up())


@task(help={"volumes": "also remove the named data volumes"})
def down(c, volumes=False):
    """Stop and remove the local stack's containers."""
    from alertstack import stack
    _exit(stack.down(volumes=volumes))


@task(help={"env": "local, staging or production",
            "silence": "silence the services the deploy touches while it runs (critical alerts never)",
            "margin": "with --silence: lease of the silence, renewed while the play runs (default 10m)",
            "author": "with --silence: who deploys (default: git user.email)"})
def deploy(c, env="local", silence=False, margin="10m", author=None):
    """Run ansible-playbook -i inventories/ENV site.yml, optionally inside a deploy silence."""
    from alertstack import stack
    with known_errors():
        _exit(stack.deploy(cli.env(env), silence=margin if silence else None, author=author).returncode)


@task(positional=["action"])
def lab(c, action):
    """Bring the lab's machines (pristine Debian 12 hosts over SSH, and their image registry) up or down, or show
    their status; deploy them with `invoke deploy --env lab`."""
    from alertstack import lab as machines
    with known_errors():
        cli.choice(action, ["up", "down", "status"], "action")
        _exit({"up": machines.up, "down": machines.down, "status": machines.status}[action]())


@task(help={"env": "environment to render", "out": "output directory (default out/)"})
def render(c, env="local", out="out"):
    """Write every file each host of ENV would get under OUT/ENV/<host>/, touching no host."""
    from alertstack import render as rendering
    with known_errors():
        cli.env(env)
    try:
        target = rendering.render(env, Path(out), echo=False)
    except rendering.RenderError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(1)
    files = [p for p in target.rglob("*") if p.is_file()]
    print(f"rendered {len(files)} files for {env} under {target}")


@task(help={"env": "environment to check", "timeout": "seconds to wait for each check"})
def smoke(c, env="local", timeout=120):
    """Every component healthy, every target up, rules loaded, and a synthetic alert delivered."""
    from alertstack import endpoints
    from alertstack import smoke as smoking
    with known_errors():
        seconds = cli.seconds(timeout, "timeout")
        _exit(0 if smoking.smoke(endpoints.for_env(cli.env(env)), seconds).ok else 1)


@task
def lint(c):
    """ansible-lint, yamllint, the runbook checks, and promtool/amtool checks of every rendered environment."""
    from alertstack import lint as linting
    _exit(linting.lint_all())


@task(help={"k": "pytest -k expression", "m": "pytest -m marker expression",
            "stream": "run only these streams (comma-separated: checks, e2e, ha, lab)"})
def test(c, k="", m="", stream=""):
    """Run the whole test suite (unit, config, molecule, end-to-end, ha, lab) as concurrent pytest streams."""
    from alertstack import testrun
    with known_errors():
        _exit(testrun.run([n for n in stream.split(",") if n] or None, k=k, m=m))


@task
def docs(c):
    """Regenerate the routing matrix and inhibition table in docs/alerting-policy.md from the Alertmanager config
    that Ansible renders from the alertmanager role's defaults, its incident platforms table from the alertmanager.yml
    `invoke render` writes for each environment, and the Variables and Tags sections of every role README from its
    meta/argument_specs.yml, defaults/ and tasks/main.yml."""
    from alertstack import rendered, routing
    doc = REPO / "docs" / "alerting-policy.md"
    try:
        platforms = rendered.alertmanager_configs(say=print)  # the incident platforms each environment routes to
        doc.write_text(routing.update_document(doc.read_text(), rendered.role_policy(), platforms))
    except (routing.RoutingError, rendered.RenderedError) as exc:
        cli.fail(str(exc))
    print(f"updated {doc}")
    from alertstack import role_docs  # each role README's Variables and Tags, from its argument spec and defaults
    try:
        changed = role_docs.write_all()
    except role_docs.RoleDocsError as exc:
        cli.fail(str(exc))
    print(f"role READMEs: {len(changed)} of {len(role_docs.role_names())} updated")


@task(help={"skip_cold": "keep the running stack (no cold deploy)", "envs": "environments to render (comma-separated)"})
def bench(c, skip_cold=False, envs=""):
    """Print deploy and render timings side by side: cold, warm no-op, one-variable change, render per env."""
    import subprocess
    with known_errors():
        envs = ",".join(cli.envs(envs))
    args = [sys.executable, "-m", "benchmarks.deploy_time"] + (["--skip-cold"] if skip_cold else [])
    _exit(subprocess.call(args + (["--envs", envs] if envs else []), cwd=REPO))


@task(positional=["scenario"], help={
    "scenario": "latency, errors, feature-store, drift, gpu-oom, model-performance, logging-outage or "
                "network-latency; all: every runnable scenario, one after the other, unattended",
    "fault": "kind of fault: release (default) or network (latency: tc netem on the feature store's interface)",
    "report": "with all: write incidents/DRILLS-<time>/summary.md (table and chart)",
    "interactive": "pause at each step for a human to follow the runbook",
    "env": "environment (default local; lab: the faults act on its hosts over SSH)"})
def drill(c, scenario, fault="", report=False, interactive=False, env="local"):
    """Run an incident drill end to end and write incidents/<id>/ (`invoke drill all`: every drill, one summary)."""
    from alertstack.drills import scenarios
    from alertstack.drills.runner import run_drill, stack_from_env
    with known_errors():
        if scenario == "all":
            from alertstack.drills import suite
            _exit(0 if suite.run_all(stack_from_env(cli.env(env)), REPO / "incidents", report=report).passed else 1)
        cli.choice(scenario, list(scenarios.SCENARIOS) + ["all"], "drill scenario")
        try:
            scenario = scenarios.variant(scenario, fault or None)
        except KeyError as exc:
            cli.fail(exc.args[0])
        result = run_drill(scenario, stack_from_env(cli.env(env)), interactive=interactive,
                           out_dir=REPO / "incidents")
    _exit(0 if result.passed else 1)


@task(positional=["action"], iterable=["matcher"], help={
    "action": "add, list or expire",
    "matcher": "label matcher, repeatable: name=value, name!=value, name=~regex, name!~regex (add)",
    "duration": "how long the silence lasts, e.g. 30m, 2h (add)",
    "comment": "why (add; required)", "author": "who (add; required)",
    "id": "silence id (expire)", "env": "environment (default local)",
    "state": "list filter: active, pending, expired or all"})
def silence(c, action, matcher=None, duration="", comment="", author="", id="", env="local", state="active"):
    """Manage Alertmanager silences. Credentials come from the environment or the vault, never from arguments."""
    from alertstack import endpoints, silences
    with known_errors():
        cli.choice(action, ["add", "list", "expire"], "action")
        url = endpoints.for_env(cli.env(env)).alertmanager_url
        auth = silences.credentials(env)
        if action == "add":
            print(silences.add(url, matcher or [], duration, comment, author, auth=auth))
        elif action == "list":
            for item in silences.list_silences(url, auth=auth, state=None if state == "all" else state):
                print(silences.format_silence(item))
        elif action == "expire":
            silences.expire(url, id, auth=auth)
            print(f"expired {id}")


@task(help={"service": "value of the service label to silence", "duration": "e.g. 2h",
            "author": "who (default: $USER)", "env": "environment (default local)"})
def maintenance(c, service, duration, author="", env="local"):
    """Silence every alert of one service for a scheduled maintenance window."""
    import getpass
    from alertstack import endpoints, silences
    with known_errors():
        silences.parse_duration(duration)
        sid = silences.maintenance(endpoints.for_env(cli.env(env)).alertmanager_url, service, duration,
                                   author or getpass.getuser(), auth=silences.credentials(env))
    print(sid)


@task(positional=["action"], help={"action": "inject, mitigate or rollback",
                                   "scenario": "latency, errors, feature-store, drift, gpu-oom, "
                                               "model-performance, logging-outage",
                                   "env": "environment (default local; lab: on its hosts over SSH)"})
def fault(c, action, scenario="", env="local"):
    """Inject a drill fault into the demo platform, or mitigate it (rollback = restore the previous release)."""
    from alertstack import faults
    from alertstack.drills.runner import stack_from_env
    with known_errors():
        cli.choice(action, ["inject", "mitigate", "rollback"], "action")
        if scenario or action != "rollback":
            cli.choice(scenario, list(faults.SCENARIOS), "scenario")
        stack = stack_from_env(cli.env(env))
        if action == "inject":
            print(faults.inject(scenario, stack))
        elif action == "mitigate":
            print(faults.mitigate(scenario, stack))
        else:
            print(faults.mitigate(scenario, stack) if scenario else faults.rollback_release(stack))


@task(help={"days": "days of history (default 30)", "seed": "seed of the synthetic history (default 1)",
            "env": "environment whose rendered rules and SLOs are tested (default production)",
            "from_prometheus": "read the raw SLO series of the last DAYS from this Prometheus URL instead",
            "rules": "test this rule directory (a candidate) instead of rendering ENV's",
            "out": "parent directory of the report (default backtests/)"})
def backtest(c, days="30", seed="1", env="production", from_prometheus="", rules="", out="backtests"):
    """Evaluate the rendered alert rules over history with a real Prometheus; write backtests/<id>/report.md."""
    from alertstack.backtest import report, run
    try:
        result = run.run(days=run.integer("--days", days), seed=run.integer("--seed", seed), env=env,
                         rules_dir=Path(rules) if rules else None, from_prometheus=from_prometheus or None,
                         out_dir=Path(out))
    except run.BacktestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2)
    print(report.summary(result.score))
    print(f"report: {result.report_dir / 'report.md'}")
    _exit(0 if result.score.ok or result.history.source != "synthetic" else 1)


@task(help={"weeks": "weeks of history, ending now (default 4)", "env": "environment (default local)",
            "history": "a copy of the sink's messages.jsonl (default: the environment's sink over HTTP)",
            "incidents": "incident directories (default incidents/)", "out": "output directory (default out/oncall)"})
def oncall_report(c, weeks="4", env="local", history="", incidents="incidents", out="out/oncall"):
    """Pages per week per team and receiver, noisiest alerts, out-of-hours pages, MTTD/MTTR trends: Markdown + chart."""
    from alertstack import oncall, oncall_report as reporting
    with known_errors():
        report = reporting.run(cli.env(env), oncall.parse_weeks(weeks), history or None, REPO / incidents, out)
    print(f"report: {report}")


@task(positional=["action"], help={"action": "status", "env": "environment (default ha)"})
def ha(c, action, env="ha"):
    """Alertmanager cluster members, the peers each Alertmanager sees, and which Prometheus replicas are up."""
    from alertstack import ha_status
    with known_errors():
        cli.choice(action, ["status"], "action")
        code = ha_status.status(cli.env(env))
    _exit(code)


ns = Collection(up, down, deploy, lab, render, smoke, lint, test, docs, bench, drill, silence, maintenance, fault, backtest,
                oncall_report, ha)
