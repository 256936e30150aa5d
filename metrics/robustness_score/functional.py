"""The robustness score S_robust of XImageNet-12, as plain functions (numpy + stdlib only).

This file is the maths behind the ``robustness_score`` ``evaluate`` module: the module's
script imports it as a sibling (``from .functional import ...``), so ``evaluate`` copies it
next to the script, and it must never import ``ximagenet12`` or anything beyond numpy and
the standard library. Inside the package it is
``ximagenet12.metrics.robustness_score.functional`` (also ``from ximagenet12 import
robustness_score``), which the evaluator calls.

Definitions (the paper's notation). μ is the accuracy on ``original`` images, C(i) the
accuracy on scenario i (i = 1..n, originals excluded), C'(k) an accuracy that measures the
internal spread, with its own reference μ'. With D(x, m) the dispersion of values x around
the reference m::

    D_variance(x, m) = Σ (x − m)² / (n − ddof)        D_std = sqrt(D_variance)
    S_robust = 1 − (D(C, μ) + D(C', μ'))

Two named configurations:

``table3`` (default)
    dispersion ``variance``, ``ddof=1``, internal term over the scenarios measured in the
    paper's *internal* protocol (models trained and tested within each scenario) around
    that protocol's own μ. This is how the published Table 3 was computed: it reproduces
    ResNet50 (0.0902 / 0.0112 / S 0.8985) and DenseNet121 (0.0885 / 0.0052 / S 0.9062).
``formula``
    the formula as printed: standard deviations, ``ddof=0`` (divide by n), internal term
    over object classes C'(k) around the same μ. Each term divides by its own count.

``dispersion`` and ``ddof`` override a configuration's values.

Internal term. :func:`robustness_score` uses whatever ``internal`` mapping it is given
(scenarios of the internal protocol, or classes) and, without one, has no internal term:
σ_i = σ_i² = 0, ``n_i = 0`` and ``internal_term = "absent"`` in the result, so
S_robust = 1 − D(C, μ). :func:`robustness_score_from_samples` takes the internal term from
``internal`` when given, else from per-class accuracy over the ``original`` samples around
μ when ``classes`` are given (``internal_term = "classes"``; the formula's reading, which
the configuration's dispersion and ddof then apply to), else it is absent.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "CONFIGS",
    "DEFAULT_CONFIG",
    "DISPERSIONS",
    "ORIGINAL",
    "BG_GAP_SCENARIOS",
    "KNOWN_SCENARIOS",
    "check_scenario_names",
    "resolve_config",
    "robustness_score",
    "robustness_score_from_samples",
]

#: Scenario whose accuracy is the reference μ.
ORIGINAL = "original"
#: BG-Gap = acc(mixed_same) − acc(mixed_rand) (the ImageNet-9 backgrounds challenge).
BG_GAP_SCENARIOS = ("mixed_same", "mixed_rand")
DISPERSIONS = ("variance", "std")
#: Named configurations: how the two dispersions are measured and combined.
CONFIGS: dict[str, dict[str, Any]] = {
    "table3": {"dispersion": "variance", "ddof": 1},
    "formula": {"dispersion": "std", "ddof": 0},
}
DEFAULT_CONFIG = "table3"
#: Every scenario config name of the XImageNet-12 registry (``ximagenet12.registry``), the
#: only names scored without ``custom_scenarios=True``. This file cannot import the registry
#: (it must run with numpy alone inside ``evaluate``): a test keeps the copy in step, and
#: ``python scripts/update_metric_scenarios.py`` rewrites it.
KNOWN_SCENARIOS: frozenset[str] = frozenset(
    # BEGIN KNOWN_SCENARIOS (generated)
    (
        "original",
        "blur_background",
        "blur_object",
        "image_grey",
        "image_r",
        "image_g",
        "image_b",
        "image_rainbow",
        "brightness_background",
        "brightness_object",
        "segmented_image",
        "transparent_image",
        "random_background",
        "only_fg",
        "no_fg",
        "mixed_same",
        "mixed_rand",
        "mixed_next",
        "corrupt_gaussian_noise_background",
        "corrupt_gaussian_noise_object",
        "corrupt_shot_noise_background",
        "corrupt_shot_noise_object",
        "corrupt_impulse_noise_background",
        "corrupt_impulse_noise_object",
        "corrupt_defocus_blur_background",
        "corrupt_defocus_blur_object",
        "corrupt_glass_blur_background",
        "corrupt_glass_blur_object",
        "corrupt_motion_blur_background",
        "corrupt_motion_blur_object",
        "corrupt_zoom_blur_background",
        "corrupt_zoom_blur_object",
        "corrupt_snow_background",
        "corrupt_snow_object",
        "corrupt_frost_background",
        "corrupt_frost_object",
        "corrupt_fog_background",
        "corrupt_fog_object",
        "corrupt_brightness_background",
        "corrupt_brightness_object",
        "corrupt_contrast_background",
        "corrupt_contrast_object",
        "corrupt_elastic_transform_background",
        "corrupt_elastic_transform_object",
        "corrupt_pixelate_background",
        "corrupt_pixelate_object",
        "corrupt_jpeg_compression_background",
        "corrupt_jpeg_compression_object",
        "corrupt_speckle_noise_background",
        "corrupt_speckle_noise_object",
        "corrupt_gaussian_blur_background",
        "corrupt_gaussian_blur_object",
        "corrupt_spatter_background",
        "corrupt_spatter_object",
        "corrupt_saturate_background",
        "corrupt_saturate_object",
        "ai_background",
        "blur_background_level1",
        "blur_background_level2",
        "blur_background_level4",
        "blur_background_level5",
        "blur_object_level1",
        "blur_object_level2",
        "blur_object_level4",
        "blur_object_level5",
        "image_grey_level1",
        "image_grey_level2",
        "image_grey_level3",
        "image_grey_level4",
        "image_r_level1",
        "image_r_level2",
        "image_r_level3",
        "image_r_level4",
        "image_g_level1",
        "image_g_level2",
        "image_g_level3",
        "image_g_level4",
        "image_b_level1",
        "image_b_level2",
        "image_b_level3",
        "image_b_level4",
        "image_rainbow_level1",
        "image_rainbow_level2",
        "image_rainbow_level3",
        "image_rainbow_level4",
        "brightness_background_level1",
        "brightness_background_level2",
        "brightness_background_level4",
        "brightness_background_level5",
        "brightness_object_level1",
        "brightness_object_level2",
        "brightness_object_level4",
        "brightness_object_level5",
        "corrupt_gaussian_noise_background_level1",
        "corrupt_gaussian_noise_background_level2",
        "corrupt_gaussian_noise_background_level4",
        "corrupt_gaussian_noise_background_level5",
        "corrupt_gaussian_noise_object_level1",
        "corrupt_gaussian_noise_object_level2",
        "corrupt_gaussian_noise_object_level4",
        "corrupt_gaussian_noise_object_level5",
        "corrupt_shot_noise_background_level1",
        "corrupt_shot_noise_background_level2",
        "corrupt_shot_noise_background_level4",
        "corrupt_shot_noise_background_level5",
        "corrupt_shot_noise_object_level1",
        "corrupt_shot_noise_object_level2",
        "corrupt_shot_noise_object_level4",
        "corrupt_shot_noise_object_level5",
        "corrupt_impulse_noise_background_level1",
        "corrupt_impulse_noise_background_level2",
        "corrupt_impulse_noise_background_level4",
        "corrupt_impulse_noise_background_level5",
        "corrupt_impulse_noise_object_level1",
        "corrupt_impulse_noise_object_level2",
        "corrupt_impulse_noise_object_level4",
        "corrupt_impulse_noise_object_level5",
        "corrupt_defocus_blur_background_level1",
        "corrupt_defocus_blur_background_level2",
        "corrupt_defocus_blur_background_level4",
        "corrupt_defocus_blur_background_level5",
        "corrupt_defocus_blur_object_level1",
        "corrupt_defocus_blur_object_level2",
        "corrupt_defocus_blur_object_level4",
        "corrupt_defocus_blur_object_level5",
        "corrupt_glass_blur_background_level1",
        "corrupt_glass_blur_background_level2",
        "corrupt_glass_blur_background_level4",
        "corrupt_glass_blur_background_level5",
        "corrupt_glass_blur_object_level1",
        "corrupt_glass_blur_object_level2",
        "corrupt_glass_blur_object_level4",
        "corrupt_glass_blur_object_level5",
        "corrupt_motion_blur_background_level1",
        "corrupt_motion_blur_background_level2",
        "corrupt_motion_blur_background_level4",
        "corrupt_motion_blur_background_level5",
        "corrupt_motion_blur_object_level1",
        "corrupt_motion_blur_object_level2",
        "corrupt_motion_blur_object_level4",
        "corrupt_motion_blur_object_level5",
        "corrupt_zoom_blur_background_level1",
        "corrupt_zoom_blur_background_level2",
        "corrupt_zoom_blur_background_level4",
        "corrupt_zoom_blur_background_level5",
        "corrupt_zoom_blur_object_level1",
        "corrupt_zoom_blur_object_level2",
        "corrupt_zoom_blur_object_level4",
        "corrupt_zoom_blur_object_level5",
        "corrupt_snow_background_level1",
        "corrupt_snow_background_level2",
        "corrupt_snow_background_level4",
        "corrupt_snow_background_level5",
        "corrupt_snow_object_level1",
        "corrupt_snow_object_level2",
        "corrupt_snow_object_level4",
        "corrupt_snow_object_level5",
        "corrupt_frost_background_level1",
        "corrupt_frost_background_level2",
        "corrupt_frost_background_level4",
        "corrupt_frost_background_level5",
        "corrupt_frost_object_level1",
        "corrupt_frost_object_level2",
        "corrupt_frost_object_level4",
        "corrupt_frost_object_level5",
        "corrupt_fog_background_level1",
        "corrupt_fog_background_level2",
        "corrupt_fog_background_level4",
        "corrupt_fog_background_level5",
        "corrupt_fog_object_level1",
        "corrupt_fog_object_level2",
        "corrupt_fog_object_level4",
        "corrupt_fog_object_level5",
        "corrupt_brightness_background_level1",
        "corrupt_brightness_background_level2",
        "corrupt_brightness_background_level4",
        "corrupt_brightness_background_level5",
        "corrupt_brightness_object_level1",
        "corrupt_brightness_object_level2",
        "corrupt_brightness_object_level4",
        "corrupt_brightness_object_level5",
        "corrupt_contrast_background_level1",
        "corrupt_contrast_background_level2",
        "corrupt_contrast_background_level4",
        "corrupt_contrast_background_level5",
        "corrupt_contrast_object_level1",
        "corrupt_contrast_object_level2",
        "corrupt_contrast_object_level4",
        "corrupt_contrast_object_level5",
        "corrupt_elastic_transform_background_level1",
        "corrupt_elastic_transform_background_level2",
        "corrupt_elastic_transform_background_level4",
        "corrupt_elastic_transform_background_level5",
        "corrupt_elastic_transform_object_level1",
        "corrupt_elastic_transform_object_level2",
        "corrupt_elastic_transform_object_level4",
        "corrupt_elastic_transform_object_level5",
        "corrupt_pixelate_background_level1",
        "corrupt_pixelate_background_level2",
        "corrupt_pixelate_background_level4",
        "corrupt_pixelate_background_level5",
        "corrupt_pixelate_object_level1",
        "corrupt_pixelate_object_level2",
        "corrupt_pixelate_object_level4",
        "corrupt_pixelate_object_level5",
        "corrupt_jpeg_compression_background_level1",
        "corrupt_jpeg_compression_background_level2",
        "corrupt_jpeg_compression_background_level4",
        "corrupt_jpeg_compression_background_level5",
        "corrupt_jpeg_compression_object_level1",
        "corrupt_jpeg_compression_object_level2",
        "corrupt_jpeg_compression_object_level4",
        "corrupt_jpeg_compression_object_level5",
        "corrupt_speckle_noise_background_level1",
        "corrupt_speckle_noise_background_level2",
        "corrupt_speckle_noise_background_level4",
        "corrupt_speckle_noise_background_level5",
        "corrupt_speckle_noise_object_level1",
        "corrupt_speckle_noise_object_level2",
        "corrupt_speckle_noise_object_level4",
        "corrupt_speckle_noise_object_level5",
        "corrupt_gaussian_blur_background_level1",
        "corrupt_gaussian_blur_background_level2",
        "corrupt_gaussian_blur_background_level4",
        "corrupt_gaussian_blur_background_level5",
        "corrupt_gaussian_blur_object_level1",
        "corrupt_gaussian_blur_object_level2",
        "corrupt_gaussian_blur_object_level4",
        "corrupt_gaussian_blur_object_level5",
        "corrupt_spatter_background_level1",
        "corrupt_spatter_background_level2",
        "corrupt_spatter_background_level4",
        "corrupt_spatter_background_level5",
        "corrupt_spatter_object_level1",
        "corrupt_spatter_object_level2",
        "corrupt_spatter_object_level4",
        "corrupt_spatter_object_level5",
        "corrupt_saturate_background_level1",
        "corrupt_saturate_background_level2",
        "corrupt_saturate_background_level4",
        "corrupt_saturate_background_level5",
        "corrupt_saturate_object_level1",
        "corrupt_saturate_object_level2",
        "corrupt_saturate_object_level4",
        "corrupt_saturate_object_level5",
    )
    # END KNOWN_SCENARIOS
)
_STRING_KINDS = "US"
_NUMERIC_KINDS = "biuf"
#: Int keys spanning at most this many values are factorised with a lookup table.
_DENSE_FACTORIZE_SPAN = 1 << 16


# --------------------------------------------------------------------------- scenario names
def check_scenario_names(names: Sequence[str], *, custom_scenarios: bool = False, what: str = "scenario") -> None:
    """Refuse names that are not XImageNet-12 scenarios, unless ``custom_scenarios`` opts in.

    A typo such as ``blur_backgorund`` would otherwise be scored as one more scenario and
    silently move S_robust.
    """
    if not isinstance(custom_scenarios, bool):
        raise TypeError(f"custom_scenarios must be True or False, got {type(custom_scenarios).__name__}")
    if custom_scenarios:
        return
    unknown = [str(n) for n in names if n not in KNOWN_SCENARIOS]
    if unknown:
        import difflib

        hints = []
        for name in unknown[:5]:
            close = difflib.get_close_matches(name, sorted(KNOWN_SCENARIOS), n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(
            f"unknown {what} name(s) {', '.join(hints)}{' ...' if len(unknown) > 5 else ''}: the robustness score "
            f"takes the XImageNet-12 scenarios (e.g. blur_background, image_grey, mixed_rand); "
            "pass custom_scenarios=True to score scenarios of your own"
        )


# --------------------------------------------------------------------------- configuration
def resolve_config(config: str = DEFAULT_CONFIG, *, dispersion: str | None = None, ddof: int | None = None) -> dict:
    """``{"config", "dispersion", "ddof"}`` for a configuration name and optional overrides."""
    if not isinstance(config, str):
        raise TypeError(f"config must be a configuration name (str), got {type(config).__name__}")
    if config not in CONFIGS:
        raise ValueError(f"unknown robustness_score config {config!r}; known configs: {', '.join(CONFIGS)}")
    out = {"config": config, **CONFIGS[config]}
    if dispersion is not None:
        if dispersion not in DISPERSIONS:
            raise ValueError(f"dispersion must be one of {', '.join(map(repr, DISPERSIONS))}, got {dispersion!r}")
        out["dispersion"] = dispersion
    if ddof is not None:
        if isinstance(ddof, bool) or not isinstance(ddof, numbers.Integral):
            raise TypeError(f"ddof must be an int, got {type(ddof).__name__}")
        if ddof < 0:
            raise ValueError(f"ddof must be >= 0, got {ddof}")
        out["ddof"] = int(ddof)
    return out


# --------------------------------------------------------------------------- summary form
def robustness_score(
    external: Mapping[str, float],
    *,
    external_reference: float,
    internal: Mapping[Any, float] | None = None,
    internal_reference: float | None = None,
    config: str = DEFAULT_CONFIG,
    dispersion: str | None = None,
    ddof: int | None = None,
    custom_scenarios: bool = False,
) -> dict[str, Any]:
    """S_robust from accuracies already computed (published tables, other frameworks).

    Args:
        external: scenario name -> accuracy in [0, 1] of the model trained on originals
            (``original`` itself excluded: its accuracy is ``external_reference``).
        external_reference: μ, the accuracy on ``original``.
        internal: optional scenario (internal protocol) or class -> accuracy in [0, 1].
        internal_reference: the μ the internal values deviate from; required with
            ``internal`` (the internal protocol's own μ for ``table3``; μ for classes).
        config: ``"table3"`` (default) or ``"formula"`` (see the module docstring).
        dispersion: ``"variance"`` or ``"std"``, overriding the configuration's.
        ddof: delta degrees of freedom (divide by n − ddof), overriding the configuration's.
        custom_scenarios: score ``external`` names that are not XImageNet-12 scenarios
            (by default such a name, e.g. a typo, is a ``ValueError``).

    Returns:
        ``s_robust``; ``sigma2_e``/``sigma2_i`` (variances) and ``sigma_e``/``sigma_i``
        (standard deviations) with the chosen ddof; ``n_e``/``n_i``; ``config``,
        ``dispersion``, ``ddof``; ``internal_term`` (``"given"`` or ``"absent"``, then
        σ_i = 0); ``external_reference``, ``internal_reference``.

    >>> r = robustness_score({"blur_background": 0.9, "image_grey": 0.8}, external_reference=0.95)
    >>> round(r["sigma2_e"], 4), round(r["s_robust"], 4), r["internal_term"]
    (0.025, 0.975, 'absent')
    """
    settings = resolve_config(config, dispersion=dispersion, ddof=ddof)
    names_e, values_e = _accuracies(external, "external")
    check_scenario_names(names_e, custom_scenarios=custom_scenarios, what="external scenario")
    mu_e = _accuracy(external_reference, "external_reference")
    if internal is None:
        if internal_reference is not None:
            raise ValueError("internal_reference was given without internal accuracies")
        values_i, mu_i = None, None
    else:
        if internal_reference is None:
            raise ValueError(
                "internal accuracies need internal_reference (the internal protocol's own μ for table3, "
                "or μ itself for per-class accuracies)"
            )
        _, values_i = _accuracies(internal, "internal")
        mu_i = _accuracy(internal_reference, "internal_reference")
    return _score(values_e, mu_e, values_i, mu_i, settings)


def _score(values_e: np.ndarray, mu_e: float, values_i: np.ndarray | None, mu_i: float | None, settings: dict) -> dict:
    ddof = settings["ddof"]
    _check_count(len(values_e), ddof, "external")
    var_e = float(_variance(values_e, mu_e, ddof))
    if values_i is None:
        var_i, n_i, term = 0.0, 0, "absent"
    else:
        _check_count(len(values_i), ddof, "internal")
        var_i, n_i, term = float(_variance(values_i, mu_i, ddof)), len(values_i), "given"
    sd_e, sd_i = math.sqrt(var_e), math.sqrt(var_i)
    return {
        "s_robust": float(_combine(np.float64(var_e), np.float64(var_i), settings["dispersion"])),
        "sigma2_e": var_e,
        "sigma2_i": var_i,
        "sigma_e": sd_e,
        "sigma_i": sd_i,
        "n_e": len(values_e),
        "n_i": n_i,
        "config": settings["config"],
        "dispersion": settings["dispersion"],
        "ddof": ddof,
        "internal_term": term,
        "external_reference": mu_e,
        "internal_reference": mu_i,
    }


def _variance(values: np.ndarray, reference, ddof: int) -> np.ndarray:
    """Σ (x − m)² / (n − ddof) over the last axis; ``reference`` broadcasts against it."""
    dev = values - np.asarray(reference)[..., None]
    return np.einsum("...i,...i->...", dev, dev) / (values.shape[-1] - ddof)


def _combine(var_e: np.ndarray, var_i: np.ndarray, dispersion: str) -> np.ndarray:
    if dispersion == "variance":
        return 1.0 - (var_e + var_i)
    return 1.0 - (np.sqrt(var_e) + np.sqrt(var_i))


def _check_count(n: int, ddof: int, what: str) -> None:
    if n - ddof <= 0:
        divisor = "n" if ddof == 0 else f"n − {ddof}"
        raise ValueError(
            f"{what} has {n} scenario value(s), but this configuration's spread divides the squared deviations by "
            f"{divisor} (the number of scenarios{'' if ddof == 0 else f' minus {ddof}'}): it needs at least "
            f"{ddof + 1} scenario(s) besides original"
        )


def _accuracy(value: Any, what: str) -> float:
    if value is None:
        raise ValueError(f"{what} has no accuracy (None: a scenario with zero samples?)")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number in [0, 1], got {type(value).__name__}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{what} is NaN")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} = {value!r} is outside [0, 1] (accuracies are fractions, not percentages)")
    return value


def _accuracies(mapping: Any, what: str) -> tuple[list, np.ndarray]:
    if not isinstance(mapping, Mapping):
        raise TypeError(f"{what} must map scenario (or class) names to accuracies, got {type(mapping).__name__}")
    if len(mapping) == 0:
        raise ValueError(f"{what} is empty: no scenario (or class) accuracies to score")
    if ORIGINAL in mapping:
        raise ValueError(f"{what} contains {ORIGINAL!r}; its accuracy is the reference, pass it as {what}_reference")
    names = list(mapping)
    values = np.array([_accuracy(mapping[k], f"{what}[{k!r}]") for k in names], dtype=np.float64)
    return names, values


# --------------------------------------------------------------------------- per-sample form
def robustness_score_from_samples(
    predictions: Sequence | np.ndarray,
    references: Sequence | np.ndarray,
    scenarios: Sequence[str] | np.ndarray,
    *,
    classes: Sequence | np.ndarray | str | None = None,
    scenario_names: Sequence[str] | None = None,
    internal: Mapping[Any, float] | None = None,
    internal_reference: float | None = None,
    config: str = DEFAULT_CONFIG,
    dispersion: str | None = None,
    ddof: int | None = None,
    n_bootstrap: int = 0,
    confidence: float = 0.95,
    seed: int | np.random.Generator | None = 0,
    custom_scenarios: bool = False,
) -> dict[str, Any]:
    """S_robust, per-scenario and per-class accuracy and BG-Gap from one row per sample.

    Args:
        predictions, references: one label per sample (ints or strings, the same kind).
        scenarios: one scenario name per sample; ``original`` samples give μ.
        classes: optional class key per sample, or ``"references"`` to group by the
            reference label. With classes, the internal term is the per-class accuracy on
            the ``original`` samples around μ (unless ``internal`` is given) and the output
            has per-class and scenario × class accuracies (the paper's density map).
        scenario_names: optional list of the scenarios expected; each must have samples
            and no other scenario may appear.
        internal, internal_reference: an internal term computed elsewhere (e.g. the
            within-scenario protocol); takes precedence over ``classes`` for the score and
            is held fixed in the bootstrap.
        config, dispersion, ddof: as in :func:`robustness_score`.
        n_bootstrap: replicates of a stratified bootstrap CI for S_robust (0: none).
            Samples are resampled with replacement within each scenario (× class when
            classes are given), drawn as a binomial count of correct samples per stratum,
            which has exactly the distribution of resampling that stratum's 0/1 outcomes.
        confidence: level of the percentile interval, in (0, 1).
        seed: int or ``numpy.random.Generator`` for the bootstrap (default 0).
        custom_scenarios: accept scenario names that are not XImageNet-12 scenarios
            (by default such a name, e.g. a typo, is a ``ValueError``).

    Returns:
        everything :func:`robustness_score` returns, plus ``mu``, ``accuracy`` and ``n``
        per scenario (``original`` included), ``bg_gap`` (None unless both ``mixed_same``
        and ``mixed_rand`` are present); with classes ``accuracy_per_class`` and
        ``n_per_class`` (on ``original``) and ``accuracy_per_scenario_class`` (None for an
        empty cell); with ``n_bootstrap`` ``s_robust_ci`` (low, high), ``s_robust_se`` and
        ``bootstrap`` (its settings).

    >>> r = robustness_score_from_samples(
    ...     predictions=[0, 1, 1, 0, 1, 0],
    ...     references=[0, 1, 1, 1, 1, 1],
    ...     scenarios=["original", "original", "blur_background", "blur_background", "image_grey", "image_grey"],
    ... )
    >>> r["mu"], r["accuracy"]["blur_background"], round(r["s_robust"], 4)
    (1.0, 0.5, 0.5)
    """
    settings = resolve_config(config, dispersion=dispersion, ddof=ddof)
    preds = _labels(predictions, "predictions")
    refs = _labels(references, "references")
    scen = _labels(scenarios, "scenarios")
    n = len(preds)
    if len(refs) != n or len(scen) != n:
        raise ValueError(
            f"length mismatch: {n} predictions, {len(refs)} references, {len(scen)} scenarios (one each per sample)"
        )
    if n == 0:
        raise ValueError("no samples: predictions, references and scenarios are empty")
    if scen.dtype.kind not in _STRING_KINDS:
        raise TypeError(f"scenarios must be scenario names (strings), got values of dtype {scen.dtype}")
    if (preds.dtype.kind in _STRING_KINDS) != (refs.dtype.kind in _STRING_KINDS):
        raise TypeError(
            f"predictions ({preds.dtype}) and references ({refs.dtype}) must both be ints or both be strings"
        )
    correct = preds == refs

    scen_names, scen_codes = _factorize(scen)
    scen_names = scen_names.tolist()
    check_scenario_names(scen_names, custom_scenarios=custom_scenarios)
    if ORIGINAL not in scen_names:
        raise ValueError(f"no {ORIGINAL!r} samples: μ is the accuracy on them (scenarios present: {scen_names})")
    if scenario_names is not None:
        expected = list(scenario_names)
        empty = [s for s in expected if s not in scen_names]
        if empty:
            raise ValueError(f"scenario(s) with zero samples: {empty}")
        unexpected = [s for s in scen_names if s not in expected]
        if unexpected:
            raise ValueError(f"samples of scenario(s) not in scenario_names: {unexpected}")
    if len(scen_names) < 2:
        raise ValueError(f"only {ORIGINAL!r} samples: no scenario to score against μ")
    n_scen = len(scen_names)
    orig = scen_names.index(ORIGINAL)

    if isinstance(classes, str):
        if classes != "references":
            raise ValueError(f"classes must be one key per sample or the string 'references', got {classes!r}")
        cls = refs
    elif classes is not None:
        cls = _labels(classes, "classes")
        if len(cls) != n:
            raise ValueError(f"length mismatch: {n} predictions but {len(cls)} classes")
    else:
        cls = None

    if cls is None:
        class_names: list = []
        cells = scen_codes
        n_cls = 1
    else:
        class_names, cls_codes = _factorize(cls)
        class_names = class_names.tolist()
        n_cls = len(class_names)
        cells = scen_codes * n_cls + cls_codes
    cell_n = np.bincount(cells, minlength=n_scen * n_cls).reshape(n_scen, n_cls)
    cell_hits = np.bincount(cells, weights=correct, minlength=n_scen * n_cls).reshape(n_scen, n_cls)
    scen_n = cell_n.sum(axis=1)
    scen_acc = cell_hits.sum(axis=1) / scen_n
    mu = float(scen_acc[orig])
    others = [i for i in range(n_scen) if i != orig]
    external = dict(zip([scen_names[i] for i in others], scen_acc[others].tolist()))

    out_classes: dict[str, Any] = {}
    class_term = None
    if cls is not None:
        orig_n = cell_n[orig]
        missing = [class_names[k] for k in range(n_cls) if orig_n[k] == 0]
        if missing:
            raise ValueError(f"class(es) {missing} have samples in other scenarios but none in {ORIGINAL!r}")
        class_acc = cell_hits[orig] / orig_n
        class_term = dict(zip(class_names, class_acc.tolist()))
        with np.errstate(invalid="ignore", divide="ignore"):
            grid = cell_hits / cell_n
        out_classes = {
            "accuracy_per_class": class_term,
            "n_per_class": dict(zip(class_names, orig_n.tolist())),
            "accuracy_per_scenario_class": {
                s: {c: (None if cell_n[i, k] == 0 else float(grid[i, k])) for k, c in enumerate(class_names)}
                for i, s in enumerate(scen_names)
            },
        }

    checked = {**settings, "custom_scenarios": True}  # the names were checked above
    if internal is not None or internal_reference is not None:
        result = robustness_score(
            external,
            external_reference=mu,
            internal=internal,
            internal_reference=internal_reference,
            **checked,
        )
    elif class_term is not None:
        result = robustness_score(external, external_reference=mu, internal=class_term, internal_reference=mu, **checked)
        result["internal_term"] = "classes"
    else:
        result = robustness_score(external, external_reference=mu, **checked)

    accuracy = dict(zip(scen_names, scen_acc.tolist()))
    bg_gap = None
    if all(s in accuracy for s in BG_GAP_SCENARIOS):
        bg_gap = accuracy[BG_GAP_SCENARIOS[0]] - accuracy[BG_GAP_SCENARIOS[1]]
    result.update(
        mu=mu,
        accuracy=accuracy,
        n=dict(zip(scen_names, scen_n.tolist())),
        bg_gap=bg_gap,
        **out_classes,
    )

    if n_bootstrap:
        result.update(
            _bootstrap(
                cell_n,
                cell_hits,
                orig=orig,
                internal_fixed=None if internal is None else (result["sigma2_i"]),
                use_classes=internal is None and cls is not None,
                settings=settings,
                n_bootstrap=n_bootstrap,
                confidence=confidence,
                seed=seed,
            )
        )
    return result


def _bootstrap(
    cell_n: np.ndarray,
    cell_hits: np.ndarray,
    *,
    orig: int,
    internal_fixed: float | None,
    use_classes: bool,
    settings: dict,
    n_bootstrap: int,
    confidence: float,
    seed: int | np.random.Generator | None,
) -> dict[str, Any]:
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, numbers.Integral):
        raise TypeError(f"n_bootstrap must be an int, got {type(n_bootstrap).__name__}")
    if n_bootstrap < 2:
        raise ValueError(f"n_bootstrap must be 0 (no interval) or at least 2, got {n_bootstrap}")
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real) or not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    if isinstance(seed, np.random.Generator):
        rng = seed
    elif seed is None or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)):
        rng = np.random.default_rng(seed)
    else:
        raise TypeError(f"seed must be an int, a numpy.random.Generator or None, got {type(seed).__name__}")
    ddof, dispersion = settings["ddof"], settings["dispersion"]
    p = np.divide(cell_hits, cell_n, out=np.zeros_like(cell_hits), where=cell_n > 0)
    hits = rng.binomial(cell_n, p, size=(n_bootstrap, *cell_n.shape))  # (B, scenarios, classes)
    scen_acc = hits.sum(axis=2) / cell_n.sum(axis=1)
    mu = scen_acc[:, orig]
    var_e = _variance(np.delete(scen_acc, orig, axis=1), mu, ddof)
    if internal_fixed is not None:
        var_i = np.full(n_bootstrap, internal_fixed)
    elif use_classes:
        var_i = _variance(hits[:, orig, :] / cell_n[orig], mu, ddof)
    else:
        var_i = np.zeros(n_bootstrap)
    s = _combine(var_e, var_i, dispersion)
    alpha = (1.0 - float(confidence)) / 2.0
    low, high = np.quantile(s, [alpha, 1.0 - alpha])
    return {
        "s_robust_ci": (float(low), float(high)),
        "s_robust_se": float(np.std(s, ddof=1)),
        "bootstrap": {
            "n_bootstrap": int(n_bootstrap),
            "confidence": float(confidence),
            "seed": seed if not isinstance(seed, np.random.Generator) else "generator",
            "method": "percentile, stratified by scenario" + (" x class" if use_classes else ""),
        },
    }


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct values, index of each value among them), in O(N) for small int ranges.

    ``np.unique(..., return_inverse=True)`` sorts all N values; finding the few distinct
    values first (hash-based in numpy 2) and then their positions is several times faster.
    """
    if values.dtype.kind in "iu" and len(values):
        low, high = values.min(), values.max()
        span = int(high) - int(low) + 1
        if span <= max(2 * len(values), _DENSE_FACTORIZE_SPAN):
            shifted = (values - low).astype(np.intp, copy=False)
            present = np.flatnonzero(np.bincount(shifted, minlength=span))
            lookup = np.zeros(span, dtype=np.intp)
            lookup[present] = np.arange(len(present))
            return (present + low).astype(values.dtype), lookup[shifted]
    uniques = np.unique(values)
    return uniques, np.searchsorted(uniques, values)


def _labels(values: Any, what: str) -> np.ndarray:
    if isinstance(values, (str, bytes)) or isinstance(values, Mapping):
        raise TypeError(f"{what} must be a sequence with one value per sample, got {type(values).__name__}")
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be one value per sample (1-D), got shape {arr.shape}")
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(str) if all(isinstance(v, str) for v in arr[:1]) else arr.astype(np.int64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{what} must be ints or strings: {exc}") from None
    if arr.dtype.kind not in _STRING_KINDS + _NUMERIC_KINDS:
        raise TypeError(f"{what} must be ints or strings, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and len(arr) and not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or infinite labels")
    return arr
