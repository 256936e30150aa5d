"""The embedded sample: six real photographs with object masks, shipped in the package.

Three CC0 / public-domain photographs from scikit-image (a tabby cat, an espresso, a
rocket labelled ``missile``), two samples each, in the reference release layout so they
go through the real release reader. Origins and licences: ``sample/LICENSE.md``;
regenerate with ``scripts/make_sample.py``. ``ximagenet12 build`` with no ``--source``
builds this sample.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from ximagenet12.sources import ReleaseSource, Source

__all__ = ["SAMPLE_LICENSE", "sample_path", "sample_source"]

#: The Hub licence id of the sample (every photo is CC0 or public domain).
SAMPLE_LICENSE = "cc0-1.0"
_NOTE = (
    "The source is the package's embedded sample: three CC0 / public-domain photographs from "
    "scikit-image (a tabby cat, an espresso, a Falcon 9 rocket labelled `missile`), each as the "
    "photo and a mirrored crop, with object masks made for the package."
)


def sample_path() -> Path:
    """The folder of the embedded sample (release layout)."""
    path = Path(str(resources.files("ximagenet12.builder").joinpath("sample")))
    if not (path / "image").is_dir():
        raise FileNotFoundError(f"the embedded sample is missing from the installed package: {path}")
    return path


def sample_source() -> Source:
    """The embedded sample as a :class:`~ximagenet12.sources.Source` (6 samples, 3 classes)."""
    root = sample_path()
    source = ReleaseSource(root, name="ximagenet12-sample")
    names = json.loads((root / "classes.json").read_text(encoding="utf-8"))
    source.class_names = [names.get(key, key) for key in source.classes]
    source.license = SAMPLE_LICENSE  # type: ignore[attr-defined]
    source.notes = _NOTE  # type: ignore[attr-defined]
    return source
