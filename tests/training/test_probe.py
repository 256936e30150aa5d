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


def _softmax(logits):
    p = np.exp(logits - logits.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def test_fewer_samples_than_dimensions_reach_the_full_fits_optimum():
    # fitted in the span of the samples (n x r instead of n x d): by the representer theorem the
    # same optimum, checked at a tolerance tight enough to reach it from both sides
    x, y = blobs(4, n=8, d=60, seed=1)  # 32 samples, 60 dimensions
    held_out, _ = blobs(4, n=5, d=60, seed=2)
    head = fit_probe(x, y, num_classes=4, tol=1e-10, max_iter=20000)
    # (the oracle in float64: in float32 its own optimum is only good to ~1e-4)
    oracle = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, tol=1e-10, max_iter=20000)).fit(x.astype(float), y)
    np.testing.assert_allclose(_softmax(head.logits(held_out)), oracle.predict_proba(held_out), atol=1e-5)
    # at the default tolerance both stop near that optimum and predict the same classes
    default = fit_probe(x, y, num_classes=4)
    quick = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000)).fit(x, y)
    assert np.array_equal(default.logits(held_out).argmax(1), quick.predict(held_out))
    np.testing.assert_allclose(_softmax(default.logits(held_out)), oracle.predict_proba(held_out), atol=2e-2)


def test_the_same_features_give_the_same_head_in_the_span_of_the_samples():
    x, y = blobs(3, n=10, d=80)
    a, b = fit_probe(x, y, num_classes=3), fit_probe(x, y, num_classes=3)
    assert np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)


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
