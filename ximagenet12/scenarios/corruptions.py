"""ImageNet-C corruptions confined to the background or to the object.

The corruptions themselves come from ``imagecorruptions`` (Hendrycks & Dietterich's
ImageNet-C code as packaged by the Bethge lab), installed through its maintained fork
``imagecorruptions-imaug`` (Apache-2.0, same import name), which runs on current
scikit-image/NumPy/SciPy where ``imagecorruptions`` 1.1.2 does not. ``corrupt-tta`` was
considered and not used: its ``spatter`` is a different effect (a brown tint instead of
ImageNet-C's water/mud layer) and its ``motion_blur`` ignores the kernel's sigma, so its
numbers would not be ImageNet-C's.

Each corruption is computed on the whole frame and composited through the mask, so a
blurred background may carry a trace of the object's colours at the edge;
``fill="inpaint"`` first fills the object's hole from its surroundings (the same Telea
fill as ``mixed_*``) for the background variants.

Randomness: ``imagecorruptions`` draws from NumPy's *global* generator (and its
``glass_blur`` from numba's own global generator). :func:`corrupt_image` therefore draws
one seed from the scenario's derived generator and runs the library under a lock with
the global state saved, seeded from that value and restored afterwards; see the comment
there.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

import numpy as np

from ximagenet12.scenarios.functional import _fill_hole, _select
from ximagenet12.scenarios.registry import Scenario, resolve
from ximagenet12.core.types import SampleError, ScenarioOutput

__all__ = [
    "CORRUPTIONS",
    "RANDOM_CORRUPTIONS",
    "GROUP_OF",
    "SEVERITIES",
    "MIN_SIDE",
    "CorruptionFill",
    "CORRUPTION_FILLS",
    "corrupt_image",
    "corrupt_background",
    "corrupt_object",
    "check_corruption",
    "corruption_summary",
    "REGIONS",
    "PLUGIN_SCENARIOS",
]

#: The 19 corruptions of ``imagecorruptions.get_corruption_names("all")``, in its order:
#: ImageNet-C's 15 (noise, blur, weather, digital) and its 4 held-out ones. Written out so
#: that importing the registry does not import numba; a test checks it against the library.
CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog",
    "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
    "speckle_noise", "gaussian_blur", "spatter", "saturate",
)  # fmt: skip
#: ImageNet-C's group of each corruption (``extra``: imagecorruptions' 4 held-out ones).
GROUP_OF: dict[str, str] = {
    **dict.fromkeys(CORRUPTIONS[0:3], "noise"),
    **dict.fromkeys(CORRUPTIONS[3:7], "blur"),
    **dict.fromkeys(CORRUPTIONS[7:10], "weather"),
    **dict.fromkeys(CORRUPTIONS[10:15], "digital"),
    **dict.fromkeys(CORRUPTIONS[15:19], "extra"),
}
#: Corruptions that draw random values (the others are deterministic functions of the image).
RANDOM_CORRUPTIONS: frozenset[str] = frozenset(
    {"gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "glass_blur", "motion_blur",
     "snow", "frost", "fog", "spatter", "elastic_transform"}
)  # fmt: skip
SEVERITIES = (1, 2, 3, 4, 5)
#: ``imagecorruptions`` refuses frames smaller than this on either side.
MIN_SIDE = 32
CorruptionFill = Literal["none", "inpaint"]
CORRUPTION_FILLS: tuple[str, ...] = ("none", "inpaint")
#: Corruptions whose library function takes its own ``seed`` instead of the global RNG.
_SEEDED = frozenset({"glass_blur", "impulse_noise"})

_GLOBAL_RNG_LOCK = threading.Lock()


def _library():
    """``imagecorruptions.corrupt``, imported on first use (it imports numba)."""
    try:
        from imagecorruptions import corrupt
    except ImportError as exc:
        raise ValueError(
            "the corrupt_* scenarios need the imagecorruptions-imaug package: "
            "pip install 'ximagenet12[corruptions]'"
        ) from exc
    return corrupt


def check_corruption(corruption: object, severity: object) -> None:
    """Raise ``TypeError``/``ValueError`` for an unknown corruption or a bad severity."""
    if not isinstance(corruption, str):
        raise TypeError(f"corruption must be a name (str), got {type(corruption).__name__}")
    if corruption not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {corruption!r}; known: {', '.join(CORRUPTIONS)}")
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)):
        raise TypeError(f"severity must be an integer 1-5, got {type(severity).__name__}")
    if int(severity) not in SEVERITIES:
        raise ValueError(f"severity must be an integer 1-5, got {severity}")


def corrupt_image(
    image: np.ndarray, *, corruption: str, severity: int, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, int | None]:
    """``corruption`` at ``severity`` on the whole RGB ``image``; returns (uint8 image, seed used).

    Random corruptions draw a 32-bit seed from ``rng`` (``None`` for deterministic ones).
    """
    check_corruption(corruption, severity)
    if min(image.shape[:2]) < MIN_SIDE:
        # a property of the sample, not a bug: the builder records it in skipped.jsonl
        raise SampleError("image", f"{corruption} needs an image of at least {MIN_SIDE}x{MIN_SIDE} pixels, "
                          f"got {image.shape[0]}x{image.shape[1]}")
    corrupt = _library()

    seed = int(rng.integers(2**32)) if corruption in RANDOM_CORRUPTIONS and rng is not None else None
    if corruption in RANDOM_CORRUPTIONS and seed is None:
        raise ValueError(f"corruption {corruption!r} draws random values: pass rng")
    kwargs = {"seed": seed} if corruption in _SEEDED else {}
    # imagecorruptions calls np.random.* (the process-wide legacy generator). Seeding it
    # from our derived generator makes the output a function of the row's seed alone;
    # saving and restoring the global state means we neither change what other code in
    # the process draws nor depend on what it drew before. The lock keeps two threads
    # (the evaluator decodes on threads) from seeding/drawing/restoring interleaved.
    # glass_blur and impulse_noise take the seed directly (numba's generator is separate).
    with _GLOBAL_RNG_LOCK:
        saved = np.random.get_state()
        try:
            if seed is not None:
                np.random.seed(seed)
            out = corrupt(np.ascontiguousarray(image), severity=int(severity), corruption_name=corruption, **kwargs)
        finally:
            np.random.set_state(saved)
    out = np.asarray(out, dtype=np.uint8)
    if out.shape != image.shape:  # the library keeps the frame; anything else is a bug there
        raise RuntimeError(f"{corruption} returned shape {out.shape} for an image of shape {image.shape}")
    return out, seed


def _drawn(seed: int | None) -> dict:
    """What the row records as drawn: the seed a random corruption ran with."""
    return {} if seed is None else {"corruption_seed": seed}


def corrupt_background(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    corruption: str,
    severity: int,
    fill: CorruptionFill = "none",
    rng: np.random.Generator,
) -> ScenarioOutput:
    """The corruption outside the mask; object pixels bit-identical to the source.

    ``fill="inpaint"``: the object's hole is filled from its surroundings before the
    corruption runs, so blurs do not smear the object's colours into the background.
    """
    if fill not in CORRUPTION_FILLS:
        raise ValueError(f"fill must be one of {', '.join(CORRUPTION_FILLS)}, got {fill!r}")
    base = _fill_hole(image, mask, "inpaint") if fill == "inpaint" else image
    corrupted, seed = corrupt_image(base, corruption=corruption, severity=severity, rng=rng)
    return ScenarioOutput(_select(mask, image, corrupted), mask.copy(), _drawn(seed))


def corrupt_object(
    image: np.ndarray, mask: np.ndarray, *, corruption: str, severity: int, rng: np.random.Generator
) -> ScenarioOutput:
    """The corruption inside the mask; background pixels bit-identical to the source."""
    corrupted, seed = corrupt_image(image, corruption=corruption, severity=severity, rng=rng)
    return ScenarioOutput(_select(mask, corrupted, image), mask.copy(), _drawn(seed))


# -- reading results ------------------------------------------------------------------------

REGIONS = ("background", "object")


def _parse_config(config: str) -> tuple[str, str, int] | None:
    """(corruption, region, severity) of a corruption config name, ``None`` for other configs."""
    if not config.startswith("corrupt_"):
        return None
    variant = resolve(config)[0]
    region = "background" if variant.name.endswith("_background") else "object"
    return str(variant.params["corruption"]), region, int(variant.params["severity"])


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def corruption_summary(accuracy: dict[str, float | None], *, reference: float | None = None) -> dict:
    """Where corruptions hurt: mean accuracy per corruption, region and ImageNet-C group.

    ``accuracy``: config name -> accuracy, e.g. ``{c: e["accuracy"] for c, e in
    report["scenarios"].items()}`` from ``ximagenet12 evaluate``'s ``report.json``; other
    configs are ignored, ``original`` gives ``reference`` unless it is passed. Per corruption
    and region the severities present are averaged (ImageNet-C's protocol averages all
    five); ``gap`` = background - object accuracy (negative: the corrupted background
    hurts more than the corrupted object). ``missing`` lists every (corruption, region,
    severity) absent, so a partial run is never mistaken for a full one.
    """
    if reference is None:
        reference = accuracy.get("original")
    levels: dict[tuple[str, str], dict[int, float]] = {}
    for config, value in accuracy.items():
        parsed = _parse_config(config)
        if parsed is not None and value is not None:
            levels.setdefault(parsed[:2], {})[parsed[2]] = float(value)
    per: dict[str, dict] = {}
    for name in CORRUPTIONS:
        entry = {r: _mean(list(levels.get((name, r), {}).values())) for r in REGIONS}
        if entry["background"] is None and entry["object"] is None:
            continue
        both = entry["background"] is not None and entry["object"] is not None
        per[name] = {**entry, "gap": entry["background"] - entry["object"] if both else None,
                     "levels": {r: dict(sorted(levels.get((name, r), {}).items())) for r in REGIONS}}
    out: dict = {"reference": reference, "per_corruption": per}
    for region in REGIONS:
        out[region] = _mean([e[region] for e in per.values() if e[region] is not None])
        out[f"{region}_drop"] = None if out[region] is None or reference is None else reference - out[region]
    out["per_group"] = {
        g: {r: _mean([e[r] for n, e in per.items() if GROUP_OF[n] == g and e[r] is not None]) for r in REGIONS}
        for g in dict.fromkeys(GROUP_OF.values())
    }
    out["missing"] = [f"{n}/{r}@{s}" for n in CORRUPTIONS for r in REGIONS for s in SEVERITIES
                      if s not in levels.get((n, r), {})]
    out["complete"] = not out["missing"]
    return out


# -- the scenarios (registered by ximagenet12.scenarios.registry through its PLUGINS list) ----------

# ImageNet-C corruptions confined to one region (issue 14): corrupt_<name>_background and
# corrupt_<name>_object for each of imagecorruptions' 19 corruptions, severities 1-5.
# There is no paper level; level 3 (ImageNet-C's middle severity) is the bare config name.
_CORRUPTION_LEVELS = {lv: {"severity": lv} for lv in SEVERITIES}
_CORRUPTION_DEFAULT = 3
_scenarios: list[Scenario] = []
for _corruption in CORRUPTIONS:
    for _where, _fn in (("background", corrupt_background), ("object", corrupt_object)):
        _params: dict[str, Any] = {"corruption": _corruption, "severity": _CORRUPTION_DEFAULT}
        if _where == "background":
            _params["fill"] = "none"
        _scenarios.append(
            Scenario(
                f"corrupt_{_corruption}_{_where}",
                _fn,
                f"ImageNet-C {_corruption.replace('_', ' ')} (imagecorruptions) computed on the whole frame "
                f"and kept only {'outside' if _where == 'background' else 'inside'} the object mask"
                + (
                    " (a blur may carry the object's colours across its edge; fill=inpaint, "
                    "--corruption-fill, fills the object's hole first)."
                    if _where == "background"
                    else "."
                ),
                params=_params,
                levels=_CORRUPTION_LEVELS,
                paper_level=_CORRUPTION_DEFAULT,
                random=_corruption in RANDOM_CORRUPTIONS,
                family="corruption",
                keeps_object=_where == "background",
                keeps_background=_where == "object",
            )
        )
#: The 38 corruption scenarios, background then object per corruption, in CORRUPTIONS' order.
PLUGIN_SCENARIOS: tuple[Scenario, ...] = tuple(_scenarios)
