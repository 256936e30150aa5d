"""The ``ai_background`` scenario: registration, the builder's batch hook, resume, CLI options.

A diffusion model does not fit the per-sample pure-function shape of the other
scenarios (it needs batches and a heavy model loaded once per process), so the scenario
is registered with ``family="generative"`` and the builder hands its samples to
:func:`generate_variant` in batches instead of calling ``engine.apply_variant``:

    results = generate_variant(variant, samples, seed=seed, options=options,
                               cache_dir=out_dir / ".cache", class_names=names)

Each result is a :class:`~ximagenet12.scenarios.engine.ScenarioResult` (like ``apply_variant``'s),
a :class:`~ximagenet12.core.types.Skipped` (a hard sample, with the reason) or a
:class:`~ximagenet12.core.types.SampleError` (this sample failed; the others went on).

Resume: every generated image is written, as soon as its batch finishes, to
``<cache_dir>/ai_background/<key>.png`` (+ ``.json`` provenance), the key hashing the
source id, the image and mask bytes, the seed, the prompt and every generation setting.
After an interruption the same call finds them and generates only the rest; changing the
model, a prompt or a setting regenerates. ``resolve("all")`` leaves generative scenarios
out: ``ai_background`` is built only when named.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from PIL import Image

from ximagenet12.scenarios.generation.hardness import HardnessThresholds, hard_sample_reason
from ximagenet12.scenarios.generation.inpaint import (
    DEFAULT_DILATE,
    DEFAULT_GUIDANCE_SCALE,
    DEFAULT_MODEL,
    DEFAULT_STEPS,
    DEFAULT_STRENGTH,
    AIBackgroundGenerator,
    InpaintRequest,
    InpaintResult,
    check_model_source,
)
from ximagenet12.scenarios.engine import ScenarioResult
from ximagenet12.scenarios.registry import Scenario, Variant
from ximagenet12.core.rng import derive_seed
from ximagenet12.core.types import Sample, SampleError, ScenarioOutput, Skipped

__all__ = [
    "SCENARIO_NAME",
    "DEFAULT_BATCH_SIZE",
    "GenerationOptions",
    "GenerationCache",
    "ai_background",
    "get_generator",
    "generate_variant",
    "add_generation_arguments",
    "options_from_args",
]

SCENARIO_NAME = "ai_background"
#: Samples per pipeline call. SDXL at 1024² in float16 takes ~10 GB for a batch of 4.
DEFAULT_BATCH_SIZE = 4
_CACHE_FORMAT = 1


@dataclass(frozen=True)
class GenerationOptions:
    """Everything the builder needs to run ``ai_background`` (the ``--ai-*`` options)."""

    model: str = DEFAULT_MODEL
    device: str = "auto"
    dtype: str | None = None
    steps: int = DEFAULT_STEPS
    guidance_scale: float = DEFAULT_GUIDANCE_SCALE
    strength: float = DEFAULT_STRENGTH
    negative_prompt: str | None = None
    size: int | None = None
    dilate: int = DEFAULT_DILATE
    #: a user prompt file overriding the shipped prompts (see ``generation.prompts``)
    prompts: str | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    #: when a sample is too hard to inpaint; ``None`` skips none
    hardness: HardnessThresholds | None = field(default_factory=HardnessThresholds)

    def __post_init__(self) -> None:
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")

    def validate(self) -> None:
        """Fail now, not mid-build: check device, dtype, settings, prompt file and a local model folder.

        Cheap: the pipeline is not loaded (a Hub id is checked when it is).
        """
        get_generator(self)
        check_model_source(self.model)


_GENERATOR_FIELDS = (
    "model", "device", "dtype", "steps", "guidance_scale", "strength", "negative_prompt", "size", "dilate", "prompts"
)


@lru_cache(maxsize=4)
def _generator(**kwargs: Any) -> AIBackgroundGenerator:
    return AIBackgroundGenerator(kwargs.pop("model"), **kwargs)


def get_generator(options: GenerationOptions) -> AIBackgroundGenerator:
    """The process's generator for these options (built once; the pipeline loads on first use)."""
    return _generator(**{name: getattr(options, name) for name in _GENERATOR_FIELDS})


# -- the per-sample cache that makes generation resumable ----------------------------------


class GenerationCache:
    """Generated images on disk, one PNG (lossless) + one JSON of provenance per key."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root) / SCENARIO_NAME

    @staticmethod
    def key(sample: Sample, *, seed: int, prompt: str, settings: Mapping[str, Any]) -> str:
        digest = hashlib.blake2b(digest_size=20)
        header = {"format": _CACHE_FORMAT, "source_id": sample.source_id, "seed": int(seed), "prompt": prompt, **settings}
        digest.update(json.dumps(header, sort_keys=True).encode("utf-8"))
        digest.update(np.ascontiguousarray(sample.image).tobytes())
        digest.update(np.packbits(sample.mask).tobytes())
        digest.update(repr(sample.mask.shape).encode())
        return digest.hexdigest()

    def _paths(self, key: str) -> tuple[Path, Path]:
        folder = self.root / key[:2]
        return folder / f"{key}.png", folder / f"{key}.json"

    def get(self, key: str, shape: tuple[int, int]) -> tuple[np.ndarray, dict[str, Any]] | None:
        png, meta = self._paths(key)
        if not (png.is_file() and meta.is_file()):
            return None
        try:
            with Image.open(png) as im:
                image = np.asarray(im.convert("RGB"))
            provenance = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # a torn or corrupt entry: generate again
        if image.shape[:2] != tuple(shape) or not isinstance(provenance, dict):
            return None
        return image, provenance

    def put(self, key: str, image: np.ndarray, provenance: Mapping[str, Any]) -> None:
        png, meta = self._paths(key)
        png.parent.mkdir(parents=True, exist_ok=True)
        for path, write in (
            (meta, lambda p: p.write_text(json.dumps(provenance, sort_keys=True), encoding="utf-8")),
            (png, lambda p: Image.fromarray(image).save(p, format="PNG", compress_level=1)),
        ):
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            write(tmp)
            os.replace(tmp, path)  # atomic: a crash leaves no half-written entry


# -- the builder's hook --------------------------------------------------------------------


def generate_variant(
    variant: Variant,
    samples: Sequence[Sample],
    *,
    seed: int = 0,
    options: GenerationOptions | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    class_names: Mapping[str, str] | None = None,
    generator: AIBackgroundGenerator | None = None,
) -> list[ScenarioResult | Skipped | SampleError]:
    """Run a generative variant on ``samples``; one result per sample, in order.

    ``seed`` is the build's global seed: each sample's seed is derived from it exactly as
    ``apply_variant`` does. ``class_names`` maps class keys to the names used in prompts
    for classes the prompt file does not know. ``generator`` replaces the process's
    generator for ``options`` (tests, or a caller managing its own).
    """
    if variant.scenario.family != "generative":
        raise ValueError(f"scenario {variant.name!r} is not generative; run it with engine.apply_variant")
    options = options or GenerationOptions()
    generator = generator or get_generator(options)
    cache = GenerationCache(cache_dir) if cache_dir is not None else None
    settings = generator.settings()
    names = class_names or {}

    results: list[Any] = [None] * len(samples)
    pending: list[tuple[int, InpaintRequest, str | None]] = []
    for i, sample in enumerate(samples):
        sample_seed = derive_seed(seed, sample.source_id, variant.name, variant.effective_level)
        request = InpaintRequest(
            image=sample.image,
            mask=sample.mask,
            class_key=sample.class_key,
            seed=sample_seed,
            class_name=names.get(sample.class_key),
            source_id=sample.source_id,
        )
        try:
            generator.validate(request)
        except SampleError as exc:
            results[i] = exc
            continue
        reason = hard_sample_reason(sample.mask, options.hardness) if options.hardness is not None else None
        if reason is not None:
            results[i] = Skipped(sample.source_id, reason, scenario=variant.config_name)
            continue
        key = None
        if cache is not None:
            prompt = generator.prompt_for(sample.class_key, request.class_name)
            key = cache.key(sample, seed=sample_seed, prompt=prompt, settings=settings)
            hit = cache.get(key, sample.mask.shape)
            if hit is not None:
                results[i] = _result(ScenarioResult, sample, sample_seed, *hit)
                continue
        pending.append((i, request, key))

    # similar aspect ratios next to each other, so batches share a generation size
    pending.sort(key=lambda item: item[1].mask.shape[0] / item[1].mask.shape[1])
    for start in range(0, len(pending), options.batch_size):
        chunk = pending[start : start + options.batch_size]
        outputs = generator.generate([request for _, request, _ in chunk], errors="return")
        for (i, request, key), out in zip(chunk, outputs):
            if isinstance(out, InpaintResult):
                if cache is not None and key is not None:
                    cache.put(key, out.image, out.provenance)
                results[i] = _result(ScenarioResult, samples[i], request.seed, out.image, out.provenance)
            else:
                results[i] = out
    return results


def _result(cls: Any, sample: Sample, seed: int, image: np.ndarray, provenance: dict) -> Any:
    # resumed rows equal fresh ones: nothing says whether the image came from the cache
    return cls(ScenarioOutput(image, sample.mask.copy(), {}), seed, dict(provenance))


# -- registration --------------------------------------------------------------------------


def ai_background(image: np.ndarray, mask: np.ndarray, **params: Any) -> ScenarioOutput:
    """Not callable per sample: ``ai_background`` runs in batches through :func:`generate_variant`."""
    raise ValueError(
        "ai_background runs in batches with a diffusion model: call "
        "ximagenet12.scenarios.generation.generate_variant (the builder does this for generative "
        "scenarios), not apply_variant"
    )


#: Registered by :mod:`ximagenet12.scenarios.registry` through its ``PLUGINS`` list.
PLUGIN_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        SCENARIO_NAME,
        ai_background,
        "Background repainted by a diffusion inpainting model (SDXL by default) with a "
        "prompt per class; the object's pixels pasted back unchanged.",
        params={
            "model": DEFAULT_MODEL,
            "steps": DEFAULT_STEPS,
            "guidance_scale": DEFAULT_GUIDANCE_SCALE,
            "strength": DEFAULT_STRENGTH,
            "dilate": DEFAULT_DILATE,
        },
        random=True,
        family="generative",
    ),
)


# -- command line -------------------------------------------------------------------------


def add_generation_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``--ai-*`` and ``--device`` options (used when ``ai_background`` is built)."""
    group = parser.add_argument_group("ai_background (diffusion inpainting)")
    group.add_argument("--ai-model", default=DEFAULT_MODEL, metavar="ID_OR_DIR",
                       help=f"Hub id or local folder of a diffusers inpainting pipeline (default: {DEFAULT_MODEL})")
    group.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda or cuda:<index>")
    group.add_argument("--ai-dtype", default=None, choices=("float16", "bfloat16", "float32"),
                       help="default: float16 on CUDA, float32 on the CPU")
    group.add_argument("--ai-steps", type=int, default=DEFAULT_STEPS, help=f"denoising steps (default {DEFAULT_STEPS})")
    group.add_argument("--ai-guidance", type=float, default=DEFAULT_GUIDANCE_SCALE,
                       help=f"classifier-free guidance scale (default {DEFAULT_GUIDANCE_SCALE})")
    group.add_argument("--ai-strength", type=float, default=DEFAULT_STRENGTH,
                       help=f"inpainting strength in (0, 1] (default {DEFAULT_STRENGTH})")
    group.add_argument("--ai-size", type=int, default=None,
                       help="generation resolution: area about SIZE² (default: the model's, 1024 for SDXL)")
    group.add_argument("--ai-dilate", type=int, default=DEFAULT_DILATE,
                       help=f"pixels the background is grown into the object (default {DEFAULT_DILATE})")
    group.add_argument("--ai-prompts", default=None, metavar="FILE", help="JSON file overriding the shipped prompts")
    group.add_argument("--ai-negative-prompt", default=None, help="default: the prompt file's")
    group.add_argument("--ai-batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                       help=f"samples per pipeline call (default {DEFAULT_BATCH_SIZE})")
    from ximagenet12.core.constants import DEFAULT_LEAK_CLASSIFIER, DEFAULT_LEAK_THRESHOLD

    group.add_argument("--leak-check", default=DEFAULT_LEAK_CLASSIFIER, metavar="MODEL",
                       help="classifier that scores each generated background with the object blacked out; rows "
                            f"whose background alone is the object's class are flagged (default {DEFAULT_LEAK_CLASSIFIER})")
    group.add_argument("--leak-threshold", type=float, default=DEFAULT_LEAK_THRESHOLD,
                       help=f"flag a row when that probability is at least this (default {DEFAULT_LEAK_THRESHOLD})")
    group.add_argument("--no-leak-check", action="store_true", help="skip the background leak check")
    default = HardnessThresholds()
    group.add_argument("--ai-keep-hard", action="store_true",
                       help="do not skip hard samples (several, tiny or cut-off objects)")
    group.add_argument("--ai-max-objects", type=int, default=default.max_objects,
                       help=f"skip masks with more objects (default {default.max_objects})")
    group.add_argument("--ai-min-object-fraction", type=float, default=default.min_object_fraction,
                       help=f"skip objects covering less of the image (default {default.min_object_fraction})")
    group.add_argument("--ai-max-border-fraction", type=float, default=default.max_border_fraction,
                       help=f"skip objects with more of their outline on the frame (default {default.max_border_fraction})")


def options_from_args(args: argparse.Namespace) -> GenerationOptions:
    """The :class:`GenerationOptions` given by :func:`add_generation_arguments`' options, checked."""
    hardness = None
    if not args.ai_keep_hard:
        hardness = HardnessThresholds(
            max_objects=args.ai_max_objects,
            min_object_fraction=args.ai_min_object_fraction,
            max_border_fraction=args.ai_max_border_fraction,
        )
    prompts = args.ai_prompts
    if prompts is not None and not Path(prompts).is_file():
        raise FileNotFoundError(f"--ai-prompts: prompt file {prompts!r} not found")
    options = GenerationOptions(
        model=args.ai_model,
        device=args.device,
        dtype=args.ai_dtype,
        steps=args.ai_steps,
        guidance_scale=args.ai_guidance,
        strength=args.ai_strength,
        negative_prompt=args.ai_negative_prompt,
        size=args.ai_size,
        dilate=args.ai_dilate,
        prompts=prompts,
        batch_size=args.ai_batch_size,
        hardness=hardness,
    )
    options.validate()
    return options
