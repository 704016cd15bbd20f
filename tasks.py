"""invoke tasks: parse arguments, call the alertstack package. No logic lives here."""
from __future__ import annotations

import sys
from pathlib import Path

from invoke import Collection, task

REPO = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))


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


@task(help={"env": "local, staging or production"})
def deploy(c, env="local"):
    """Run ansible-playbook -i inventories/ENV site.yml."""
    from alertstack import stack
    _exit(stack.deploy(env).returncode)


@task(help={"env": "environment to render", "out": "output directory (default out/)"})
def render(c, env="local", out="out"):
    """Write every file each host of ENV would get under OUT/ENV/<host>/, touching no host."""
    from alertstack import render as rendering
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
    _exit(0 if smoking.smoke(endpoints.for_env(env), float(timeout)).ok else 1)


@task
def lint(c):
    """ansible-lint, yamllint, and promtool/amtool checks of every rendered environment."""
    from alertstack import lint as linting
    _exit(linting.lint_all())


@task(help={"k": "pytest -k expression", "m": "pytest -m marker expression"})
def test(c, k="", m=""):
    """Run the whole test suite (unit, config, molecule, end-to-end)."""
    args = [sys.executable, "-m", "pytest"]
    if k:
        args += ["-k", k]
    if m:
        args += ["-m", m]
    import subprocess
    _exit(subprocess.call(args, cwd=REPO))


@task
def bench(c):
    """Print deploy timings: cold deploy (images present) and warm re-run."""
    import subprocess
    _exit(subprocess.call([sys.executable, str(REPO / "benchmarks" / "deploy_time.py")], cwd=REPO))


ns = Collection(up, down, deploy, render, smoke, lint, test, bench)
