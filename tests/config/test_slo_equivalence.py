"""The generated SLO recording rules compute what the raw-window rules computed, evaluated by a real Prometheus.

Three days and a quarter of synthetic traffic of 3 services (6 SLOs, two families, different rates, daily cycles,
one 40-minute incident) are backfilled into TSDB blocks, the recorded 5m event rates are evaluated over the whole
history by Prometheus itself (range queries of the generated rate rules, as `promtool tsdb create-blocks-from rules`
evaluates them), and then, at the same instant, every window is queried twice: per SLO from the raw counters
(slo.bad_ratio_expr, the raw-window shape) and with the generated rule's own expression (the info series it joins on
inlined by slo.standalone_expr, since no rule runs here). Windows computed from the raw counters per family must give
each SLO its own ratio (to float precision); derived long windows must agree within 1 %.
"""
from __future__ import annotations

import pytest

from alertstack import slo, slo_backfill

pytestmark = pytest.mark.docker

SERVICES = 3
LONG_WINDOWS = [*slo.DERIVED_WINDOWS, "30d"]
RAW_WINDOWS = [*slo.SHORT_WINDOWS, *slo.RAW_LONG_WINDOWS]


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


def _slos():
    return slo.validate_slos(slo_backfill.slos_for(SERVICES))


def _rule_values(prom, window: str, at: int) -> dict[str, float]:
    """{slo: value} of the generated rule recording the ratio over `window`, evaluated at `at`."""
    groups = slo.rule_groups(_slos())
    rule = next(r for g in groups for r in g["rules"] if r.get("record") == f"{slo.RECORD_PREFIX}{window}")
    result = prom.query(slo.standalone_expr(rule["expr"], groups), at)
    for r in result:
        labels = {k: v for k, v in r["metric"].items() if k != "__name__"}
        assert set(labels) == {"slo", "sli", "service"}, f"{window}: series labelled {labels}"
    return {r["metric"]["slo"]: float(r["value"][1]) for r in result}


def test_the_long_windows_are_derived_from_recorded_rates():
    group = next(g for g in slo.rule_groups(_slos()) if g["name"] == slo.GROUP_LONG)
    long = {r["record"]: r["expr"] for r in group["rules"] if "record" in r}
    assert group["interval"] == slo.LONG_INTERVAL
    for w in LONG_WINDOWS:
        assert f"sum_over_time({slo.RECORD_BAD}[{w}])" in long[f"{slo.RECORD_PREFIX}{w}"]
        assert "rate(" not in long[f"{slo.RECORD_PREFIX}{w}"].replace("rate5m", "")


@pytest.mark.parametrize("window", RAW_WINDOWS)
def test_family_rules_give_every_slo_its_own_raw_ratio(backfilled, window):
    """One rule per window for all SLOs (sum by job/endpoint, joined to the SLO labels) = one raw rule per SLO."""
    prom, info = backfilled
    got = _rule_values(prom, window, info["at"])
    assert len(got) == 2 * SERVICES
    values = set()
    for s in _slos():
        raw = prom.scalar(slo.bad_ratio_expr(s, window), info["at"])
        assert raw is not None and raw > 0, f"{s.name} {window}: the raw ratio has no data"
        assert got[s.name] == pytest.approx(raw, rel=1e-9), f"{s.name} {window}"
        values.add(round(raw, 12))
    assert len(values) == 2 * SERVICES, "the SLOs' ratios must differ, or a swapped mapping would go unnoticed"


@pytest.mark.parametrize("window", LONG_WINDOWS)
def test_derived_long_window_ratios_match_the_raw_ones_within_1_percent(backfilled, window):
    prom, info = backfilled
    got = _rule_values(prom, window, info["at"])
    compared = 0
    for s in _slos():
        raw = prom.scalar(slo.bad_ratio_expr(s, window), info["at"])
        derived = got.get(s.name)
        assert raw is not None and raw > 0, f"{s.name} {window}: the raw ratio has no data"
        assert derived is not None, f"{s.name} {window}: the derived ratio has no data"
        assert abs(derived - raw) <= 0.01 * raw, f"{s.name} {window}: derived {derived:.6g} vs raw {raw:.6g}"
        # the one-SLO form used by queries (benchmark, incident reports) is the same ratio
        assert prom.scalar(slo.derived_ratio_expr(s, window), info["at"]) == pytest.approx(derived, rel=1e-9)
        compared += 1
    assert compared == 2 * SERVICES


def test_the_comparison_can_fail(backfilled):
    """A derived window that is off by the incident (3d read as 1d for the incident's service) is told apart."""
    prom, info = backfilled
    s = _slos()[0]                                               # svc-000 had the incident 30 hours ago
    raw = prom.scalar(slo.bad_ratio_expr(s, "3d"), info["at"])
    wrong = _rule_values(prom, "1d", info["at"])[s.name]
    assert abs(wrong - raw) > 0.01 * raw
