"""The explain report (``report.json``): per scenario and class means with bootstrap CIs.

The report follows the evaluator's layout (``scenarios -> {config: {..., "per_class":
{class_key: {metric: value, "n": n}}}}`` with ``metric = "object_focus"``), so that
``ximagenet12 analyze`` fits object focus like it fits accuracy.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ximagenet12.explain.scores import DEFAULT_CONFIDENCE, right_vs_wrong, summarise_focus

__all__ = ["METHOD_DESCRIPTIONS", "IG_DELTA_WARNING", "build_report"]

METHOD_DESCRIPTIONS = {
    "gradcam": "Grad-CAM (captum LayerGradCam, ReLU of the gradient-weighted feature map, bilinear upsampling)",
    "integrated_gradients": "Integrated Gradients (captum), black-image baseline, summed over colour channels",
    "rollout": "attention rollout (Abnar & Zuidema 2020): heads averaged, identity added, class-token row; "
               "class-agnostic (the target is not used)",
}
#: Median relative completeness gap of IG above which the report warns.
IG_DELTA_WARNING = 0.05
FIGURES = ("object_focus", "focus_ratio", "pointing_hit")


def _rng(seed: int, what: str) -> np.random.Generator:
    from ximagenet12.core.rng import sample_rng

    return sample_rng(seed, "explain-bootstrap", what, None)


def _flat(stats: dict[str, dict]) -> dict[str, Any]:
    """``{"object_focus": m, "object_focus_ci": [lo, hi], ...}`` from :func:`summarise_focus` output."""
    out: dict[str, Any] = {}
    for figure, s in stats.items():
        name = "pointing_game" if figure == "pointing_hit" else figure
        out[name] = s["mean"]
        out[f"{name}_ci"] = None if s["ci_low"] is None else [s["ci_low"], s["ci_high"]]
    out["n_undefined"] = stats["object_focus"]["n_undefined"]
    return out


def _scenario_entry(sub, keys: Sequence[str], *, seed: int, config: str, n_bootstrap: int) -> dict:
    entry = _flat(summarise_focus(sub, rng=_rng(seed, config), n_bootstrap=n_bootstrap))
    entry["mask_area"] = float(sub["mask_area"].mean()) if len(sub) else None
    entry["accuracy"] = float(sub["correct"].mean()) if len(sub) else None
    entry["n"] = int(len(sub))
    per_class = {}
    for key in keys:
        cell = sub[sub["class_key"] == key]
        if len(cell):
            stats = summarise_focus(cell, rng=_rng(seed, f"{config}/{key}"), n_bootstrap=n_bootstrap)
            per_class[key] = {**_flat(stats), "n": int(stats["object_focus"]["n"])}
        else:
            per_class[key] = {"object_focus": None, "n": 0}
    entry["per_class"] = per_class
    entry["right_vs_wrong"] = right_vs_wrong(sub, rng=_rng(seed, f"{config}/right-wrong"), n_bootstrap=n_bootstrap)
    return entry


def _warnings(frame, explainer, settings: dict) -> list[str]:
    out = []
    undefined = int(frame["object_focus"].isna().sum()) if len(frame) else 0
    if undefined:
        out.append(f"{undefined} sample(s) have no positive attribution: their object focus is undefined and left "
                   "out of the means (counted as n_undefined)")
    if settings["method"] == "integrated_gradients" and len(frame):
        median = float(np.nanmedian(frame["ig_relative_delta"].astype(float)))
        if median > IG_DELTA_WARNING:
            out.append(f"Integrated Gradients is far from complete: median relative convergence delta {median:.3f} "
                       f"> {IG_DELTA_WARNING} with {settings['ig_steps']} steps; raise --ig-steps")
    if explainer.layer_choice and explainer.layer_choice.startswith("last Conv2d"):
        out.append(f"Grad-CAM target layer {explainer.target_layer!r} was guessed (architecture not in the table); "
                   "check it or pass --target-layer")
    if settings["method"] == "rollout" and settings["target"] == "predicted":
        out.append("rollout is class-agnostic: --target predicted gives the same maps as --target true")
    return out


def build_report(frame, *, settings: dict, explainer, mapping, names, keys, configs, failures, seconds,
                 n_bootstrap: int, extra: dict) -> dict:
    """The JSON-able report of one explain run."""
    from ximagenet12.evaluation.classification import _versions
    from ximagenet12.evaluation.data import ALPHA_FLATTENING

    seed = settings["seed"]
    scenarios = {}
    for config in configs:
        sub = frame[frame["config"] == config]
        entry = _scenario_entry(sub, keys, seed=seed, config=config, n_bootstrap=n_bootstrap)
        entry["n_failed"] = sum(1 for f in failures if f["config"] == config)
        entry["seconds"] = seconds.get(config)
        scenarios[config] = entry
    return {
        "task": "explanation",
        "metric": "object_focus",
        **settings,
        "method_description": METHOD_DESCRIPTIONS[settings["method"]],
        "layer_choice": explainer.layer_choice,
        "ig_baseline": "black image (pixel value 0 through the model's preprocessing)"
        if settings["method"] == "integrated_gradients" else None,
        "notes": list(explainer.notes),
        "definitions": {
            "object_focus": "share of positive attribution inside the object mask, in [0, 1]",
            "focus_ratio": "object_focus / mask area (1 = no preference for the object)",
            "pointing_game": "share of samples whose maximal attribution lies inside the mask",
            "mask_area": "share of the model input covered by the object (object focus of a uniform map)",
            "correct": f"{settings['mode']} prediction equals the true class",
            "ci": f"{int(DEFAULT_CONFIDENCE * 100)}% percentile bootstrap of the mean ({n_bootstrap} resamples)",
        },
        "label_mapping": mapping.describe(),
        "classes": [{"index": i, "name": n, "key": k} for i, (n, k) in enumerate(zip(names, keys))],
        "alpha_flattening": ALPHA_FLATTENING,
        "scenarios": scenarios,
        "right_vs_wrong": right_vs_wrong(frame, rng=_rng(seed, "all/right-wrong"), n_bootstrap=n_bootstrap)
        if len(frame) else None,
        "warnings": _warnings(frame, explainer, settings),
        "n_failed": len(failures),
        "failures": failures,
        "n_bootstrap": n_bootstrap,
        **extra,
        "versions": {**_versions(), "captum": _captum_version()},
    }


def _captum_version() -> str:
    import captum

    return captum.__version__

