"""The part of an alert's rule that is not about the fault: a drill can only page if it holds until the alert fires.

ModelPerformanceDegraded fires on a low AUC-ROC *and* an AUC-ROC above 0.80 seven days earlier (`offset 7d`). Once a
stack is more than a week old, a drill that starts within minutes of the time of day of an earlier model-performance
drill (or real incident) finds that week-ago baseline degraded, and the alert cannot fire however bad the model is
now. A scenario names that condition (`Scenario.precondition`, PromQL that returns a series while it holds); before
injecting, the drill evaluates it from now to the notification deadline, at future times too (its `offset` reads
the past), and waits until it holds for the whole of that span, or says from when it will.
"""
from __future__ import annotations

import math

from alertstack import api

STEP_S = 30.0


def holds_from(points: list[float], start: float, end: float, step: float, need_s: float) -> float | None:
    """The earliest evaluation time T in [start, end] from which the condition holds at every step up to T + need_s.

    `points`: the evaluation times (the range query's steps from `start` to `end`) at which it holds. None when no
    such T leaves need_s before `end`.
    """
    held = {round((p - start) / step) for p in points}
    last = int(math.floor((end - start) / step + 1e-9))     # the index of the last step
    span = int(math.ceil(need_s / step - 1e-9))             # steps after T that must hold too
    for i in range(0, last - span + 1):
        if all(j in held for j in range(i, i + span + 1)):
            return start + i * step
    return None


def clear_from(prometheus_url: str, expr: str, now: float, need_s: float, within_s: float, auth=None) -> float | None:
    """When `expr` starts to hold for need_s on end, at the earliest (now when it already does), looking within_s
    ahead; None when it does not within that time."""
    end = now + within_s + need_s
    result = api.query_range(prometheus_url, expr, now, end, STEP_S, auth)
    points = {float(t) for series in result for t, _ in series.get("values", [])}
    return holds_from(sorted(points), now, end, STEP_S, need_s)
