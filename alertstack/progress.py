"""Progress output for anything that waits, and a polling helper with a deadline."""
from __future__ import annotations

import sys
import time
from typing import Callable, TypeVar

T = TypeVar("T")


def say(message: str) -> None:
    print(message, flush=True)


def wait_until(description: str, probe: Callable[[], T | None], timeout_s: float, poll_s: float = 2.0,
               report_every_s: float = 15.0) -> T | None:
    """Call `probe` until it returns something truthy or `timeout_s` passes; print elapsed time while waiting.

    Returns the probe's value, or None on timeout. Exceptions from the probe count as "not yet".
    """
    start = time.monotonic()
    last_report = start
    say(f"  waiting: {description} (up to {timeout_s:.0f}s)")
    while True:
        try:
            value = probe()
        except Exception as exc:  # noqa: BLE001 - a probe that cannot answer yet is simply not ready
            value, error = None, exc
        else:
            error = None
        now = time.monotonic()
        if value:
            say(f"  done:    {description} after {now - start:.1f}s")
            return value
        if now - start >= timeout_s:
            detail = f" (last error: {error})" if error else ""
            say(f"  TIMEOUT: {description} after {now - start:.1f}s{detail}")
            return None
        if now - last_report >= report_every_s:
            say(f"  ...      {description}: {now - start:.0f}s elapsed")
            last_report = now
        time.sleep(poll_s)


def fail(message: str, code: int = 1) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)
