"""The fraud model: a small logistic regression shipped as data (models/<name>.json), its input validation, its
offline evaluation on a seeded hold-out set, and its live performance on labelled outcomes (live_performance)."""
from __future__ import annotations

import json
import math
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent / "models"


class ModelLoadError(Exception):
    """The model file is missing or malformed."""


class ValidationError(Exception):
    """A request's features are unusable; `reason` is the metric label."""

    def __init__(self, reason: str, message: str, feature: str | None = None):
        super().__init__(message)
        self.reason = reason
        self.feature = feature


class Model:
    def __init__(self, spec: dict):
        try:
            self.name = str(spec["name"])
            self.version = str(spec["version"])
            self.features = list(spec["features"])
            self.intercept = float(spec["intercept"])
            self.threshold = float(spec.get("threshold", 0.5))
            self.ranges = {f: tuple(spec["features"][f]["range"]) for f in self.features}
            self.transforms = {f: spec["features"][f].get("transform", "identity") for f in self.features}
            self.means = {f: float(spec["features"][f]["mean"]) for f in self.features}
            self.scales = {f: float(spec["features"][f]["scale"]) for f in self.features}
            self.coefs = {f: float(spec["features"][f]["coef"]) for f in self.features}
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"model spec is malformed: {exc!r}") from exc
        for f, t in self.transforms.items():
            if t not in ("identity", "log1p"):
                raise ModelLoadError(f"model spec: feature {f}: unknown transform {t!r}")

    def validate(self, features: dict) -> dict:
        """Return the model's features as floats, or raise ValidationError naming the first bad one."""
        clean = {}
        for f in self.features:
            if f not in features or features[f] is None:
                raise ValidationError("missing_feature", f"feature {f} is missing", f)
            value = features[f]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValidationError("wrong_type", f"feature {f} must be a number, got {type(value).__name__}", f)
            value = float(value)
            low, high = self.ranges[f]
            if not (low <= value <= high) or math.isnan(value):
                raise ValidationError("out_of_range", f"feature {f}={value} is outside [{low}, {high}]", f)
            clean[f] = value
        return clean

    def score(self, features: dict) -> float:
        """Fraud probability for validated features."""
        z = self.intercept
        for f in self.features:
            x = features[f]
            if self.transforms[f] == "log1p":
                x = math.log1p(x)
            z += self.coefs[f] * (x - self.means[f]) / self.scales[f]
        return 1.0 / (1.0 + math.exp(-z))


def load_model(name: str, models_dir: Path = MODELS_DIR) -> Model:
    if not name or "/" in name or name.startswith("."):
        raise ModelLoadError(f"invalid model name {name!r}")
    path = models_dir / f"{name}.json"
    try:
        spec = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ModelLoadError(f"model file {path} not found") from exc
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"model file {path} unreadable: {exc}") from exc
    return Model(spec)


def evaluate(model: Model, seed: int = 7, n: int = 4000) -> dict:
    """AUC-ROC, accuracy, precision and recall of `model` on a seeded hold-out set drawn from the training
    distributions, labelled by the data-generating process (a logistic with noise the model does not see)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    age = np.clip(rng.normal(35, 10, n), 18, 95)
    balance = rng.lognormal(7.6, 1.0, n)
    noise = rng.normal(0, 0.9, n)
    true_z = -2.3 - 0.9 * (age - 35) / 10 - 1.1 * (np.log1p(balance) - 7.6) + noise
    labels = rng.random(n) < 1 / (1 + np.exp(-true_z))
    scores = np.array([model.score({"user_age": a, "account_balance": b}) for a, b in zip(age, balance)])
    # AUC = probability that a random positive outranks a random negative (Mann-Whitney U)
    order = scores.argsort()
    ranks = np.empty(n)
    ranks[order] = np.arange(1, n + 1)
    pos = labels.sum()
    neg = n - pos
    auc = float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))
    predicted = scores >= model.threshold
    tp = int((predicted & labels).sum())
    return {
        "auc_roc": auc,
        "accuracy": float((predicted == labels).mean()),
        "precision": tp / max(int(predicted.sum()), 1),
        "recall": tp / max(int(pos), 1),
    }


def auc_roc(scores: list[float], labels: list[bool]) -> float | None:
    """Probability that a random positive outranks a random negative (Mann-Whitney U, ties counted half);
    None without both classes."""
    pos = sum(1 for label in labels if label)
    neg = len(labels) - pos
    if not pos or not neg:
        return None
    order = sorted(range(len(scores)), key=scores.__getitem__)
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):  # tied scores share their average rank
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    rank_sum = sum(r for r, label in zip(ranks, labels) if label)
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def live_performance(outcomes: list[tuple[float, bool]], threshold: float) -> dict | None:
    """AUC-ROC, accuracy, precision and recall of (score, true label) outcomes; None without both classes."""
    scores = [s for s, _ in outcomes]
    labels = [bool(label) for _, label in outcomes]
    auc = auc_roc(scores, labels)
    if auc is None:
        return None
    predicted = [s >= threshold for s in scores]
    tp = sum(1 for p, label in zip(predicted, labels) if p and label)
    return {
        "auc_roc": auc,
        "accuracy": sum(1 for p, label in zip(predicted, labels) if p == label) / len(labels),
        "precision": tp / max(sum(predicted), 1),
        "recall": tp / max(sum(labels), 1),
    }
