"""The command line's one convention, for every invoke task: a known error is one line on stderr and exit 2.

A task checks its arguments (environment, scenario, action, number) with the functions here before it touches
anything (no playbook, no Docker, no HTTP call), then runs inside `known_errors()`, which turns the package's own
errors into that one line instead of a traceback.
"""
from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

EXIT_USAGE = 2


class UsageError(ValueError):
    """A bad argument of a task."""


def _known() -> tuple[type[Exception], ...]:
    from alertstack import ansible, faults, lab, silences
    return UsageError, ansible.UnknownEnvironment, silences.SilenceError, faults.FaultError, lab.LabError


def fail(message: str) -> None:
    """Print `error: message` on one line to stderr and exit 2."""
    line = "; ".join(part.strip() for part in str(message).splitlines() if part.strip())
    print(f"error: {line}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


@contextmanager
def known_errors() -> Iterator[None]:
    """Run a task's body: a known error (bad argument, unknown environment, refused silence, failed fault) becomes
    one line on stderr and exit 2; anything else is a bug and keeps its traceback."""
    try:
        yield
    except _known() as exc:
        fail(str(exc))


def env(name: str) -> str:
    """`name` if it is an environment under inventories/, else UnknownEnvironment naming the known ones."""
    from alertstack import ansible
    ansible.inventory_path(name)
    return name


def envs(names: str) -> list[str]:
    """A comma-separated list of environments, each checked; [] for an empty string."""
    return [env(n.strip()) for n in names.split(",") if n.strip()]


def choice(value: str, choices: Sequence[str], what: str) -> str:
    """`value` if it is one of `choices`, else UsageError naming them."""
    if value not in choices:
        names = list(choices)
        raise UsageError(f"unknown {what} {value!r}: use {', '.join(names[:-1])} or {names[-1]}")
    return value


def seconds(value, what: str) -> float:
    """A positive number of seconds given on the command line."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = 0.0
    if not number > 0:
        raise UsageError(f"{what} {value!r} is not a positive number of seconds")
    return number


def parse_errors_exit_2() -> None:
    """invoke's own parser rejects an unknown option or a missing argument on one line but with exit 1, and a
    non-number for a numeric option with a traceback: make both one `error:` line and exit 2, as every other bad
    argument of these tasks (tasks.py calls this once, when invoke loads it)."""
    from invoke import Exit, ParseError
    from invoke.main import program

    if getattr(program, "_alertstack_exit_2", False):
        return
    parse_tasks = program.parse_tasks

    def parse_tasks_exit_2() -> None:
        try:
            parse_tasks()
        except ParseError as exc:
            raise Exit(f"error: {exc}", code=EXIT_USAGE) from exc
        except ValueError as exc:  # invoke casts a numeric option's value with int() while it parses
            raise Exit(f"error: bad option value: {exc}", code=EXIT_USAGE) from exc

    program.parse_tasks = parse_tasks_exit_2
    program._alertstack_exit_2 = True
