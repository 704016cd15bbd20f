"""Population Stability Index against a binned reference.

PSI = sum_i (a_i - e_i) * ln(a_i / e_i), where e_i is the reference share of bin i and a_i the live share; the bins
are the reference's quantile bins (outer bins open-ended). Empty bins are floored at EPSILON so that the sum stays
finite. Rule of thumb: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 major shift.
"""
from __future__ import annotations

import numpy as np

EPSILON = 1e-4


def quantile_edges(sample, bins: int = 10) -> list[float]:
    """Interior edges of `bins` equal-population bins of `sample`."""
    if bins < 2:
        raise ValueError("bins must be >= 2")
    qs = np.quantile(np.asarray(sample, dtype=float), np.linspace(0, 1, bins + 1)[1:-1])
    return [float(q) for q in np.unique(qs)]


def proportions(values, edges) -> np.ndarray:
    """Share of `values` in each bin delimited by the interior `edges` (outer bins open-ended)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("no values to bin")
    counts, _ = np.histogram(values, bins=np.concatenate(([-np.inf], np.asarray(edges, float), [np.inf])))
    return counts / values.size


def psi(expected, actual) -> float:
    """PSI of live shares `actual` against reference shares `expected` (same bins)."""
    e = np.clip(np.asarray(expected, dtype=float), EPSILON, None)
    a = np.clip(np.asarray(actual, dtype=float), EPSILON, None)
    if e.shape != a.shape:
        raise ValueError(f"bin count mismatch: reference {e.shape}, live {a.shape}")
    return float(np.sum((a - e) * np.log(a / e)))


def psi_against_reference(reference: dict, values) -> float:
    """`reference` = {"edges": [...], "expected": [...]} as stored in reference.json."""
    return psi(reference["expected"], proportions(values, reference["edges"]))


def psi_of_samples(reference_sample, live_sample, bins: int = 10) -> float:
    edges = quantile_edges(reference_sample, bins)
    return psi(proportions(reference_sample, edges), proportions(live_sample, edges))
