"""The linear probe folds scikit-learn's scaler + logistic regression into one linear head."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ximagenet12.training.probe import fit_probe


def blobs(classes: int, *, n: int = 30, d: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (classes, d))
    y = np.repeat(np.arange(classes), n)
    x = centres[y] + rng.normal(0, 1, (len(y), d)) * rng.uniform(0.5, 20, d)  # very different feature scales
    return x.astype(np.float32), y


@pytest.mark.parametrize("classes", [2, 4])
def test_folded_head_gives_the_pipeline_probabilities(classes):
    x, y = blobs(classes)
    head = fit_probe(x, y, num_classes=classes)
    oracle = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000)).fit(x, y)
    logits = head.logits(x)
    prob = np.exp(logits - logits.max(1, keepdims=True))
    prob /= prob.sum(1, keepdims=True)
    np.testing.assert_allclose(prob, oracle.predict_proba(x), atol=1e-4)
    assert head.train_accuracy == pytest.approx(float(np.mean(oracle.predict(x) == y)))
    assert head.converged and head.n_iter > 0


def test_a_class_absent_from_training_is_never_predicted():
    x, y = blobs(3)
    keep = y != 1
    head = fit_probe(x[keep], y[keep], num_classes=3)
    assert head.weight.shape == (3, x.shape[1])
    assert not np.any(head.logits(x).argmax(1) == 1)


def test_the_same_features_give_the_same_head():
    x, y = blobs(3)
    a, b = fit_probe(x, y, num_classes=3), fit_probe(x, y, num_classes=3)
    assert np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)


def test_bad_shapes_and_one_class_are_errors():
    x, y = blobs(2)
    with pytest.raises(ValueError, match="features must be \\[n, d\\] with one label per row"):
        fit_probe(x[:, 0], y, num_classes=2)
    with pytest.raises(ValueError, match="at least two classes"):
        fit_probe(x[y == 0], y[y == 0], num_classes=2)
