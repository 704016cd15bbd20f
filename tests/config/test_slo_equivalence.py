"""The derived long windows (alertstack/slo.py) equal the raw-window ratios, evaluated by a real Prometheus.

Three days and a quarter of synthetic traffic of 3 services (6 SLOs, daily cycles, one 40-minute incident) are
backfilled into TSDB blocks, the recorded 5m event rates are evaluated over the whole history by Prometheus itself
(range queries, as `promtool tsdb create-blocks-from rules` evaluates them), and then, at the same instant, every
long window is queried twice: from the raw counters (slo.bad_ratio_expr, what the rules computed before) and from
the recorded rates (slo.derived_ratio_expr, what the rules compute now). They must agree within 1 %.
"""
from __future__ import annotations

import pytest

from alertstack import slo, slo_backfill

pytestmark = pytest.mark.docker

SERVICES = 3
LONG_WINDOWS = [*slo.DERIVED_WINDOWS, "30d"]


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory):
    work = tmp_path_factory.mktemp("slo-equivalence")
    info = slo_backfill.history(work, SERVICES, 78 * 3600, "slo-equivalence")
    data = slo_backfill.data_dir(work, "combined", recorded=True)
    prom = slo_backfill.Prometheus("slo-equivalence", work, work / "no-rules", data)
    try:
        prom.wait_ready()
        yield prom, info
    finally:
        prom.stop()


def test_the_long_windows_are_derived_from_recorded_rates():
    groups = slo.slo_rule_groups(slo.validate_slos(slo_backfill.slos_for(1))[0])
    long = {r["record"]: r["expr"] for r in groups[1]["rules"] if "record" in r}
    assert groups[1]["interval"] == slo.LONG_INTERVAL
    for w in LONG_WINDOWS:
        assert f"sum_over_time({slo.RECORD_BAD}" in long[f"{slo.RECORD_PREFIX}{w}"]
        assert "rate(" not in long[f"{slo.RECORD_PREFIX}{w}"]


@pytest.mark.parametrize("window", LONG_WINDOWS)
def test_derived_long_window_ratios_match_the_raw_ones_within_1_percent(backfilled, window):
    prom, info = backfilled
    compared = 0
    for s in slo.validate_slos(slo_backfill.slos_for(SERVICES)):
        raw = prom.scalar(slo.bad_ratio_expr(s, window), info["at"])
        derived = prom.scalar(slo.derived_ratio_expr(s, window), info["at"])
        assert raw is not None and raw > 0, f"{s['name']} {window}: the raw ratio has no data"
        assert derived is not None, f"{s['name']} {window}: the derived ratio has no data"
        assert abs(derived - raw) <= 0.01 * raw, f"{s['name']} {window}: derived {derived:.6g} vs raw {raw:.6g}"
        compared += 1
    assert compared == 2 * SERVICES


def test_the_comparison_can_fail(backfilled):
    """A derived window that is off by the incident (3d read as 1d for the incident's service) is told apart."""
    prom, info = backfilled
    s = slo.validate_slos(slo_backfill.slos_for(1))[0]           # svc-000 had the incident 30 hours ago
    raw = prom.scalar(slo.bad_ratio_expr(s, "3d"), info["at"])
    wrong = prom.scalar(slo.derived_ratio_expr(s, "1d"), info["at"])
    assert abs(wrong - raw) > 0.01 * raw
