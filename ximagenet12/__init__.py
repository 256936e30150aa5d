"""XImageNet-12: does a vision model still recognise the object when only its
surroundings change?

Public API::

    from ximagenet12 import SCENARIOS, resolve, apply_variant, robustness_score
"""

from __future__ import annotations

__version__ = "0.1.0"

from ximagenet12.core.constants import REFERENCE_CLASSES, REFERENCE_WNIDS
from ximagenet12.scenarios.engine import RunContext, ScenarioResult, apply_variant
from ximagenet12.scenarios.registry import SCENARIOS, Scenario, Variant, all_variants, get_scenario, resolve
from ximagenet12.core.rng import derive_seed, sample_rng
from ximagenet12.core.types import Sample, SampleError, ScenarioOutput, Skipped, SourceItem

__all__ = [
    "__version__",
    "REFERENCE_CLASSES",
    "REFERENCE_WNIDS",
    "SCENARIOS",
    "Scenario",
    "Variant",
    "all_variants",
    "get_scenario",
    "resolve",
    "RunContext",
    "ScenarioResult",
    "apply_variant",
    "derive_seed",
    "sample_rng",
    "Sample",
    "SampleError",
    "ScenarioOutput",
    "Skipped",
    "SourceItem",
    "robustness_score",
    "XImageNet12",
]


def __getattr__(name: str):
    # Lazy so that `import ximagenet12` does not need numpy-only callers to pay for more.
    if name == "robustness_score":
        from ximagenet12.metrics.robustness_score.functional import robustness_score

        return robustness_score
    if name == "XImageNet12":  # the GeneratorBasedBuilder of ximagenet12.py (imports datasets)
        from ximagenet12.builder.loading_script import XImageNet12

        return XImageNet12
    raise AttributeError(f"module 'ximagenet12' has no attribute {name!r}")
