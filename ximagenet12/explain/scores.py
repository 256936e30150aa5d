"""Where the evidence lies: per-sample focus figures and their means with bootstrap CIs.

Pure numpy (plus ``scipy.stats.bootstrap``), no model and no I/O.

Per sample, from an attribution map ``A`` (H x W, any sign) and the object mask ``M``
(H x W bool) at the same resolution:

``object_focus``
    share of the *positive* attribution mass inside the mask, ``sum(A+ [M]) / sum(A+)``,
    in [0, 1]. Undefined (NaN) when the map has no positive mass.
``mask_area``
    share of the pixels that are object, in (0, 1].
``focus_ratio``
    ``object_focus / mask_area``: 1 = no preference for the object, > 1 = the evidence
    is denser on the object than on the background. In [0, 1 / area].
``pointing_hit``
    1.0 when a pixel of maximal attribution lies inside the mask (the pointing game,
    Zhang et al. 2016, without a tolerance band), else 0.0; NaN when the map is
    constant (no maximum to point at).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ximagenet12.explain.constants import DEFAULT_CONFIDENCE, DEFAULT_N_BOOTSTRAP

__all__ = [
    "FOCUS_COLUMNS",
    "DEFAULT_N_BOOTSTRAP",
    "DEFAULT_CONFIDENCE",
    "focus_metrics",
    "mean_ci",
    "summarise_focus",
    "right_vs_wrong",
]

#: The per-sample figures, as columns of ``explanations.parquet``.
FOCUS_COLUMNS: tuple[str, ...] = ("object_focus", "focus_ratio", "pointing_hit", "mask_area", "positive_mass")


def _check_pair(attribution: Any, mask: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(attribution, np.ndarray) or not isinstance(mask, np.ndarray):
        raise TypeError(
            f"{what}: attribution and mask must be numpy arrays, got "
            f"{type(attribution).__name__} and {type(mask).__name__}"
        )
    if attribution.ndim != 2 or attribution.shape != mask.shape:
        raise ValueError(
            f"{what}: attribution {attribution.shape} and mask {mask.shape} must be two H x W arrays of one size"
        )
    if attribution.dtype.kind not in "fiu":
        raise TypeError(f"{what}: attribution must be numeric, got dtype {attribution.dtype}")
    if not np.all(np.isfinite(attribution)):
        raise ValueError(f"{what}: attribution holds NaN or infinite values")
    return attribution.astype(np.float64, copy=False), mask.astype(bool, copy=False)


def focus_metrics(attribution: np.ndarray, mask: np.ndarray, *, what: str = "sample") -> dict[str, float]:
    """The figures of :data:`FOCUS_COLUMNS` for one map (see the module docstring).

    ``what`` names the sample in error messages. An empty mask is a ``ValueError``.
    """
    attr, inside = _check_pair(attribution, mask, what)
    area = float(inside.mean())
    if area == 0.0:
        raise ValueError(f"{what}: the object mask is empty, so object focus is undefined")
    positive = np.clip(attr, 0.0, None)
    mass = float(positive.sum())
    focus = float(positive[inside].sum() / mass) if mass > 0 else math.nan
    top = float(attr.max())
    hit = math.nan if top == float(attr.min()) else float(bool(inside[attr == top].any()))
    return {
        "object_focus": focus,
        "focus_ratio": focus / area if mass > 0 else math.nan,
        "pointing_hit": hit,
        "mask_area": area,
        "positive_mass": mass,
    }


def mean_ci(
    values: Sequence[float] | np.ndarray,
    *,
    rng: np.random.Generator,
    n_bootstrap: int = DEFAULT_N_BOOTSTRAP,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, Any]:
    """``{"mean", "ci_low", "ci_high", "n", "n_undefined"}`` of the finite values.

    The interval is a percentile bootstrap of the mean (``scipy.stats.bootstrap``,
    resampling with ``rng``); ``None`` with fewer than two distinct finite values or
    ``n_bootstrap == 0``. NaNs (undefined samples) are counted in ``n_undefined``, never
    averaged in.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be an int >= 0, got {n_bootstrap!r}")
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    arr = np.asarray(values, dtype=np.float64).ravel()
    finite = arr[np.isfinite(arr)]
    out: dict[str, Any] = {
        "mean": float(finite.mean()) if finite.size else None,
        "ci_low": None,
        "ci_high": None,
        "n": int(finite.size),
        "n_undefined": int(arr.size - finite.size),
    }
    if n_bootstrap and finite.size >= 2 and np.ptp(finite) > 0:
        from scipy.stats import bootstrap

        res = bootstrap(
            (finite,), np.mean, n_resamples=int(n_bootstrap), confidence_level=float(confidence),
            method="percentile", rng=rng, vectorized=True,
        )
        out["ci_low"] = float(res.confidence_interval.low)
        out["ci_high"] = float(res.confidence_interval.high)
    elif n_bootstrap and finite.size >= 2:  # every value equal: the interval is that value
        out["ci_low"] = out["ci_high"] = out["mean"]
    return out


def summarise_focus(
    frame,
    *,
    rng: np.random.Generator,
    n_bootstrap: int = DEFAULT_N_BOOTSTRAP,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, dict]:
    """:func:`mean_ci` of each figure of :data:`FOCUS_COLUMNS` over the rows of ``frame``."""
    return {
        col: mean_ci(frame[col].to_numpy(dtype=np.float64), rng=rng, n_bootstrap=n_bootstrap, confidence=confidence)
        for col in ("object_focus", "focus_ratio", "pointing_hit")
    }


def right_vs_wrong(
    frame,
    *,
    rng: np.random.Generator,
    n_bootstrap: int = DEFAULT_N_BOOTSTRAP,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, Any]:
    """Object focus of correct versus wrong predictions, and their difference.

    ``difference`` = mean focus (right) - mean focus (wrong), with a percentile bootstrap
    CI that resamples each group separately; ``None`` when a group has no defined value.
    """
    focus = frame["object_focus"].to_numpy(dtype=np.float64)
    correct = frame["correct"].to_numpy(dtype=bool)
    right, wrong = focus[correct], focus[~correct]
    out = {
        "right": mean_ci(right, rng=rng, n_bootstrap=n_bootstrap, confidence=confidence),
        "wrong": mean_ci(wrong, rng=rng, n_bootstrap=n_bootstrap, confidence=confidence),
        "difference": None,
        "difference_ci": None,
    }
    r, w = right[np.isfinite(right)], wrong[np.isfinite(wrong)]
    if r.size and w.size:
        out["difference"] = float(r.mean() - w.mean())
        if n_bootstrap and r.size >= 2 and w.size >= 2 and np.ptp(np.concatenate([r, w])) > 0:
            from scipy.stats import bootstrap

            res = bootstrap(
                (r, w), lambda a, b, axis=-1: a.mean(axis=axis) - b.mean(axis=axis),
                n_resamples=int(n_bootstrap), confidence_level=float(confidence), method="percentile",
                rng=rng, vectorized=True,
            )
            low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
            out["difference_ci"] = [low, high] if math.isfinite(low) and math.isfinite(high) else None
    return out
