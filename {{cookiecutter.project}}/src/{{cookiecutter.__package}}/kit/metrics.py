"""Scores: the metric of each task, the Kaggle evaluation metrics they stand for, and how to compute them.

A score takes the targets and the model's output as training gives them: class indices and
class probabilities (classification), 0/1 rows and tag probabilities (multi-label, cut at
a threshold), or numbers on the target's own scale (regression).
"""

from __future__ import annotations

import math

# Words of Kaggle's evaluationMetric -> the metric it is, most specific first.
KAGGLE = (
    ("logarithmic", "rmsle"),
    ("rmsle", "rmsle"),
    ("root mean squared log", "rmsle"),
    ("rmse", "rmse"),
    ("root mean square", "rmse"),
    ("mean absolute", "mae"),
    ("mae", "mae"),
    ("log loss", "log_loss"),
    ("logloss", "log_loss"),
    ("multiclass loss", "log_loss"),
    ("cross-entropy", "log_loss"),
    ("auc", "roc_auc"),
    ("area under", "roc_auc"),
    ("f2", "f2"),
    ("fbeta", "f2"),
    ("f-beta", "f2"),
    ("f1", "f1"),
    ("f-score", "f1"),
    ("accuracy", "accuracy"),
)
DEFAULT = {"classification": "accuracy", "multi-label": "f1", "regression": "rmse"}
TASKS = {  # which task a metric scores
    "accuracy": ("classification", "multi-label"),
    "error_rate": ("classification",),
    "log_loss": ("classification",),
    "roc_auc": ("classification",),
    "f1": ("classification", "multi-label"),
    "f2": ("classification", "multi-label"),
    "rmse": ("regression",),
    "rmsle": ("regression",),
    "mae": ("regression",),
}
LOWER_IS_BETTER = {"error_rate", "log_loss", "rmse", "rmsle", "mae"}


def from_kaggle(name: str | None) -> str:
    """Our name for Kaggle's evaluation metric ('Root Mean Squared Logarithmic Error' -> rmsle), or ''."""
    words = " ".join(str(name or "").lower().replace("_", " ").split())
    return next((ours for phrase, ours in KAGGLE if phrase in words), "")


def resolve(metric: str, task: str) -> str:
    """The metric a task is scored in: the configured one when it fits the task, else the task's default."""
    return metric if metric != "auto" and task in TASKS.get(metric, ()) else DEFAULT[task]


def score(metric: str, task: str, targets, output, threshold: float = 0.5) -> float:
    """One score; nan where the metric is undefined for these values (AUC of one class, say)."""
    import numpy as np
    from sklearn import metrics

    targets, output = np.asarray(targets), np.asarray(output, dtype=np.float64)
    try:
        if task == "regression":
            predicted = output.reshape(len(targets))
            if metric == "mae":
                return float(np.abs(predicted - targets).mean())
            if metric == "rmsle":  # Kaggle's: log1p of both, predictions below 0 clipped
                return float(np.sqrt(np.mean((np.log1p(np.clip(predicted, 0, None)) - np.log1p(targets)) ** 2)))
            return float(np.sqrt(np.mean((predicted - targets) ** 2)))
        if task == "multi-label":
            chosen = output >= threshold
            if metric == "accuracy":
                return float((chosen == targets.astype(bool)).all(1).mean())
            beta = 2.0 if metric == "f2" else 1.0
            return float(metrics.fbeta_score(targets, chosen, beta=beta, average="samples", zero_division=0))
        classes = output.shape[1]
        if metric in ("accuracy", "error_rate"):
            accuracy = float((output.argmax(1) == targets).mean())
            return accuracy if metric == "accuracy" else 1.0 - accuracy
        if metric == "log_loss":  # the mean cross-entropy, as Kaggle computes it (probabilities clipped at 1e-15)
            return float(-np.log(np.clip(output[np.arange(len(targets)), targets], 1e-15, 1)).mean())
        if metric in ("f1", "f2"):
            beta, average = (2.0 if metric == "f2" else 1.0), "binary" if classes == 2 else "macro"
            return float(metrics.fbeta_score(targets, output.argmax(1), beta=beta, average=average, zero_division=0))
        if classes == 2:  # roc_auc: the positive class's probability, or one-vs-rest over more classes
            return float(metrics.roc_auc_score(targets, output[:, 1]))
        return float(metrics.roc_auc_score(targets, output, multi_class="ovr", labels=list(range(classes))))
    except ValueError:
        return float("nan")


def best_threshold(metric: str, targets, probs) -> float:
    """The tag threshold (0.05 .. 0.95) that scores best on validation: multi-label predictions cut there."""
    candidates = [round(0.05 * i, 2) for i in range(1, 20)]
    scores = [score(metric, "multi-label", targets, probs, t) for t in candidates]
    return candidates[max(range(len(scores)), key=lambda i: -math.inf if math.isnan(scores[i]) else scores[i])]
