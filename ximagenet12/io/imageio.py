"""Decode source images and masks into the boundary contract, and nothing else.

Every reader in :mod:`ximagenet12.sources` comes through here, so each of these
policies holds for every source:

Images (:func:`read_image`, :func:`decode_image`)
    Returned as ``HxWx3 uint8`` RGB in the *displayed* orientation: the EXIF
    orientation tag (1–8) is applied, exactly as ``PIL.ImageOps.exif_transpose``
    would (:func:`apply_orientation` is the one implementation, shared with masks).
    Greyscale, 1-bit, palette, CMYK, YCbCr, LAB and HSV images are converted by
    Pillow. Images with an alpha channel (LA, PA, RGBA, palette transparency) keep
    their colour channels; alpha is dropped, not composited. 16-bit images
    (``I;16*`` and ``I``, e.g. 16-bit greyscale PNG or TIFF) are scaled to 8 bits by
    a right shift of 8 (``v >> 8``, so 65535 → 255 and relative brightness is
    kept; Pillow's own conversion would clip everything above 255 to white);
    values outside 0..65535 are clipped first. 16-bit RGB PNGs are reduced to
    8 bits per channel by Pillow in the same way. Float (``F``) images are taken
    as 0..1 when their maximum is at most 1, otherwise as 0..255. Multi-frame files
    use their first frame. ICC profiles are not applied.

Masks (:func:`decode_mask`, :func:`standardize_mask`)
    :func:`standardize_mask` is the one place a mask becomes ``HxW bool``: any
    non-zero value in any colour channel is object. So 0/1, 0/255, 1-bit, 16-bit
    and red-on-black RGB masks all give the same result. Palette (``P``) masks
    are read as palette *indices*: any non-zero index is object, whatever colour
    the palette gives it (note: a VOC-style "void" index 255 therefore counts as
    object). For masks with an alpha channel (LA, PA, RGBA) only the colour
    channels are used; alpha is ignored, because editors often save fully opaque
    masks and a transparent pixel with a non-zero colour is still a drawn pixel.
    Lossy (JPEG) masks follow the same rule, so their compression noise counts as
    object: keep masks lossless.

EXIF orientation and masks (:func:`align_mask`)
    The mask must end up aligned with the displayed image. A mask file's own EXIF
    orientation is applied by :func:`decode_mask`. Then, with the default
    ``orientation="auto"``: a mask whose size equals the displayed image size is
    kept as is; a mask whose size equals only the *stored* (un-rotated) size is
    taken to follow the stored pixel grid and gets the image's orientation
    applied; any other size is a size-mismatch :class:`SampleError`. When both
    sizes are equal (orientations 2–4, or a square image) the mask is taken to be
    in the displayed orientation, because annotation tools (LabelMe, CVAT, web
    browsers) and ``cv2.imread`` all show or return the upright image, which is
    what the annotator drew on. ``"stored"`` and ``"displayed"`` force either
    reading.

Decompression bombs
    The pixel count is checked from the file header before any pixel is decoded;
    images over ``max_pixels`` (default :data:`MAX_IMAGE_PIXELS`, Pillow's own
    error threshold) raise :class:`SampleError`. Pillow's
    ``DecompressionBombWarning``/``Error`` are handled here, so a limit above
    Pillow's own works too.

Every failure is a :class:`~ximagenet12.core.types.SampleError` naming the sample.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Union

import numpy as np
from PIL import Image

from ximagenet12.core.types import SampleError

__all__ = [
    "MAX_IMAGE_PIXELS",
    "EXIF_ORIENTATION_TAG",
    "ImageData",
    "MaskOrientation",
    "DecodedImage",
    "read_image",
    "decode_image",
    "decode_mask",
    "standardize_mask",
    "apply_orientation",
    "align_mask",
]

#: Largest image (width × height) that is decoded: Pillow's decompression-bomb
#: *error* threshold (2 × ``PIL.Image.MAX_IMAGE_PIXELS`` at its default).
MAX_IMAGE_PIXELS = 178_956_970
#: Bytes an image file may take per allowed pixel (16-bit RGBA, uncompressed) ...
FILE_BYTES_PER_PIXEL = 8
#: ... plus this much for headers and metadata: a larger file cannot be an image within
#: ``max_pixels`` and is refused before it is read (a multi-GB sparse file behind a valid
#: JPEG header must not be read into memory; issue 25).
FILE_BYTES_SLACK = 64 * 1024 * 1024
#: The EXIF tag holding the orientation (1 = upright, 2–8 = flips and rotations).
EXIF_ORIENTATION_TAG = 0x0112
#: Largest value of a 16-bit sample.
_UINT16_MAX = 65535
#: Orientations that swap width and height.
_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})
#: Mask modes whose pixel values carry the mask directly (or through indices / channels).
_MASK_MODES = frozenset({"1", "L", "P", "LA", "PA", "RGB", "RGBA", "RGBX", "I", "F"})

ImageData = Union[bytes, str, os.PathLike]
MaskOrientation = Literal["auto", "stored", "displayed"]


@dataclass(frozen=True)
class DecodedImage:
    """An RGB image in its displayed orientation and the EXIF orientation applied to it."""

    pixels: np.ndarray  # HxWx3 uint8, displayed orientation
    orientation: int = 1  # EXIF orientation tag that was applied (1 = none)

    @property
    def shape(self) -> tuple[int, int]:
        """Displayed (height, width)."""
        return self.pixels.shape[0], self.pixels.shape[1]

    @property
    def stored_shape(self) -> tuple[int, int]:
        """(height, width) as stored in the file, before the orientation was applied."""
        h, w = self.shape
        return (w, h) if self.orientation in _SWAPPING_ORIENTATIONS else (h, w)


# --------------------------------------------------------------------------- opening


def _describe(data: ImageData, name: str | None) -> str:
    """How messages name the input: ``name`` (the reader's path relative to the source),
    else the file's base name, or the byte count. Never an absolute path or an object
    repr, so two builds of one source write identical skip reasons (issue 17)."""
    if name is not None:
        return name
    if isinstance(data, (bytes, bytearray, memoryview)):
        return f"{len(data)} bytes"
    return os.path.basename(os.fspath(data))


#: An object repr such as ``<_io.BytesIO object at 0x7f...>`` (Pillow puts one in its messages).
_OBJECT_REPR = re.compile(r"\s*<[\w.]+ object at 0x[0-9a-fA-F]+>")


def _stable(exc: BaseException) -> str:
    """An exception's message without object reprs (which differ from run to run)."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        return exc.strerror  # the file is named by the caller, relative to the source
    return _OBJECT_REPR.sub("", str(exc)).strip() or type(exc).__name__


def max_file_bytes(max_pixels: int | None) -> int | None:
    """The largest file that can hold an image of ``max_pixels`` pixels (``None``: no limit)."""
    return None if max_pixels is None else FILE_BYTES_PER_PIXEL * max_pixels + FILE_BYTES_SLACK


def _read_bytes(data: ImageData, source_id: str, what: str, name: str | None = None,
                max_pixels: int | None = None) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if not isinstance(data, (str, os.PathLike)):
        raise TypeError(f"{what} must be bytes or a path, got {type(data).__name__} (source {source_id})")
    limit = max_file_bytes(max_pixels)
    try:
        with open(data, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if limit is not None and size > limit:
                raise SampleError(source_id, f"{what} file {_describe(data, name)} of {size:,} bytes is over the "
                                  f"limit of {limit:,} bytes for an image of at most {max_pixels:,} pixels; not read "
                                  "(raise max_pixels to accept it)")
            return fh.read()
    except FileNotFoundError:
        raise SampleError(source_id, f"{what} file not found: {_describe(data, name)}") from None
    except OSError as exc:
        raise SampleError(source_id, f"could not read {what} file {_describe(data, name)}: {_stable(exc)}") from None


def _open_unchecked(fp: io.BytesIO) -> Image.Image | None:
    """Open ``fp`` through Pillow's plugin registry without the decompression-bomb check.

    Only used after Pillow refused the file as a bomb: to learn its size for the
    message, and to decode it when the caller's limit is higher than Pillow's.
    """
    Image.init()
    prefix = fp.getvalue()[:16]
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        if accept is not None and accept(prefix) is not True:
            continue
        try:
            fp.seek(0)
            return factory(fp, "")
        except Exception:  # noqa: BLE001 - try the next plugin, as Image.open does
            continue
    return None


def _bomb_error(source_id: str, size: tuple[int, int], limit: int) -> SampleError:
    w, h = size
    return SampleError(
        source_id,
        f"image of {w}×{h} = {w * h:,} pixels exceeds the limit of {limit:,} pixels "
        "(possible decompression bomb; raise max_pixels to accept it)",
    )


def _open(data: ImageData, *, source_id: str, max_pixels: int | None, what: str, name: str | None = None
          ) -> Image.Image:
    """Open the file lazily and check its size from the header; no pixel is decoded yet."""
    fp = io.BytesIO(_read_bytes(data, source_id, what, name, max_pixels))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(fp)
        except Image.DecompressionBombError as exc:
            im = _open_unchecked(fp)
            if im is None:
                raise SampleError(source_id, f"{what} exceeds Pillow's decompression-bomb limit: {_stable(exc)}") from None
            if max_pixels is None or im.size[0] * im.size[1] <= max_pixels:
                return im  # the caller accepts it: decode it anyway
            raise _bomb_error(source_id, im.size, max_pixels) from None
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types for bad files
            raise SampleError(source_id, f"could not decode {what} ({_describe(data, name)}): {_stable(exc)}") from None
    if max_pixels is not None and im.size[0] * im.size[1] > max_pixels:
        raise _bomb_error(source_id, im.size, max_pixels)
    return im


def _load(im: Image.Image, *, source_id: str, what: str, data: ImageData, name: str | None = None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im.load()
        except Image.DecompressionBombError as exc:
            raise SampleError(source_id, f"{what} exceeds Pillow's decompression-bomb limit: {_stable(exc)}") from None
        except Exception as exc:  # noqa: BLE001 - truncated/corrupt data raise OSError, SyntaxError, ...
            raise SampleError(source_id, f"could not decode {what} ({_describe(data, name)}): {_stable(exc)}") from None


def _orientation(im: Image.Image) -> int:
    try:
        value = int(im.getexif().get(EXIF_ORIENTATION_TAG, 1))
    except Exception:  # noqa: BLE001 - a broken EXIF block does not make the pixels unusable
        return 1
    return value if 1 <= value <= 8 else 1


# --------------------------------------------------------------------------- orientation


def apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF ``orientation`` (1–8) to an ``HxW`` or ``HxWxC`` array.

    Gives the same pixels as ``PIL.ImageOps.exif_transpose`` for every orientation;
    values outside 1–8 are left as is, as Pillow does. Returns a contiguous copy.
    """
    if orientation == 2:
        out = array[:, ::-1]
    elif orientation == 3:
        out = array[::-1, ::-1]
    elif orientation == 4:
        out = array[::-1]
    elif orientation == 5:
        out = np.swapaxes(array, 0, 1)
    elif orientation == 6:
        out = np.rot90(array, -1)
    elif orientation == 7:
        out = np.swapaxes(array[::-1, ::-1], 0, 1)
    elif orientation == 8:
        out = np.rot90(array, 1)
    else:
        out = array
    return np.ascontiguousarray(out)


def _size(shape: tuple[int, ...]) -> str:
    return f"{shape[0]}×{shape[1]}"


def align_mask(
    mask: np.ndarray,
    image: DecodedImage,
    *,
    source_id: str,
    orientation: MaskOrientation = "auto",
) -> np.ndarray:
    """Bring a standardised mask into the displayed orientation of ``image``.

    See the module docstring for the ``"auto"`` rule. Raises :class:`SampleError`
    when the mask fits neither the displayed nor the stored image size.
    """
    if orientation not in ("auto", "stored", "displayed"):
        raise ValueError(f"orientation must be 'auto', 'stored' or 'displayed', got {orientation!r}")
    displayed, stored = image.shape, image.stored_shape
    if orientation == "auto":
        orientation = "displayed" if mask.shape == displayed else "stored"
    if orientation == "displayed" and mask.shape == displayed:
        return mask
    if orientation == "stored" and mask.shape == stored:
        return apply_orientation(mask, image.orientation)
    message = f"mask {_size(mask.shape)} does not match image {_size(displayed)}"
    if image.orientation != 1 and stored != displayed:
        message += f" (nor its stored size {_size(stored)} before EXIF orientation {image.orientation})"
    raise SampleError(source_id, message)


# --------------------------------------------------------------------------- images


def _to_rgb(im: Image.Image, *, source_id: str) -> np.ndarray:
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        wide = np.clip(np.asarray(im).astype(np.int64), 0, _UINT16_MAX)
        grey = (wide >> 8).astype(np.uint8)
    elif mode == "F":
        values = np.nan_to_num(np.asarray(im, dtype=np.float64))
        scale = 255.0 if values.size and values.max() <= 1.0 else 1.0
        grey = np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)
    else:
        try:
            rgb = im.convert("RGB")
        except Exception as exc:  # noqa: BLE001
            raise SampleError(source_id, f"could not convert image of mode {mode} to RGB: {_stable(exc)}") from None
        return np.asarray(rgb, dtype=np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def read_image(
    data: ImageData, *, source_id: str, max_pixels: int | None = MAX_IMAGE_PIXELS, name: str | None = None
) -> DecodedImage:
    """Decode an image file (bytes or path) to RGB in its displayed orientation.

    Raises :class:`SampleError` for a missing, corrupt, truncated or oversized file.
    ``name``: how messages name the file (default: its base name, or its size for bytes).
    """
    im = _open(data, source_id=source_id, max_pixels=max_pixels, what="image", name=name)
    _load(im, source_id=source_id, what="image", data=data, name=name)
    orientation = _orientation(im)
    pixels = _to_rgb(im, source_id=source_id)
    return DecodedImage(apply_orientation(pixels, orientation), orientation)


def decode_image(data: ImageData, *, source_id: str, max_pixels: int | None = MAX_IMAGE_PIXELS,
                 name: str | None = None) -> np.ndarray:
    """Decode an image to ``HxWx3 uint8`` RGB, EXIF orientation applied (see :func:`read_image`)."""
    return read_image(data, source_id=source_id, max_pixels=max_pixels, name=name).pixels


# --------------------------------------------------------------------------- masks


def standardize_mask(array: np.ndarray, *, source_id: str) -> np.ndarray:
    """Turn any mask array into ``HxW bool``: any non-zero colour value is object.

    Accepts ``HxW`` arrays of any numeric or bool dtype, and ``HxWxC`` arrays with
    C = 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA); the alpha channel of
    C = 2 and C = 4 is ignored. This is the only function that decides what a mask
    pixel means.
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"mask must be a numpy array, got {type(array).__name__} (source {source_id})")
    if not (array.dtype == bool or np.issubdtype(array.dtype, np.number)):
        raise TypeError(f"mask must have a numeric or bool dtype, got {array.dtype} (source {source_id})")
    if array.ndim == 3:
        channels = array.shape[2]
        if channels not in (1, 2, 3, 4):
            raise SampleError(
                source_id, f"mask with {channels} channels; expected 1 (grey), 2 (LA), 3 (RGB) or 4 (RGBA)"
            )
        colour = array[..., :1] if channels <= 2 else array[..., :3]
        array = (colour != 0).any(axis=2)
    elif array.ndim != 2:
        raise SampleError(source_id, f"mask of shape {array.shape}; expected HxW or HxWxC")
    if array.dtype.kind == "f" and np.isnan(array).any():
        raise SampleError(source_id, "mask contains NaN values")
    return np.ascontiguousarray(array != 0)


def decode_mask(data: ImageData, *, source_id: str, max_pixels: int | None = MAX_IMAGE_PIXELS,
                name: str | None = None) -> np.ndarray:
    """Decode a mask file to ``HxW bool`` (see :func:`standardize_mask`).

    The mask file's own EXIF orientation, if any, is applied; use
    :func:`align_mask` to bring it onto a rotated image.
    """
    im = _open(data, source_id=source_id, max_pixels=max_pixels, what="mask", name=name)
    _load(im, source_id=source_id, what="mask", data=data, name=name)
    if im.mode not in _MASK_MODES and not im.mode.startswith("I;16"):
        raise SampleError(
            source_id,
            f"mask of mode {im.mode} is not supported; save masks as 1-bit, greyscale, palette or RGB PNG",
        )
    mask = standardize_mask(np.asarray(im), source_id=source_id)
    return apply_orientation(mask, _orientation(im))
