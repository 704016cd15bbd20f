"""The whole test suite as concurrent streams: one pytest process per group of test directories.

Most of the suite's wall time is waiting (alerts to fire, windows to drain, containers to start), not computing, so
the groups that wait on their own stacks run side by side instead of one after another. Each stream is a plain pytest
run over its directories, with its output in out/test-logs/<stream>.log; a progress line is printed while they run,
and at the end each stream's summary (and the whole log of any stream that failed). The exit status is non-zero when
any stream fails.

The groups keep apart what must not share a moment: every stream has its own stack (the local stack for e2e, its own
Compose projects for molecule, ha and lab), and the offline images are built once before any stream starts.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from alertstack.cli import UsageError
from alertstack.progress import say

REPO = Path(__file__).resolve().parent.parent
LOG_DIR = REPO / "out" / "test-logs"

# stream name -> test directories, in the order pytest runs them inside the stream. The first stream holds the
# CPU-bound checks; the others are each one stack that mostly waits.
STREAMS: dict[str, tuple[str, ...]] = {
    "checks": ("tests/unit", "tests/host", "tests/config", "tests/molecule"),
    "e2e": ("tests/e2e",),
    "ha": ("tests/ha",),
    "lab": ("tests/lab",),
}

_SUMMARY = re.compile(r"^=+ .*(passed|failed|error|no tests ran|skipped|deselected).* in [\d.]+s.* =+$")
_RESULT = re.compile(r"^(tests/\S+::\S+.*?) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)")
_NO_TESTS = 5  # pytest's exit status when nothing was collected (a -k or -m that selects nothing in this stream)


class TestRunError(UsageError):
    """A stream name that does not exist."""


@dataclass
class Stream:
    name: str
    paths: tuple[str, ...]
    log: Path
    process: subprocess.Popen | None = None
    started: float = 0.0
    finished: float | None = None
    returncode: int | None = None
    results: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode in (0, _NO_TESTS)

    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started


def streams(names: list[str] | None = None) -> list[Stream]:
    """The streams to run: the named ones (all by default), each limited to its directories that exist."""
    wanted = names or list(STREAMS)
    unknown = [n for n in wanted if n not in STREAMS]
    if unknown:
        raise TestRunError(f"unknown test stream {', '.join(map(repr, unknown))}; known: {', '.join(STREAMS)}")
    chosen = []
    for name in wanted:
        paths = tuple(p for p in STREAMS[name] if (REPO / p).is_dir())
        if paths:
            chosen.append(Stream(name, paths, LOG_DIR / f"{name}.log"))
    return chosen


def pytest_command(stream: Stream, k: str = "", m: str = "") -> list[str]:
    # --durations: each stream's log ends with its slowest tests, where CI time goes.
    args = [sys.executable, "-m", "pytest", "-v", "--color=no", "--durations=10", *stream.paths]
    if k:
        args += ["-k", k]
    if m:
        args += ["-m", m]
    return args


def _count_results(stream: Stream) -> None:
    """Tally the PASSED/FAILED/... lines written so far (pytest -v), for the progress line."""
    counts: dict[str, int] = {}
    try:
        text = stream.log.read_text(errors="replace")
    except OSError:
        return
    for line in text.splitlines():
        match = _RESULT.match(line)
        if match:
            counts[match.group(2)] = counts.get(match.group(2), 0) + 1
    stream.results = counts


def _status(stream: Stream) -> str:
    tally = ", ".join(f"{n} {kind.lower()}" for kind, n in sorted(stream.results.items())) or "starting"
    state = "running" if stream.returncode is None else ("ok" if stream.ok else f"FAILED (exit {stream.returncode})")
    return f"{stream.name}: {state}, {tally}, {stream.seconds():.0f}s"


def build_images() -> bool:
    """Build the offline images once, before the streams start, so that no two streams build them at the same time."""
    from alertstack import ansible
    from alertstack.images import OFFLINE
    missing = [tag for tag in OFFLINE.values()
               if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode != 0]
    if not missing:
        return True
    say(f"building the offline images first: {', '.join(missing)}")
    run = ansible.playbook("local", playbook="tests/images.yml", echo=False)
    if not run.ok:
        say(f"building the offline images failed:\n{run.output[-3000:]}")
    return run.ok


def _summary(stream: Stream) -> list[str]:
    """The lines worth printing for a stream that passed: its short summary, stage timings and final line."""
    lines = stream.log.read_text(errors="replace").splitlines()
    keep, on = [], False
    for line in lines:
        if line.startswith("=") and ("short test summary info" in line or "time per stage" in line):
            on = True
        elif _SUMMARY.match(line):
            keep.append(line)
            on = False
            continue
        if on:
            keep.append(line)
    return keep


def run(names: list[str] | None = None, k: str = "", m: str = "", report_every_s: float = 60.0) -> int:
    """Run the streams side by side; print progress while they run and each one's result; 0 when all passed."""
    chosen = streams(names)
    needs_docker = any(p != "tests/unit" for s in chosen for p in s.paths)
    if needs_docker and not build_images():
        return 1
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    start = time.monotonic()
    for stream in chosen:
        handle = stream.log.open("w")
        stream.started = time.monotonic()
        stream.process = subprocess.Popen(pytest_command(stream, k, m), cwd=REPO, stdout=handle,
                                          stderr=subprocess.STDOUT, env=env)
        handle.close()
        say(f"started stream {stream.name} ({' '.join(stream.paths)}); log: {stream.log}")
    last_report = time.monotonic()
    try:
        while any(s.returncode is None for s in chosen):
            time.sleep(2)
            for stream in chosen:
                if stream.returncode is None and stream.process.poll() is not None:
                    stream.returncode, stream.finished = stream.process.returncode, time.monotonic()
                    _count_results(stream)
                    say(f"finished {_status(stream)}")
            if time.monotonic() - last_report >= report_every_s:
                last_report = time.monotonic()
                for stream in chosen:
                    _count_results(stream)
                say(f"[{time.monotonic() - start:5.0f}s] " + " | ".join(_status(s) for s in chosen))
    except KeyboardInterrupt:
        for stream in chosen:
            if stream.process and stream.process.poll() is None:
                stream.process.terminate()
        raise
    for stream in chosen:
        say("")
        if stream.ok:
            say(f"===== stream {stream.name}: passed in {stream.seconds():.0f}s =====")
            for line in _summary(stream):
                say(line)
        else:
            say(f"===== stream {stream.name}: FAILED (exit {stream.returncode}) in {stream.seconds():.0f}s; "
                f"its whole log follows =====")
            sys.stdout.write(stream.log.read_text(errors="replace"))
    failed = [s.name for s in chosen if not s.ok]
    say("")
    say(f"test suite: {len(chosen) - len(failed)}/{len(chosen)} streams passed in {time.monotonic() - start:.0f}s"
        + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0
