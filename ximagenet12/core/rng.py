"""Per-sample random generators.

Every random draw of a scenario comes from a generator derived from
(global seed, source id, scenario, level) alone, so a sample's output never depends
on how many workers build the dataset or in which order.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["derive_seed", "sample_rng"]


def derive_seed(seed: int, source_id: str, scenario: str, level: int | None) -> int:
    """A stable 63-bit integer seed for one (sample, scenario, level)."""
    key = f"{int(seed)}\x1f{source_id}\x1f{scenario}\x1f{'' if level is None else int(level)}"
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def sample_rng(seed: int, source_id: str, scenario: str, level: int | None) -> np.random.Generator:
    """The generator for one (sample, scenario, level); see :func:`derive_seed`."""
    return np.random.default_rng(derive_seed(seed, source_id, scenario, level))
