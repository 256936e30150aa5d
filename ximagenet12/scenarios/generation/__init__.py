"""``ai_background``: repaint backgrounds with a diffusion inpainting model, keep the object.

Importing this package registers the ``ai_background`` scenario (family
``"generative"``) and needs neither torch nor diffusers; they are imported when a
pipeline is loaded.

- :class:`AIBackgroundGenerator` — the generator (batches of image, mask, class, seed).
- :func:`generate_variant` — the builder's hook: a batch of samples → results, with the
  per-sample cache that makes generation resumable and the hard-sample skips.
- :func:`load_prompts` / :class:`PromptBook` — prompts per class from ``data/prompts.json``.
- :func:`hard_sample_reason` / :class:`HardnessThresholds` — hard samples by mask statistics.
"""

from __future__ import annotations

from ximagenet12.scenarios.generation.hardness import HardnessThresholds, MaskStats, hard_sample_reason, mask_statistics
from ximagenet12.scenarios.generation.inpaint import (
    DEFAULT_MODEL,
    AIBackgroundGenerator,
    GenerationError,
    InpaintRequest,
    InpaintResult,
    load_pipeline,
)
from ximagenet12.scenarios.generation.prompts import PromptBook, load_prompts
from ximagenet12.scenarios.generation.scenario import (
    SCENARIO_NAME,
    GenerationCache,
    GenerationOptions,
    add_generation_arguments,
    generate_variant,
    get_generator,
    options_from_args,
)

__all__ = [
    "DEFAULT_MODEL",
    "SCENARIO_NAME",
    "AIBackgroundGenerator",
    "GenerationCache",
    "GenerationError",
    "GenerationOptions",
    "HardnessThresholds",
    "InpaintRequest",
    "InpaintResult",
    "MaskStats",
    "PromptBook",
    "add_generation_arguments",
    "generate_variant",
    "get_generator",
    "hard_sample_reason",
    "load_pipeline",
    "load_prompts",
    "mask_statistics",
    "options_from_args",
]
