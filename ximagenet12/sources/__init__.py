"""Source readers: turn a dataset on disk (or in ``datasets``) into source samples.

Every reader returns a :class:`Source` with ``name``, ``classes`` (sorted class keys
found in the data), ``class_names``, ``items()`` (picklable :class:`SourceItem`
objects sorted by class then source id) and ``skipped`` (what could not be used,
with the reason). ``open_source(path)`` picks the reader from the layout::

    from ximagenet12.sources import open_source
    source = open_source("XImageNet-12/")          # release layout
    for item in source.items():
        sample = item.load()                       # Sample, or raises SampleError
"""

from __future__ import annotations

from ximagenet12.sources.automask import MASK_MAKERS, MaskMaker, mask_maker, register_mask_maker
from ximagenet12.sources.automask_models import RembgMaskMaker, TransformersMaskMaker
from ximagenet12.sources.base import IMAGE_EXTENSIONS, LoadOptions, Source, class_names_for
from ximagenet12.sources.coco import CocoSource, rle_counts_from_string, rle_decode
from ximagenet12.sources.detect import SUPPORTED_LAYOUTS, open_source
from ximagenet12.sources.folders import FolderSource, ReleaseSource
from ximagenet12.sources.hf import HFDatasetSource
from ximagenet12.sources.labelme import BACKGROUND_LABELS, LabelMeSource, shapes_to_mask
from ximagenet12.sources.photos import PhotoSource

# the learned mask makers register here, where the package is assembled (the registry does not know them)
register_mask_maker("rembg", RembgMaskMaker)
register_mask_maker("transformers", TransformersMaskMaker)

__all__ = [
    "BACKGROUND_LABELS",
    "IMAGE_EXTENSIONS",
    "SUPPORTED_LAYOUTS",
    "CocoSource",
    "FolderSource",
    "HFDatasetSource",
    "LabelMeSource",
    "LoadOptions",
    "MASK_MAKERS",
    "MaskMaker",
    "PhotoSource",
    "ReleaseSource",
    "Source",
    "class_names_for",
    "mask_maker",
    "register_mask_maker",
    "open_source",
    "rle_counts_from_string",
    "rle_decode",
    "shapes_to_mask",
]
