"""Names and defaults of the explain package (no torch import: the CLI reads them for --help)."""

from __future__ import annotations

from typing import Literal

__all__ = ["Method", "METHODS", "Target", "TARGETS", "DEFAULT_IG_STEPS", "DEFAULT_BATCH_SIZE",
           "DEFAULT_OVERLAY_SAMPLES", "DEFAULT_N_BOOTSTRAP", "DEFAULT_CONFIDENCE"]

Method = Literal["gradcam", "integrated_gradients", "rollout"]
METHODS: tuple[Method, ...] = ("gradcam", "integrated_gradients", "rollout")
Target = Literal["true", "predicted"]
TARGETS: tuple[Target, ...] = ("true", "predicted")
#: Integrated Gradients' Riemann steps (captum's default is 50; 32 keeps CPU runs affordable;
#: the report warns when the completeness gap shows it is too few).
DEFAULT_IG_STEPS = 32
DEFAULT_BATCH_SIZE = 16
DEFAULT_OVERLAY_SAMPLES = 4
DEFAULT_N_BOOTSTRAP = 1000
DEFAULT_CONFIDENCE = 0.95
