"""The embedded sample: twenty real photographs' samples with object masks, shipped in the package.

Ten ImageNet-1k classes, two samples each (the photo and a mirrored crop), from photographs
that ship in scikit-image, matplotlib, scikit-learn and Debian's ``darknet`` package, in the
reference release layout so they go through the real release reader. Origins and licences: ``sample/LICENSE.md``;
regenerate with ``scripts/make_sample.py``. ``ximagenet12 build`` with no ``--source``
builds this sample.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from ximagenet12.sources import ReleaseSource, Source

__all__ = ["SAMPLE_LICENSE", "SAMPLE_LICENSE_NAME", "auto_masked_sample_source", "sample_path", "sample_source"]

#: The Hub licence id of the sample: its photos carry different terms (CC0, public domain,
#: CC BY 2.0, MIT), named in :data:`SAMPLE_LICENSE_NAME` and per image in ``sample/LICENSE.md``.
SAMPLE_LICENSE = "other"
SAMPLE_LICENSE_NAME = "cc0-1.0 / public domain / cc-by-2.0 / mit (per image, see the sample's LICENSE.md)"
_NOTE = (
    "The source is the package's embedded sample: ten photographs of ten ImageNet-1k classes "
    "(tabby cat, espresso, missile, space shuttle, military uniform, wall clock, palace, bald eagle, "
    "sorrel, zebra) from scikit-image, matplotlib, scikit-learn and Debian's darknet package, each as "
    "the photo and a mirrored crop, with object masks made for the package. Licences per image: "
    "CC0 or public domain, except the palace photo (CC BY 2.0, by danielbuechele on Flickr) and the "
    "eagle, horse and zebra photos (MIT, as Debian's darknet package declares them)."
)


def sample_path() -> Path:
    """The folder of the embedded sample (release layout)."""
    path = Path(str(resources.files("ximagenet12.builder").joinpath("sample")))
    if not (path / "image").is_dir():
        raise FileNotFoundError(f"the embedded sample is missing from the installed package: {path}")
    return path


def sample_source() -> Source:
    """The embedded sample as a :class:`~ximagenet12.sources.Source` (20 samples, 10 classes)."""
    root = sample_path()
    source = ReleaseSource(root, name="ximagenet12-sample")
    names = json.loads((root / "classes.json").read_text(encoding="utf-8"))
    source.class_names = [names.get(key, key) for key in source.classes]
    source.license = SAMPLE_LICENSE  # type: ignore[attr-defined]
    source.license_name = SAMPLE_LICENSE_NAME  # type: ignore[attr-defined]
    source.notes = _NOTE  # type: ignore[attr-defined]
    return source


def auto_masked_sample_source(maker: object) -> Source:
    """The embedded sample's photos with masks made by ``maker`` (their own masks unused):
    ``ximagenet12 build --auto-mask grabcut`` without ``--source``, a quick look at a maker."""
    from ximagenet12.sources.photos import PhotoSource

    hand = sample_source()
    source = PhotoSource(sample_path(), maker=maker, name="ximagenet12-sample-automask")  # type: ignore[arg-type]
    source.class_names = list(hand.class_names)
    source.license = SAMPLE_LICENSE  # type: ignore[attr-defined]
    source.license_name = SAMPLE_LICENSE_NAME  # type: ignore[attr-defined]
    source.notes = _NOTE.replace(", with object masks made for the package", "") + "\n\n" + source.notes
    return source
