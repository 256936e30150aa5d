"""Automatic masks for photos that come without one (``build --auto-mask``).

A **mask maker** turns an RGB photo into a boolean object mask::

    maker = mask_maker("grabcut")
    mask = maker.make_mask(image, box=None, class_name="tabby")   # HxW bool

Makers are registered by name in :data:`MASK_MAKERS` (``grabcut`` here; ``rembg`` and
the ``transformers`` models in :mod:`ximagenet12.sources.automask_models`, registered
where the package is assembled); :func:`mask_maker` resolves a name, else treats the
spec as a ``transformers`` model id or folder. A maker is a small frozen dataclass of
settings: it is pickled into every item, and any model it needs is loaded once per
process, on first use. So masks are computed inside ``item.load()``, i.e. in the build's
workers, and the settings (:meth:`MaskMaker.fingerprint`) are part of the build
fingerprint, so ``--resume`` never mixes masks of two makers.

The object's box: a COCO/LabelMe box when the source has one, else a centred box
``margin`` (a fraction of each side) inside the frame (:func:`centre_box`).

A mask that covers less than :data:`MIN_MASK_COVERAGE` or more than
:data:`MAX_MASK_COVERAGE` of the frame is a recorded skip, not a row; so is a maker
failing on one photo (:func:`auto_masked_sample`). Every sample records its maker in
``Sample.mask_source`` (``grabcut``, ``rembg:<model>``, ``transformers:<id>``), which the
builder writes into each row's ``provenance``.

GrabCut (:func:`grabcut_mask`, OpenCV, no weights): the photo is shrunk so that its longer
side is at most ``max_side`` pixels (speed), :func:`cv2.grabCut` runs ``iterations``
rounds from the box (everything outside the box is background), OpenCV's RNG is
seeded first (its GMM initialisation uses k-means), so the same photo always gives the
same mask. Post-processing: only the largest connected object region is kept, its
holes are filled, and the mask is upsampled to the frame (bilinear, threshold 0.5).
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

import cv2
import numpy as np

from ximagenet12.io.imageio import read_image
from ximagenet12.core.types import Sample, SampleError

__all__ = [
    "DEFAULT_MARGIN",
    "MASK_MAKERS",
    "MAX_MASK_COVERAGE",
    "MIN_MASK_COVERAGE",
    "Box",
    "GrabCutMaskMaker",
    "MaskMaker",
    "auto_masked_sample",
    "centre_box",
    "check_coverage",
    "fill_holes",
    "grabcut_mask",
    "largest_component",
    "load_auto_masked",
    "mask_iou",
    "mask_maker",
    "names_match",
    "register_mask_maker",
    "skipped_masks_note",
]

#: A box in pixels of the frame: (x, y, width, height), as in COCO.
Box = tuple[float, float, float, float]

#: A mask covering less than this fraction of the frame is a recorded skip (the maker found nothing).
MIN_MASK_COVERAGE = 0.01
#: ... or more than this fraction (the maker took the background too).
MAX_MASK_COVERAGE = 0.95
#: The centred box leaves this fraction of the width (height) free on each side.
DEFAULT_MARGIN = 0.1
#: GrabCut works on the photo shrunk to this longer side at most (pixels), then upsamples.
GRABCUT_MAX_SIDE = 200
#: GrabCut rounds.
GRABCUT_ITERATIONS = 3
#: OpenCV's RNG seed set before each GrabCut call (its k-means initialisation draws from it).
GRABCUT_SEED = 0
#: Bytes of bit-packed masks a process keeps (:func:`load_auto_masked`), so a photo drawn again
#: as a ``mixed_*`` donor is not masked again; 32 MiB hold ~1,400 masks of 500×375.
MASK_MEMO_BYTES = 32 * 2**20


# --------------------------------------------------------------------------- boxes and masks


def centre_box(height: int, width: int, *, margin: float = DEFAULT_MARGIN) -> Box:
    """The box ``margin`` (fraction of each side) inside a ``height x width`` frame."""
    if not 0 < margin < 0.5:
        raise ValueError(f"margin must be a fraction of the side in (0, 0.5), got {margin!r}")
    return (margin * width, margin * height, (1 - 2 * margin) * width, (1 - 2 * margin) * height)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """Only the largest 8-connected ``True`` region of ``mask`` (all ``False`` stays so)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:  # background plus at most one region
        return mask.astype(bool)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == biggest


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with every background region that does not touch the border set to ``True``."""
    h, w = mask.shape
    padded = np.zeros((h + 2, w + 2), dtype=np.uint8)
    padded[1:-1, 1:-1] = mask.astype(np.uint8)
    flood = np.zeros((h + 4, w + 4), dtype=np.uint8)
    outside = padded.copy()
    cv2.floodFill(outside, flood, (0, 0), 2)  # background reachable from the border becomes 2
    return (outside != 2)[1:-1, 1:-1]


def _box_rect(box: Box, scale: float, height: int, width: int) -> tuple[int, int, int, int]:
    x, y, bw, bh = (float(v) * scale for v in box)
    x0, y0 = max(0, int(np.floor(x))), max(0, int(np.floor(y)))
    x1, y1 = min(width, int(np.ceil(x + bw))), min(height, int(np.ceil(y + bh)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise ValueError(f"the object box {tuple(round(float(v), 1) for v in box)} leaves under 2×2 pixels "
                         f"inside the {width}×{height} working frame")
    if x0 == 0 and y0 == 0 and x1 == width and y1 == height:  # GrabCut needs some background outside the box
        x0, y0, x1, y1 = 1, 1, width - 1, height - 1
    return x0, y0, x1 - x0, y1 - y0


def grabcut_mask(
    image: np.ndarray,
    *,
    box: Box | None = None,
    margin: float = DEFAULT_MARGIN,
    iterations: int = GRABCUT_ITERATIONS,
    max_side: int = GRABCUT_MAX_SIDE,
    seed: int = GRABCUT_SEED,
) -> np.ndarray:
    """The object mask of ``image`` (HxWx3 uint8 RGB) by GrabCut from ``box`` (default: the centred box).

    See the module docstring for the steps. Deterministic: OpenCV's RNG is seeded with ``seed``.
    """
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA) if scale < 1 else image
    if box is None:
        box = centre_box(h, w, margin=margin)
    rect = _box_rect(box, sw / w if scale < 1 else 1.0, sh, sw)
    labels = np.zeros((sh, sw), dtype=np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(int(seed))
    cv2.grabCut(np.ascontiguousarray(small), labels, rect, bgd, fgd, int(iterations), cv2.GC_INIT_WITH_RECT)
    fg = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    fg = fill_holes(largest_component(fg))
    if (sh, sw) == (h, w):
        return fg
    up = cv2.resize(fg.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return up >= 0.5


# --------------------------------------------------------------------------- makers and their registry


@dataclass(frozen=True)
class MaskMaker(ABC):
    """Makes the object mask of a photo. Subclasses are frozen dataclasses of settings
    (picklable); a model they need is loaded once per process, on first use.

    ``margin``: the centred box used when the source gives no box.
    """

    margin: float = DEFAULT_MARGIN

    #: the registry name (``grabcut``, ``rembg``, ``transformers``)
    kind: ClassVar[str] = "?"

    @property
    def name(self) -> str:
        """What rows record as ``mask_source``: the kind, and the model when there is one."""
        return self.kind

    @abstractmethod
    def make_mask(self, image: np.ndarray, *, box: Box | None = None, class_name: str | None = None) -> np.ndarray:
        """The object mask of ``image`` (HxWx3 uint8 RGB): HxW bool, True = object."""

    def check(self) -> None:
        """Fail early, in one line (``ValueError``), when the maker cannot run here: a missing
        package (naming the extra to install) or model. Called before anything is written."""
        if not 0 < self.margin < 0.5:
            raise ValueError(f"auto-mask margin must be a fraction of the side in (0, 0.5), got {self.margin!r}")

    def fingerprint(self) -> dict[str, Any]:
        """The settings that decide the masks (part of the build fingerprint, so --resume checks them)."""
        return {"mask_source": self.name, **asdict(self)}

    def describe(self) -> str:
        """One sentence for the dataset card: how the masks were made."""
        return f"`{self.name}`"

    def box_for(self, image: np.ndarray, box: Box | None) -> Box:
        """``box``, or the centred box of ``image``."""
        return box if box is not None else centre_box(image.shape[0], image.shape[1], margin=self.margin)


@dataclass(frozen=True)
class GrabCutMaskMaker(MaskMaker):
    """GrabCut (OpenCV; no weights): see :func:`grabcut_mask`."""

    iterations: int = GRABCUT_ITERATIONS
    max_side: int = GRABCUT_MAX_SIDE
    seed: int = GRABCUT_SEED
    kind: ClassVar[str] = "grabcut"

    def check(self) -> None:
        super().check()
        if not isinstance(self.iterations, int) or self.iterations < 1:
            raise ValueError(f"grabcut iterations must be a positive integer, got {self.iterations!r}")
        if not isinstance(self.max_side, int) or self.max_side < 16:
            raise ValueError(f"grabcut max_side must be an integer of at least 16 pixels, got {self.max_side!r}")

    def make_mask(self, image: np.ndarray, *, box: Box | None = None, class_name: str | None = None) -> np.ndarray:
        return grabcut_mask(image, box=box, margin=self.margin, iterations=self.iterations, max_side=self.max_side,
                            seed=self.seed)

    def fingerprint(self) -> dict[str, Any]:
        return {**super().fingerprint(), "opencv": cv2.__version__}  # another OpenCV may cut differently

    def describe(self) -> str:
        return (f"GrabCut (OpenCV {cv2.__version__}, no learned weights): {self.iterations} rounds on the photo "
                f"shrunk to at most {self.max_side} px, started from the annotation's box when the source has one, "
                f"else a centred box {self.margin:.0%} inside each side; largest region kept, holes filled")


#: name -> factory(**options) of a :class:`MaskMaker`. ``transformers`` is the fallback for other specs.
MASK_MAKERS: dict[str, Callable[..., MaskMaker]] = {"grabcut": GrabCutMaskMaker}


def register_mask_maker(name: str, factory: Callable[..., MaskMaker]) -> None:
    """Make ``--auto-mask NAME`` build masks with ``factory(**options)``."""
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"a mask maker name must be a word like 'grabcut', got {name!r}")
    MASK_MAKERS[name] = factory


def mask_maker(spec: str | MaskMaker, *, model: str | os.PathLike[str] | None = None, margin: float | None = None,
               trust_remote_code: bool = False) -> MaskMaker:
    """The mask maker ``spec`` names: a registered name (``grabcut``, ``rembg``), else a
    ``transformers`` model id or folder. ``model``: the model file a maker needs
    (``rembg``: a staged ``.onnx`` file). ``margin``: the centred box's margin."""
    if isinstance(spec, MaskMaker):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise TypeError(f"auto-mask must be a mask maker name or a model id/folder, got {spec!r}")
    options: dict[str, Any] = {} if margin is None else {"margin": float(margin)}
    if spec in MASK_MAKERS:
        factory = MASK_MAKERS[spec]
        if spec == "grabcut" and model is not None:
            raise ValueError("--auto-mask-model is for rembg (a staged .onnx file); grabcut needs no model")
        if model is not None:
            options["model_path"] = os.fspath(model)
        if trust_remote_code:
            options["trust_remote_code"] = True
        try:
            return factory(**options)
        except TypeError as exc:
            raise ValueError(f"mask maker {spec!r} does not take these options ({exc})") from None
    if model is not None:
        raise ValueError(f"--auto-mask-model is for rembg; for a transformers model pass its id or folder as "
                         f"--auto-mask (got --auto-mask {spec} --auto-mask-model {model})")
    transformers_factory = MASK_MAKERS.get("transformers")
    if transformers_factory is None:  # pragma: no cover - registered by ximagenet12.sources
        raise ValueError(f"unknown mask maker {spec!r}; known: {', '.join(sorted(MASK_MAKERS))}")
    return transformers_factory(model=spec, trust_remote_code=trust_remote_code, **options)


def files_fingerprint(path: str | os.PathLike[str]) -> str:
    """Size and modification time of a model file, or of the files at the top of a model
    folder: a changed model is a changed build (``--resume`` refuses to mix)."""
    p = Path(path)
    digest = hashlib.blake2b(digest_size=8)
    files = sorted(f for f in p.iterdir() if f.is_file()) if p.is_dir() else [p] if p.is_file() else []
    for f in files:
        st = f.stat()
        digest.update(f"{f.name}\x1f{st.st_size}\x1f{st.st_mtime_ns}\x1e".encode())
    return digest.hexdigest()


# --------------------------------------------------------------------------- the sample


#: How every automatic-mask skip reason starts (what :func:`skipped_masks_note` counts).
SKIP_PREFIX = "automatic mask ("


def skipped_masks_note(skipped: Sequence[Any]) -> str:
    """The card's count of photos whose automatic mask was not used, by why."""
    own = [s for s in skipped if s.scenario is None and s.reason.startswith(SKIP_PREFIX)]
    under = sum("under the" in s.reason for s in own)
    over = sum("over the" in s.reason for s in own)
    failed = len(own) - under - over
    if not own:
        return "Every photo's automatic mask covered 1-95 % of its frame: no photo was left out for its mask."
    return (f"{len(own)} photo(s) were left out for their automatic mask: {under} covering under "
            f"{MIN_MASK_COVERAGE:.0%} of the frame, {over} over {MAX_MASK_COVERAGE:.0%}, {failed} where the mask "
            "maker failed (`skipped.jsonl` gives each reason).")


def check_coverage(mask: np.ndarray, *, source_id: str, maker: str) -> None:
    """A :class:`SampleError` (a recorded skip) when ``mask`` covers under 1 % or over 95 % of the frame."""
    cover = float(np.count_nonzero(mask)) / max(1, mask.size)
    if cover < MIN_MASK_COVERAGE:
        raise SampleError(source_id, f"automatic mask ({maker}) covers {cover:.1%} of the frame, under the "
                          f"{MIN_MASK_COVERAGE:.0%} minimum: the maker found no object")
    if cover > MAX_MASK_COVERAGE:
        raise SampleError(source_id, f"automatic mask ({maker}) covers {cover:.1%} of the frame, over the "
                          f"{MAX_MASK_COVERAGE:.0%} maximum: the maker took the background too")


def auto_masked_sample(image: np.ndarray, *, maker: MaskMaker, box: Box | None, source_id: str, class_key: str,
                       class_name: str | None) -> Sample:
    """``image`` with the mask ``maker`` makes for it, as a :class:`Sample`.

    A maker that fails on this photo (any exception: a model error, a degenerate box) or
    a mask outside the coverage bounds is a :class:`SampleError`, i.e. a recorded skip.
    """
    try:
        mask = maker.make_mask(image, box=box, class_name=class_name)
    except SampleError:
        raise
    except Exception as exc:  # noqa: BLE001 - one photo's failure is that photo's skip, whatever the model raised
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise SampleError(source_id, f"automatic mask ({maker.name}) failed: {type(exc).__name__}: {text}"[:500]) from None
    mask = np.asarray(mask)
    if mask.shape != image.shape[:2]:
        raise SampleError(source_id, f"automatic mask ({maker.name}) is {mask.shape}, not the photo's {image.shape[:2]}")
    mask = mask.astype(bool, copy=False)
    check_coverage(mask, source_id=source_id, maker=maker.name)
    return Sample(source_id=source_id, class_key=class_key, image=image, mask=mask, mask_source=maker.name)


class _MaskMemo:
    """The masks this process made lately, bit-packed, up to ``limit`` bytes (oldest out first).
    Masks are deterministic, so a remembered one is the one the maker would make again."""

    def __init__(self, limit: int):
        self.limit, self.used = limit, 0
        self.masks: OrderedDict[Any, tuple[np.ndarray, tuple[int, int]]] = OrderedDict()

    def get(self, key: Any) -> np.ndarray | None:
        hit = self.masks.get(key)
        if hit is None:
            return None
        self.masks.move_to_end(key)
        packed, shape = hit
        return np.unpackbits(packed, count=shape[0] * shape[1]).reshape(shape).astype(bool)

    def put(self, key: Any, mask: np.ndarray) -> None:
        packed = np.packbits(mask.ravel())
        self.masks[key] = (packed, mask.shape)
        self.used += packed.nbytes
        while self.used > self.limit and self.masks:
            _, (old, _) = self.masks.popitem(last=False)
            self.used -= old.nbytes


_MEMO = _MaskMemo(MASK_MEMO_BYTES)


def load_auto_masked(image_path: str | bytes, *, maker: MaskMaker, box: Box | None, source_id: str, class_key: str,
                     class_name: str | None, max_pixels: int | None, name: str | None = None) -> Sample:
    """Decode one photo (EXIF orientation applied) and make its mask: a source item's ``load``.

    ``image_path``: the file, or its encoded bytes (a ``datasets`` row). ``box`` is in the
    displayed photo's pixels. ``name``: how messages name the file. A
    mask this process made for the same photo, box and maker is reused (a ``mixed_*``
    donor drawn again); failures and skips are not remembered (they are raised again).
    """
    from ximagenet12.core.validation import check_image

    image = read_image(image_path, source_id=source_id, max_pixels=max_pixels, name=name)
    check_image(image.pixels, source_id=source_id)
    photo = image_path if isinstance(image_path, str) else hashlib.blake2b(image_path, digest_size=16).digest()
    key = (photo, box, maker)  # bytes are keyed by their hash: the memo never holds a photo
    mask = _MEMO.get(key)
    if mask is not None and mask.shape == image.pixels.shape[:2]:
        return Sample(source_id=source_id, class_key=class_key, image=image.pixels, mask=mask, mask_source=maker.name)
    sample = auto_masked_sample(image.pixels, maker=maker, box=box, source_id=source_id, class_key=class_key,
                                class_name=class_name)
    _MEMO.put(key, sample.mask)
    return sample


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else float(np.count_nonzero(a & b)) / union


def names_match(label: str, class_names: Sequence[str]) -> bool:
    """Whether a model's ``label`` names the class: equal to one of ``class_names`` or to one
    of their comma-separated synonyms ("tabby, tabby cat"), ignoring case, ``_`` and ``-``."""
    def norm(text: str) -> str:
        return " ".join(text.lower().replace("_", " ").replace("-", " ").split())

    wanted = {norm(part) for name in class_names for part in str(name).split(",") if norm(part)}
    return norm(label) in wanted
