"""Rebuild reference.json: the training distributions of the fraud model, binned for PSI.

Run with the venv (the package is installed): .venv/bin/python -m drift_monitor.build_reference  (deterministic: seeded
sample).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from drift_monitor.psi import proportions, quantile_edges
from inference_gateway.model import load_model

HERE = Path(__file__).resolve().parent


def main() -> None:
    rng = np.random.default_rng(42)
    n = 20000
    sample = {"user_age": np.clip(rng.normal(35, 10, n), 18, 95), "account_balance": rng.lognormal(7.6, 1.0, n)}
    model = load_model("fraud_detection")
    scores = np.array([model.score({"user_age": a, "account_balance": b})
                       for a, b in zip(sample["user_age"], sample["account_balance"])])
    out = {"model_name": model.name, "model_version": model.version, "sample_size": n,
           "note": "training distribution: user_age ~ N(35, 10) clipped to [18, 95], "
                   "account_balance ~ LogNormal(7.6, 1.0); 10 quantile bins", "features": {}}
    for name, values in {**sample, "prediction": scores}.items():
        edges = quantile_edges(values, 10)
        entry = {"edges": [round(e, 6) for e in edges]}
        entry["expected"] = [round(float(p), 6) for p in proportions(values, entry["edges"])]
        if name == "prediction":
            out["prediction"] = entry
        else:
            out["features"][name] = entry
    (HERE / "reference.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
