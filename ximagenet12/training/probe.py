"""The linear probe: a multinomial logistic regression on frozen, standardised features.

Fitting is scikit-learn's ``LogisticRegression`` (L-BFGS, deterministic: the same
features give the same head) after a ``StandardScaler``. The fitted pipeline is folded
into one plain linear layer, ``logits = x @ weight.T + bias`` on the *raw* features, so
that it can be written into the model's own head (:func:`ximagenet12.training.backbone.install_head`)
and the saved model predicts exactly what the probe predicted.

Fewer samples than feature dimensions (the usual probe: ~1,200 training images per fold
of 12 classes against 1280-d Lite0 or 768-d ViT features at the paper's scale; 88 against
1280 in the benchmark) are fitted in the span of the training samples. By the representer
theorem the L2-penalised optimum has ``W = B @ Vᵀ`` with ``V`` the right singular vectors
of the standardised training matrix ``X = U S Vᵀ``: the loss sees only ``X Wᵀ = (U S) Bᵀ``
and ``‖W‖ = ‖B‖``, and the intercept is not penalised. So the logistic regression is
fitted on the ``n x r`` matrix ``U S`` (r = rank ≤ n) and mapped back: the same optimum,
with L-BFGS over ``r x classes`` parameters instead of ``d x classes`` (``test_probe``
checks it against the full fit at a tight tolerance). At the default tolerance both land
within the solver's tolerance of that optimum; ``benchmarks/bench_train.py`` reports how
far each is from it and that the predictions agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_C", "DEFAULT_MAX_ITER", "DEFAULT_TOL", "ProbeHead", "fit_probe"]

#: Inverse L2 strength of the logistic regression (scikit-learn's default).
DEFAULT_C = 1.0
DEFAULT_MAX_ITER = 1000
#: L-BFGS stopping tolerance (scikit-learn's default).
DEFAULT_TOL = 1e-4
#: Singular values below this fraction of the largest are the centred matrix's null space.
_RANK_RTOL = 1e-10
#: Bias of a class that had no training sample (never predicted).
_ABSENT_CLASS_BIAS = -1e4


@dataclass(frozen=True)
class ProbeHead:
    """A fitted head on raw features, and how the fit went."""

    weight: np.ndarray  # float32 [classes, d]
    bias: np.ndarray  # float32 [classes]
    n_iter: int
    train_accuracy: float
    converged: bool

    def logits(self, features: np.ndarray) -> np.ndarray:
        return features.astype(np.float32) @ self.weight.T + self.bias


def fit_probe(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    num_classes: int,
    c: float = DEFAULT_C,
    max_iter: int = DEFAULT_MAX_ITER,
    tol: float = DEFAULT_TOL,
) -> ProbeHead:
    """Fit the probe on ``features [n, d]`` / ``labels [n]`` (class indices < ``num_classes``)."""
    if features.ndim != 2 or len(features) != len(labels):
        raise ValueError(f"features must be [n, d] with one label per row, got {features.shape} and {len(labels)} labels")
    if len(np.unique(labels)) < 2:
        raise ValueError("the probe needs at least two classes among its training samples")
    # One BLAS thread: the fit's matrix products are small, and a multi-threaded OpenBLAS
    # spinning beside torch's threads made a 12-class fit on 110 x 1280 features 80x slower
    # (13 s against 0.17 s, measured on this project's 2-core machines).
    with _one_blas_thread():
        return _fit(features, labels, num_classes=num_classes, c=c, max_iter=max_iter, tol=tol)


_CONTROLLER: list = []


def _one_blas_thread():
    """``threadpoolctl``'s limit through one cached controller: finding the BLAS libraries
    (what ``threadpool_limits()`` does on every call) cost ~20 ms per fit, a tenth of it."""
    try:
        from threadpoolctl import ThreadpoolController  # threadpoolctl >= 3.0
    except ImportError:  # scikit-learn 1.3 accepts threadpoolctl 2.x
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=1, user_api="blas")
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def _fit(features: np.ndarray, labels: np.ndarray, *, num_classes: int, c: float, max_iter: int,
         tol: float) -> ProbeHead:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(features)
    x = scaler.transform(features).astype(np.float64)
    basis = None
    if x.shape[0] < x.shape[1]:  # the span of the samples (see the module docstring)
        u, s, vt = np.linalg.svd(x, full_matrices=False)
        keep = s > s[0] * _RANK_RTOL
        x, basis = u[:, keep] * s[keep], vt[keep]
    clf = LogisticRegression(C=c, max_iter=max_iter, tol=tol)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        clf.fit(x, labels)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    coef, intercept = clf.coef_, clf.intercept_
    if basis is not None:
        coef = coef @ basis
    if coef.shape[0] == 1:  # binary: sklearn keeps one row, the logit of classes_[1]
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.array([0.0, intercept[0]])
    scale = np.where(scaler.scale_ == 0, 1.0, scaler.scale_)
    weight = np.zeros((num_classes, features.shape[1]), dtype=np.float64)
    bias = np.full(num_classes, _ABSENT_CLASS_BIAS, dtype=np.float64)
    for row, cls in enumerate(clf.classes_):
        weight[int(cls)] = coef[row] / scale
        bias[int(cls)] = intercept[row] - np.sum(coef[row] * scaler.mean_ / scale)
    head = ProbeHead(weight.astype(np.float32), bias.astype(np.float32), int(np.max(clf.n_iter_)), 0.0, converged)
    train_acc = float(np.mean(np.argmax(head.logits(features), axis=1) == labels))
    return ProbeHead(head.weight, head.bias, head.n_iter, train_acc, converged)
