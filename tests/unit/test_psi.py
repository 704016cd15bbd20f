"""PSI as the drift monitor computes it, against numbers worked out by hand and the shipped reference."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from drift_monitor.psi import proportions, psi, psi_against_reference, psi_of_samples, quantile_edges
from drift_monitor.server import DriftMonitor

REFERENCE = json.loads((Path(__file__).resolve().parents[2] / "apps/drift_monitor/reference.json").read_text())


def test_psi_matches_the_formula_worked_by_hand():
    expected = 0.25 * math.log(2) + 0.25 * math.log(1.5)  # (0.25-0.5)ln(0.25/0.5) + (0.75-0.5)ln(0.75/0.5)
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(expected, rel=1e-9)
    assert psi([0.2] * 5, [0.2] * 5) == 0


def test_empty_bins_stay_finite_and_bin_mismatch_is_refused():
    value = psi([0.5, 0.5], [1.0, 0.0])
    assert math.isfinite(value) and value > 1
    with pytest.raises(ValueError, match="bin count mismatch"):
        psi([0.5, 0.5], [0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="no values"):
        proportions([], [1.0])


def test_bins_are_open_ended_and_cover_every_value():
    shares = proportions([-1e9, 0.5, 1.5, 2.5, 1e9], [1.0, 2.0])
    assert list(shares) == [0.4, 0.2, 0.4]
    assert quantile_edges(np.arange(100), 4) == pytest.approx([24.75, 49.5, 74.25])


def test_same_distribution_is_stable_and_the_specification_drift_is_major():
    rng = np.random.default_rng(1)
    reference = rng.normal(35, 10, 20000)
    assert psi_of_samples(reference, rng.normal(35, 10, 2000)) < 0.05
    assert psi_of_samples(reference, rng.normal(50, 15, 2000)) > 0.25


def test_shipped_reference_is_consistent_with_the_training_distribution():
    for entry in [*REFERENCE["features"].values(), REFERENCE["prediction"]]:
        assert sum(entry["expected"]) == pytest.approx(1, abs=1e-4)
        assert entry["edges"] == sorted(entry["edges"])
    rng = np.random.default_rng(3)
    live_age = np.clip(rng.normal(35, 10, 1000), 18, 95)
    assert psi_against_reference(REFERENCE["features"]["user_age"], live_age) < 0.05
    drifted = np.clip(rng.normal(50, 15, 1000), 18, 95)
    assert psi_against_reference(REFERENCE["features"]["user_age"], drifted) > 0.25


def test_monitor_reports_nothing_below_min_samples_and_psi_per_feature_above():
    monitor = DriftMonitor("http://127.0.0.1:9", REFERENCE, min_samples=100)
    rng = np.random.default_rng(5)
    items = [{"user_age": float(a), "account_balance": float(b), "score": 0.1}
             for a, b in zip(rng.normal(35, 10, 99), rng.lognormal(7.6, 1.0, 99))]
    assert monitor.compute({"items": items}) == {}
    result = monitor.compute({"items": items * 3})
    assert set(result) == {("feature", "user_age"), ("feature", "account_balance"), ("prediction", "prediction")}
    assert result[("feature", "user_age")] < 0.2
