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

What makes a score safe to read (issue 26); the formula above is untouched:

- S_robust is spread around μ, so a model that fails everywhere scores near 1. Every result
  carries ``chance`` (:func:`chance_test`: one-sided exact binomial test of the ``original``
  accuracy against 1 / number of classes, level :data:`CHANCE_ALPHA`), ``mu_above_chance``
  and ``warnings``; show them beside S.
- S is computed over a named scenario set (:data:`SCENARIO_SETS`, default ``background``:
  the paper's scenarios that change only the background), recorded in ``scenario_set``;
  :func:`check_same_scenario_set` refuses to compare scores over different sets.
- The bootstrap interval resamples source images, paired across scenarios (``source_ids``).
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
    "SCENARIO_SETS",
    "DEFAULT_SCENARIO_SET",
    "ALL_SCENARIOS",
    "CHANCE_ALPHA",
    "chance_test",
    "check_scenario_names",
    "check_same_scenario_set",
    "scenario_set_warning",
    "resolve_config",
    "resolve_scenario_set",
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
#: Every scenario config name of the XImageNet-12 registry (``ximagenet12.scenarios.registry``), the
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
        "random_background_additive",
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
#: Named scenario sets S_robust is computed over (``original`` never a member): a copy of
#: ``ximagenet12.scenarios.registry.scenario_sets()``, kept in step like KNOWN_SCENARIOS.
#: ``background``: the paper's scenarios that keep the object and change the background
#: (controls that change the object, ImageNet-9 diagnostics and opt-in families left out);
#: ``table3``: the eight scenarios of the paper's Table 3, in its order.
SCENARIO_SETS: dict[str, tuple[str, ...]] = (
    # BEGIN SCENARIO_SETS (generated)
    {
        "background": (
            "blur_background",
            "image_grey",
            "image_r",
            "image_g",
            "image_b",
            "image_rainbow",
            "brightness_background",
            "segmented_image",
            "transparent_image",
            "random_background",
        ),
        "table3": (
            "blur_background",
            "blur_object",
            "image_g",
            "image_b",
            "image_grey",
            "image_r",
            "random_background",
            "segmented_image",
        ),
    }
    # END SCENARIO_SETS
)
#: The scenario set of a score unless another is named.
DEFAULT_SCENARIO_SET = "background"
#: The set name meaning "every scenario given" (controls included: name it to mean it).
ALL_SCENARIOS = "all"
#: Name recorded for a score over an explicit list of scenarios.
CUSTOM_SET = "custom"
#: Level of the one-sided exact binomial test of μ against chance (1 / number of classes).
CHANCE_ALPHA = 0.05
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


# --------------------------------------------------------------------------- scenario sets
def resolve_scenario_set(scenario_set: str | Sequence[str] | None, present: Sequence[str]) -> dict[str, Any]:
    """Which of the ``present`` scenarios (``original`` excluded) a score is computed over.

    ``scenario_set`` is a name of :data:`SCENARIO_SETS`, ``"all"`` (every scenario present)
    or an explicit list of names (recorded as ``"custom"``). Returns ``{"name", "members"}``
    (the scenarios scored, in the set's order), ``"excluded"`` (present but not in the set)
    and ``"missing"`` (in the set but not present); a score over fewer members than its set
    names is not comparable with one over all of them, and :func:`check_same_scenario_set`
    says so.
    """
    present = [s for s in present if s != ORIGINAL]
    if scenario_set is None:
        scenario_set = DEFAULT_SCENARIO_SET
    if isinstance(scenario_set, str):
        if scenario_set == ALL_SCENARIOS:
            name, wanted = ALL_SCENARIOS, list(present)
        elif scenario_set in SCENARIO_SETS:
            name, wanted = scenario_set, list(SCENARIO_SETS[scenario_set])
        else:
            raise ValueError(
                f"unknown scenario set {scenario_set!r}; known sets: "
                f"{', '.join([*SCENARIO_SETS, ALL_SCENARIOS])} (or a list of scenario names)"
            )
    elif isinstance(scenario_set, Sequence) and all(isinstance(s, str) for s in scenario_set) and scenario_set:
        name, wanted = CUSTOM_SET, list(dict.fromkeys(scenario_set))
        if ORIGINAL in wanted:
            raise ValueError(f"scenario_set lists {ORIGINAL!r}: it is the reference μ, never a member")
    else:
        raise TypeError(f"scenario_set must be a set name or a non-empty list of scenario names, got {scenario_set!r}")
    members = [s for s in wanted if s in present]
    return {
        "name": name,
        "members": members,
        "excluded": [s for s in present if s not in wanted],
        "missing": [s for s in wanted if s not in present],
    }


def _set_label(scenario_set: Mapping[str, Any]) -> str:
    missing = scenario_set.get("missing") or []
    members = scenario_set.get("members") or []
    label = f"{scenario_set.get('name')!r} ({len(members)} scenario(s)"
    return label + (f", {len(missing)} of the set missing)" if missing else ")")


def scenario_set_warning(scenario_set: Mapping[str, Any]) -> str:
    """The line that says a score covers only part of its named set ("" when it covers all of it)."""
    missing = list(scenario_set.get("missing") or [])
    if not missing:
        return ""
    return (
        f"scenario set {scenario_set['name']!r} has {len(missing)} member(s) without samples "
        f"({', '.join(missing)}): this S_robust is over {len(scenario_set['members'])} scenario(s) "
        "and comparable only with scores over exactly those"
    )


def check_same_scenario_set(sets: Sequence[Mapping[str, Any] | None], *, names: Sequence[str] | None = None) -> None:
    """Refuse to compare S_robust computed over different scenario sets (one line, ``ValueError``).

    Two scores are comparable only when they were computed over the same set name and the
    same members: S over 2 scenarios and S over 17 measure different things.
    """
    labels = list(names) if names is not None else [f"score {i}" for i in range(len(sets))]
    keys: dict[tuple, list[str]] = {}
    for label, sset in zip(labels, sets):
        if not sset:
            raise ValueError(f"{label}: S_robust records no scenario set, so it cannot be compared with another score")
        keys.setdefault((sset.get("name"), tuple(sset.get("members") or ())), []).append(f"{label}: {_set_label(sset)}")
    if len(keys) > 1:
        raise ValueError(
            "S_robust computed over different scenario sets cannot be compared ("
            + "; ".join(v[0] for v in keys.values())
            + "); recompute them over one set"
        )


# --------------------------------------------------------------------------- chance guard
def _binomial_sf(k: int, n: int, p: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, p), exactly (log-space sum of the upper tail)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_first = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * math.log(p) + (n - k) * math.log1p(-p)
    i = np.arange(k, n, dtype=np.float64)
    steps = np.log((n - i) / (i + 1.0)) + (math.log(p) - math.log1p(-p))
    logs = log_first + np.concatenate(([0.0], np.cumsum(steps)))
    top = float(logs.max())
    return float(min(1.0, math.exp(top) * float(np.exp(logs - top).sum())))


def chance_test(correct: int, n: int, n_classes: int, *, alpha: float = CHANCE_ALPHA) -> dict[str, Any]:
    """Is μ = correct / n clearly above chance 1 / n_classes? A one-sided exact binomial test.

    S_robust measures the spread of accuracies around μ; a model wrong everywhere has no
    spread and scores near 1. A score is only worth reading when μ is significantly above
    chance: ``mu_above_chance`` is True when P(X ≥ correct) < ``alpha`` for X ~ Binomial(n,
    1 / n_classes). ``warning`` is the line to show beside the score ("" when above chance).

    >>> chance_test(0, 120, 12)["mu_above_chance"], chance_test(100, 120, 12)["mu_above_chance"]
    (False, True)
    """
    for value, what in ((correct, "correct"), (n, "n"), (n_classes, "n_classes")):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise TypeError(f"chance test: {what} must be an int, got {type(value).__name__}")
    if n <= 0 or not 0 <= correct <= n:
        raise ValueError(f"chance test: need 0 <= correct <= n and n >= 1, got correct={correct}, n={n}")
    if n_classes < 2:
        raise ValueError(f"chance test: need at least 2 classes to define chance, got n_classes={n_classes}")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 < alpha < 1.0:
        raise ValueError(f"chance test: alpha must be a number in (0, 1), got {alpha!r}")
    chance = 1.0 / int(n_classes)
    p_value = _binomial_sf(int(correct), int(n), chance)
    above = p_value < alpha
    mu = correct / n
    warning = "" if above else (
        f"NOT ABOVE CHANCE: μ = {mu:.4f} on {ORIGINAL!r} ({correct}/{n}) is not significantly above chance "
        f"1/{n_classes} = {chance:.4f} (one-sided exact binomial p = {p_value:.3g}, level {alpha:g}); S_robust measures "
        "the spread around μ, and a model that fails everywhere has none: this S_robust says nothing about robustness"
    )
    return {
        "mu": mu, "correct": int(correct), "n": int(n), "n_classes": int(n_classes), "chance": chance,
        "p_value": p_value, "alpha": float(alpha), "mu_above_chance": bool(above), "warning": warning,
    }


def _guard(result: dict, chance: dict | None, scenario_set: dict) -> dict:
    """Add the chance test, the scenario set and the warnings that go with them to a result."""
    warnings = list(result.get("warnings") or [])
    if chance is None:
        warnings.append(
            "μ was not tested against chance (give the number of 'original' samples and of classes): "
            "S_robust is meaningless for a model at chance level"
        )
    elif chance["warning"]:
        warnings.append(chance["warning"])
    if scenario_set["missing"]:
        warnings.append(scenario_set_warning(scenario_set))
    result.update(
        chance=chance,
        mu_above_chance=None if chance is None else chance["mu_above_chance"],
        scenario_set=scenario_set,
        warnings=warnings,
    )
    return result


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
    scenario_set: str | Sequence[str] | None = None,
    n_original: int | None = None,
    n_classes: int | None = None,
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
        scenario_set: a set name (:data:`SCENARIO_SETS`, ``"all"``) or list of names to
            score ``external`` over (others are listed as ``excluded``); ``None`` (default)
            scores every name given and records the set as the named set those names are,
            else ``"custom"``.
        n_original, n_classes: the number of ``original`` samples behind μ and of classes
            scored; with both, μ is tested against chance (:func:`chance_test`), without
            them ``warnings`` says it was not.

    Returns:
        ``s_robust``; ``sigma2_e``/``sigma2_i`` (variances) and ``sigma_e``/``sigma_i``
        (standard deviations) with the chosen ddof; ``n_e``/``n_i``; ``config``,
        ``dispersion``, ``ddof``; ``internal_term`` (``"given"`` or ``"absent"``, then
        σ_i = 0); ``mu`` (= ``external_reference``), ``internal_reference``; ``scenario_set``
        (``name``, ``members``, ``excluded``, ``missing``); ``chance`` (the test, or None),
        ``mu_above_chance`` (bool or None) and ``warnings`` (lines to print beside S).

    >>> r = robustness_score({"blur_background": 0.9, "image_grey": 0.8}, external_reference=0.95)
    >>> round(r["sigma2_e"], 4), round(r["s_robust"], 4), r["internal_term"]
    (0.025, 0.975, 'absent')
    """
    settings = resolve_config(config, dispersion=dispersion, ddof=ddof)
    names_e, values_e = _accuracies(external, "external")
    check_scenario_names(names_e, custom_scenarios=custom_scenarios, what="external scenario")
    mu_e = _accuracy(external_reference, "external_reference")
    if scenario_set is None:
        named = [k for k, members in SCENARIO_SETS.items() if set(members) == set(names_e)]
        chosen = resolve_scenario_set(SCENARIO_SETS[named[0]] if named else list(names_e), names_e)
        chosen["name"] = named[0] if named else CUSTOM_SET
    else:
        chosen = resolve_scenario_set(scenario_set, names_e)
    if not chosen["members"]:
        raise ValueError(
            f"no external scenario is in scenario set {chosen['name']!r} (given: {', '.join(names_e)}); "
            f"name another set ({', '.join([*SCENARIO_SETS, ALL_SCENARIOS])})"
        )
    values_e = values_e[[names_e.index(m) for m in chosen["members"]]]
    chance = None
    if n_original is not None or n_classes is not None:
        if n_original is None or n_classes is None:
            raise ValueError("the chance test needs both n_original (samples behind μ) and n_classes")
        if isinstance(n_original, bool) or not isinstance(n_original, numbers.Integral):
            raise TypeError(f"n_original must be an int, got {type(n_original).__name__}")
        chance = chance_test(round(mu_e * n_original), int(n_original), n_classes)
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
    return {"mu": mu_e, **_guard(_score(values_e, mu_e, values_i, mu_i, settings), chance, chosen)}  # μ beside S


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
    scenario_set: str | Sequence[str] | None = None,
    source_ids: Sequence | np.ndarray | None = None,
    n_classes: int | None = None,
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
        n_bootstrap: replicates of a paired bootstrap CI for S_robust (0: none). Each
            replicate draws source images with replacement (within each class when classes
            are given) and takes all their scenario rows, the same draw for every scenario,
            then recomputes μ, every C(i) and S. Needs ``source_ids``.
        confidence: level of the percentile interval, in (0, 1).
        seed: int or ``numpy.random.Generator`` for the bootstrap (default 0).
        custom_scenarios: accept scenario names that are not XImageNet-12 scenarios
            (by default such a name, e.g. a typo, is a ``ValueError``).
        scenario_set: the scenarios S_robust is computed over: a name of
            :data:`SCENARIO_SETS` (default ``"background"``; ``"all"`` when
            ``custom_scenarios``), ``"all"`` (every scenario given) or a list of names.
            Scenarios outside it still get their accuracy but not a place in S.
        source_ids: the source image of each sample (its id is the same in every
            scenario); required for the bootstrap.
        n_classes: the number of classes the model chooses among, for the chance test of
            μ (default: the classes given, else the distinct reference labels).

    Returns:
        everything :func:`robustness_score` returns (``scenario_set``, ``chance``,
        ``mu_above_chance`` and ``warnings`` included), plus ``mu``, ``accuracy`` and ``n``
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
    >>> r["mu"], r["accuracy"]["blur_background"], round(r["s_robust"], 4), r["scenario_set"]["name"]
    (1.0, 0.5, 0.5, 'background')
    """
    settings = resolve_config(config, dispersion=dispersion, ddof=ddof)
    preds, refs, scen, correct = _checked_samples(predictions, references, scenarios)
    scen_names, scen_codes, orig = _scenario_codes(scen, scenario_names, custom_scenarios)
    if scenario_set is None and custom_scenarios:
        scenario_set = ALL_SCENARIOS
    chosen = resolve_scenario_set(scenario_set, scen_names)
    if not chosen["members"]:
        raise ValueError(
            f"no scenario of set {chosen['name']!r} has samples (scenarios present: {', '.join(scen_names)}); "
            f"name another set ({', '.join([*SCENARIO_SETS, ALL_SCENARIOS])}) or a list of scenarios"
        )
    cls = _class_keys(classes, refs, len(preds))
    class_names, cls_codes = [], None
    if cls is not None:
        uniques, cls_codes = _factorize(cls)
        class_names = uniques.tolist()
    cell_n, cell_hits = _cell_counts(correct, scen_codes, cls_codes, len(scen_names), max(1, len(class_names)))
    scen_acc = cell_hits.sum(axis=1) / cell_n.sum(axis=1)
    mu = float(scen_acc[orig])
    external = {s: float(scen_acc[scen_names.index(s)]) for s in chosen["members"]}
    out_classes = {} if cls is None else _class_tables(cell_n, cell_hits, scen_names, class_names, orig)
    class_term = out_classes.get("accuracy_per_class")

    checked = {**settings, "custom_scenarios": True, "scenario_set": ALL_SCENARIOS}  # names checked above
    if internal is not None or internal_reference is not None:
        result = robustness_score(
            external, external_reference=mu, internal=internal, internal_reference=internal_reference, **checked
        )
    elif class_term is not None:
        result = robustness_score(external, external_reference=mu, internal=class_term, internal_reference=mu, **checked)
        result["internal_term"] = "classes"
    else:
        result = robustness_score(external, external_reference=mu, **checked)
    result["warnings"] = []  # the chance test is done here, with the sample counts
    k = n_classes if n_classes is not None else (len(class_names) if cls is not None else len(np.unique(refs)))
    chance = chance_test(int(cell_hits[orig].sum()), int(cell_n[orig].sum()), k) if k >= 2 else None
    _guard(result, chance, chosen)

    accuracy = dict(zip(scen_names, scen_acc.tolist()))
    bg_gap = None
    if all(s in accuracy for s in BG_GAP_SCENARIOS):
        bg_gap = accuracy[BG_GAP_SCENARIOS[0]] - accuracy[BG_GAP_SCENARIOS[1]]
    result.update(mu=mu, accuracy=accuracy, n=dict(zip(scen_names, cell_n.sum(axis=1).tolist())), bg_gap=bg_gap,
                  **out_classes)
    if n_bootstrap:
        _check_bootstrap(n_bootstrap, confidence, seed)  # bad options before a missing source_ids
        used = [orig] + [scen_names.index(s) for s in chosen["members"]]
        result.update(
            _bootstrap(
                _source_table(source_ids, correct, scen_codes, cls_codes, len(scen_names), n_rows=len(preds)),
                scenarios=used,
                internal_fixed=None if internal is None else result["sigma2_i"],
                use_classes=internal is None and cls is not None,
                settings=settings,
                n_bootstrap=n_bootstrap,
                confidence=confidence,
                seed=seed,
            )
        )
    return result


def _checked_samples(predictions, references, scenarios) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The three per-sample columns as arrays, checked, and whether each prediction is right."""
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
    return preds, refs, scen, preds == refs


def _scenario_codes(scen: np.ndarray, scenario_names, custom_scenarios: bool) -> tuple[list, np.ndarray, int]:
    """(scenario names, code of each sample, index of ``original``), the names checked."""
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
    return scen_names, scen_codes, scen_names.index(ORIGINAL)


def _class_keys(classes, refs: np.ndarray, n: int) -> np.ndarray | None:
    if isinstance(classes, str):
        if classes != "references":
            raise ValueError(f"classes must be one key per sample or the string 'references', got {classes!r}")
        return refs
    if classes is None:
        return None
    cls = _labels(classes, "classes")
    if len(cls) != n:
        raise ValueError(f"length mismatch: {n} predictions but {len(cls)} classes")
    return cls


def _cell_counts(correct, scen_codes, cls_codes, n_scen: int, n_cls: int) -> tuple[np.ndarray, np.ndarray]:
    """Samples and right answers per scenario × class cell (one class column without classes)."""
    cells = scen_codes if cls_codes is None else scen_codes * n_cls + cls_codes
    cell_n = np.bincount(cells, minlength=n_scen * n_cls).reshape(n_scen, n_cls)
    cell_hits = np.bincount(cells, weights=correct, minlength=n_scen * n_cls).reshape(n_scen, n_cls)
    return cell_n, cell_hits


def _class_tables(cell_n, cell_hits, scen_names: list, class_names: list, orig: int) -> dict[str, Any]:
    """Per-class accuracy and count on ``original`` and the scenario × class density map."""
    orig_n = cell_n[orig]
    missing = [class_names[k] for k in range(len(class_names)) if orig_n[k] == 0]
    if missing:
        raise ValueError(f"class(es) {missing} have samples in other scenarios but none in {ORIGINAL!r}")
    with np.errstate(invalid="ignore", divide="ignore"):
        grid = cell_hits / cell_n
    return {
        "accuracy_per_class": dict(zip(class_names, (cell_hits[orig] / orig_n).tolist())),
        "n_per_class": dict(zip(class_names, orig_n.tolist())),
        "accuracy_per_scenario_class": {
            s: {c: (None if cell_n[i, k] == 0 else float(grid[i, k])) for k, c in enumerate(class_names)}
            for i, s in enumerate(scen_names)
        },
    }


def _source_table(source_ids, correct, scen_codes, cls_codes, n_scen: int, *, n_rows: int) -> dict[str, np.ndarray]:
    """Per source image: samples and right answers in each scenario, and its class (the bootstrap's unit)."""
    if source_ids is None:
        raise ValueError(
            "n_bootstrap needs source_ids (the source image of each sample): the interval resamples source images, "
            "paired across scenarios; resampling rows as if independent makes it several times too narrow"
        )
    ids = _labels(source_ids, "source_ids")
    if len(ids) != n_rows:
        raise ValueError(f"length mismatch: {n_rows} predictions but {len(ids)} source_ids")
    _, src = _factorize(ids)
    n_src = int(src.max()) + 1
    hits = np.bincount(src * n_scen + scen_codes, weights=correct, minlength=n_src * n_scen).reshape(n_src, n_scen)
    count = np.bincount(src * n_scen + scen_codes, minlength=n_src * n_scen).reshape(n_src, n_scen)
    src_cls = np.zeros(n_src, dtype=np.intp)
    if cls_codes is not None:
        src_cls[src] = cls_codes
        clash = np.flatnonzero(src_cls[src] != cls_codes)
        if len(clash):
            raise ValueError(f"source {ids[clash[0]].item()!r} has samples of more than one class: one class per source image")
    return {"hits": hits, "count": count, "cls": src_cls}


#: Bootstrap weights held at once (replicates × sources), which bounds the memory a block takes.
_BOOTSTRAP_CELLS = 1 << 21


def _resample_weights(rng: np.random.Generator, groups: list[np.ndarray], n_src: int, size: int) -> np.ndarray:
    """(size, n_src) counts: how often each source is drawn, with replacement within each group."""
    draws = np.concatenate([members[rng.integers(0, len(members), size=(size, len(members)))] for members in groups],
                           axis=1)  # (size, n_src): one source index per draw, each group its own size
    draws += (np.arange(size) * n_src)[:, None]
    return np.bincount(draws.ravel(), minlength=size * n_src).reshape(size, n_src).astype(np.float64)


def _bootstrap(
    table: dict[str, np.ndarray],
    *,
    scenarios: list[int],
    internal_fixed: float | None,
    use_classes: bool,
    settings: dict,
    n_bootstrap: int,
    confidence: float,
    seed: int | np.random.Generator | None,
) -> dict[str, Any]:
    """Paired bootstrap over source images: ``scenarios[0]`` is ``original``, the rest the set scored."""
    rng = _check_bootstrap(n_bootstrap, confidence, seed)
    ddof, dispersion = settings["ddof"], settings["dispersion"]
    hits, count = table["hits"][:, scenarios], table["count"][:, scenarios]
    n_cls = int(table["cls"].max()) + 1
    groups = [np.flatnonzero(table["cls"] == k) for k in range(n_cls)] if use_classes else [np.arange(len(hits))]
    onehot = np.eye(n_cls)[table["cls"]]  # (sources, classes)
    n_scen = hits.shape[1]
    # one product per block: right answers and counts per scenario, then per class on original
    columns = np.hstack([hits, count, hits[:, :1] * onehot, count[:, :1] * onehot]).astype(np.float64)
    scores = []
    block = max(1, _BOOTSTRAP_CELLS // len(hits))
    for start in range(0, n_bootstrap, block):
        w = _resample_weights(rng, groups, len(hits), min(block, n_bootstrap - start))
        sums = w @ columns
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = sums[:, :n_scen] / sums[:, n_scen : 2 * n_scen]  # (B, scenarios): μ first
            mu = acc[:, 0]
            var_e = _variance(acc[:, 1:], mu, ddof)
            if internal_fixed is not None:
                var_i = np.full(len(w), internal_fixed)
            elif use_classes:
                var_i = _variance(sums[:, 2 * n_scen : 2 * n_scen + n_cls] / sums[:, 2 * n_scen + n_cls :], mu, ddof)
            else:
                var_i = np.zeros(len(w))
        scores.append(_combine(var_e, var_i, dispersion))
    s = np.concatenate(scores)
    degenerate = int(np.count_nonzero(~np.isfinite(s)))
    if degenerate > n_bootstrap // 2:
        raise ValueError(
            f"{degenerate} of {n_bootstrap} bootstrap replicates drew no sample of some scenario: "
            "too few source images have rows in every scenario for an interval"
        )
    s = s[np.isfinite(s)]
    alpha = (1.0 - float(confidence)) / 2.0
    low, high = np.quantile(s, [alpha, 1.0 - alpha])
    return {
        "s_robust_ci": (float(low), float(high)),
        "s_robust_se": float(np.std(s, ddof=1)),
        "bootstrap": {
            "n_bootstrap": int(n_bootstrap),
            "confidence": float(confidence),
            "seed": seed if not isinstance(seed, np.random.Generator) else "generator",
            "method": "percentile, paired over source images" + (" (drawn within class)" if use_classes else ""),
            "n_sources": int(len(hits)),
            "degenerate_replicates": degenerate,
        },
    }


def _check_bootstrap(n_bootstrap, confidence, seed) -> np.random.Generator:
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, numbers.Integral):
        raise TypeError(f"n_bootstrap must be an int, got {type(n_bootstrap).__name__}")
    if n_bootstrap < 2:
        raise ValueError(f"n_bootstrap must be 0 (no interval) or at least 2, got {n_bootstrap}")
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real) or not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)):
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be an int, a numpy.random.Generator or None, got {type(seed).__name__}")


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
