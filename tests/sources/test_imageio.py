"""Decoding policies of ximagenet12.io.imageio: mask standardisation, colour modes,
16-bit scaling, EXIF orientation of images and masks, corrupt files and
decompression bombs. Fixtures are written by the tests, tiny and hand-checkable."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from ximagenet12.io.imageio import (
    MAX_IMAGE_PIXELS,
    DecodedImage,
    align_mask,
    apply_orientation,
    decode_image,
    decode_mask,
    read_image,
    standardize_mask,
)
from ximagenet12.core.types import SampleError

SID = "n01689811_1"

#: The reference object: a 2×3 block in a 4×6 frame.
OBJECT = np.zeros((4, 6), dtype=bool)
OBJECT[1:3, 2:5] = True


def _png(im: Image.Image, **save) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", **save)
    return buf.getvalue()


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _palette_mask(object_colour: tuple[int, int, int]) -> Image.Image:
    im = Image.fromarray(OBJECT.astype(np.uint8), mode="L").convert("P")
    im.putpalette([0, 0, 0, *object_colour] + [0] * (256 - 2) * 3)
    return im


def _rgb_red_on_black() -> Image.Image:
    rgb = np.zeros((4, 6, 3), dtype=np.uint8)
    rgb[OBJECT] = (255, 0, 0)
    return Image.fromarray(rgb)


MASK_ENCODINGS = {
    "L 0/1": lambda: Image.fromarray(OBJECT.astype(np.uint8)),
    "L 0/255": lambda: Image.fromarray(OBJECT.astype(np.uint8) * 255),
    "1-bit": lambda: Image.fromarray(OBJECT),
    "RGB red-on-black": _rgb_red_on_black,
    "palette": lambda: _palette_mask((255, 255, 255)),
    # a non-zero index is object even when the palette paints it black
    "palette, object index drawn black": lambda: _palette_mask((0, 0, 0)),
    "16-bit": lambda: Image.fromarray(OBJECT.astype(np.uint16) * 65535),
    "LA, alpha opaque": lambda: Image.fromarray(OBJECT.astype(np.uint8) * 255).convert("LA"),
    "RGBA, alpha ignored": lambda: Image.fromarray(
        np.dstack([np.asarray(_rgb_red_on_black()), np.full((4, 6), 7, np.uint8)])
    ),
}


@pytest.mark.parametrize("encoding", sorted(MASK_ENCODINGS))
def test_every_mask_encoding_standardises_to_the_same_mask(encoding):
    mask = decode_mask(_png(MASK_ENCODINGS[encoding]()), source_id=SID)
    assert mask.dtype == bool and mask.shape == (4, 6)
    np.testing.assert_array_equal(mask, OBJECT)


@pytest.mark.parametrize(
    "array",
    [
        OBJECT.astype(np.uint8),
        OBJECT.astype(np.float32) * 0.5,
        OBJECT.astype(np.int32) * -3,
        OBJECT[..., None].astype(np.uint8),
        np.dstack([OBJECT, np.ones_like(OBJECT)]).astype(np.uint8),  # grey + alpha: alpha ignored
        np.dstack([OBJECT * 0, OBJECT * 0, OBJECT * 9]).astype(np.uint8),  # any channel counts
        np.dstack([OBJECT, OBJECT * 0, OBJECT * 0, np.full((4, 6), 255)]).astype(np.uint8),
    ],
    ids=["uint8", "float", "negative int", "HxWx1", "HxWx2", "blue only", "RGBA"],
)
def test_standardize_mask_arrays(array):
    np.testing.assert_array_equal(standardize_mask(array, source_id=SID), OBJECT)


def test_standardize_mask_rejects_what_it_cannot_read():
    with pytest.raises(TypeError, match=rf"mask must be a numpy array, got list \(source {SID}\)"):
        standardize_mask([[0, 1]], source_id=SID)
    with pytest.raises(SampleError, match=rf"mask with 5 channels; expected 1 \(grey\), 2 \(LA\), 3 \(RGB\) or 4 \(RGBA\) \(source {SID}\)"):
        standardize_mask(np.zeros((4, 6, 5), np.uint8), source_id=SID)
    with pytest.raises(SampleError, match="mask contains NaN values"):
        standardize_mask(np.full((2, 2), np.nan), source_id=SID)


def test_mask_in_an_unsupported_mode_is_a_sample_error():
    buf = io.BytesIO()
    Image.new("CMYK", (6, 4)).save(buf, "TIFF")
    with pytest.raises(SampleError, match=rf"mask of mode CMYK is not supported.*\(source {SID}\)"):
        decode_mask(buf.getvalue(), source_id=SID)


# ------------------------------------------------------------------ image colour modes


def test_greyscale_image_becomes_three_equal_channels():
    grey = np.array([[0, 50], [128, 255]], dtype=np.uint8)
    rgb = decode_image(_png(Image.fromarray(grey)), source_id=SID)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, np.repeat(grey[..., None], 3, axis=2))


def test_cmyk_image_is_converted_to_rgb():
    cmyk = Image.new("CMYK", (2, 1))
    cmyk.putpixel((0, 0), (0, 255, 255, 0))  # magenta + yellow ink, no cyan: pure red
    cmyk.putpixel((1, 0), (0, 0, 0, 255))  # full black
    buf = io.BytesIO()
    cmyk.save(buf, "TIFF")
    rgb = decode_image(buf.getvalue(), source_id=SID)
    np.testing.assert_array_equal(rgb[0], [[255, 0, 0], [0, 0, 0]])


def test_palette_image_uses_its_palette_colours():
    im = Image.fromarray(np.array([[0, 1], [1, 2]], dtype=np.uint8), mode="L").convert("P")
    im.putpalette([0, 0, 0, 10, 200, 30, 255, 255, 0] + [0] * 253 * 3)
    rgb = decode_image(_png(im), source_id=SID)
    np.testing.assert_array_equal(rgb, [[[0, 0, 0], [10, 200, 30]], [[10, 200, 30], [255, 255, 0]]])


def test_16_bit_greyscale_is_scaled_by_a_right_shift_of_8():
    values = np.array([[0, 255, 256], [1000, 32768, 65535]], dtype=np.uint16)
    im = Image.fromarray(values)
    assert Image.open(io.BytesIO(_png(im))).mode == "I;16"
    rgb = decode_image(_png(im), source_id=SID)
    np.testing.assert_array_equal(rgb[..., 0], [[0, 0, 1], [3, 128, 255]])
    assert (rgb == rgb[..., :1]).all()


def test_32_bit_integer_image_is_taken_as_16_bit_and_clipped():
    buf = io.BytesIO()
    Image.fromarray(np.array([[-5, 512, 70000]], dtype=np.int32)).save(buf, "TIFF")
    rgb = decode_image(buf.getvalue(), source_id=SID)
    np.testing.assert_array_equal(rgb[0, :, 0], [0, 2, 255])


def test_16_bit_rgb_png_keeps_the_high_byte():
    import cv2

    bgr16 = np.zeros((1, 2, 3), dtype=np.uint16)
    bgr16[0, 0] = (0, 0, 0xABCD)  # red in BGR order
    bgr16[0, 1] = (0x1234, 0x8000, 0)
    ok, encoded = cv2.imencode(".png", bgr16)
    assert ok
    rgb = decode_image(encoded.tobytes(), source_id=SID)
    np.testing.assert_array_equal(rgb[0], [[0xAB, 0, 0], [0, 0x80, 0x12]])


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_dropped_and_colour_kept(mode):
    grey = np.array([[10, 200]], dtype=np.uint8)
    alpha = np.array([[0, 255]], dtype=np.uint8)
    channels = [grey, alpha] if mode == "LA" else [grey, grey, grey, alpha]
    im = Image.fromarray(np.dstack(channels), mode=mode)
    rgb = decode_image(_png(im), source_id=SID)
    np.testing.assert_array_equal(rgb[..., 0], grey)


# ------------------------------------------------------------------ EXIF orientation


@pytest.mark.parametrize("orientation", range(1, 9))
def test_apply_orientation_matches_pillow_exif_transpose(orientation):
    array = np.arange(3 * 5, dtype=np.uint8).reshape(3, 5)
    im = Image.fromarray(array)
    im.getexif()[0x0112] = orientation
    expected = np.asarray(ImageOps.exif_transpose(im))
    np.testing.assert_array_equal(apply_orientation(array, orientation), expected)
    rgb = np.dstack([array, array + 1, array + 2])
    np.testing.assert_array_equal(apply_orientation(rgb, orientation)[..., 0], expected)


def _marked_image(fmt: str = "PNG", orientation: int = 6) -> bytes:
    """A 4×6 stored image, red at OBJECT's pixels, with EXIF orientation."""
    pixels = np.zeros((4, 6, 3), dtype=np.uint8)
    pixels[OBJECT] = (255, 0, 0)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt, exif=_exif(orientation))
    return buf.getvalue()


def test_exif_rotated_image_is_returned_upright():
    decoded = read_image(_marked_image(orientation=6), source_id=SID)
    assert decoded.orientation == 6
    assert decoded.shape == (6, 4) and decoded.stored_shape == (4, 6)
    # orientation 6 = rotate 90° clockwise to display: stored row r, column c → row c, column 3 - r
    red = decoded.pixels[..., 0] == 255
    expected = np.zeros((6, 4), dtype=bool)
    expected[2:5, 1:3] = True
    np.testing.assert_array_equal(red, expected)


def test_mask_in_the_stored_orientation_is_rotated_with_the_image():
    decoded = read_image(_marked_image(orientation=6), source_id=SID)
    mask = align_mask(OBJECT, decoded, source_id=SID)
    np.testing.assert_array_equal(mask, decoded.pixels[..., 0] == 255)


def test_mask_already_in_the_displayed_orientation_is_kept():
    decoded = read_image(_marked_image(orientation=6), source_id=SID)
    upright = decoded.pixels[..., 0] == 255
    np.testing.assert_array_equal(align_mask(upright, decoded, source_id=SID), upright)


def test_mask_fitting_neither_orientation_is_a_size_mismatch():
    decoded = read_image(_marked_image(orientation=6), source_id=SID)
    with pytest.raises(
        SampleError,
        match=rf"^mask 5×5 does not match image 6×4 \(nor its stored size 4×6 before EXIF orientation 6\) \(source {SID}\)$",
    ):
        align_mask(np.ones((5, 5), dtype=bool), decoded, source_id=SID)


def test_same_size_orientation_keeps_the_mask_unless_told_it_is_stored():
    decoded = DecodedImage(np.zeros((4, 6, 3), np.uint8), orientation=3)  # 180°
    np.testing.assert_array_equal(align_mask(OBJECT, decoded, source_id=SID), OBJECT)
    np.testing.assert_array_equal(
        align_mask(OBJECT, decoded, source_id=SID, orientation="stored"), OBJECT[::-1, ::-1]
    )
    with pytest.raises(SampleError, match="mask 4×6 does not match image 6×4"):
        align_mask(OBJECT, DecodedImage(np.zeros((6, 4, 3), np.uint8), 6), source_id=SID, orientation="displayed")


def test_exif_rotated_jpeg_is_returned_upright():
    decoded = read_image(_marked_image("JPEG", orientation=8), source_id=SID)
    assert decoded.shape == (6, 4) and decoded.orientation == 8
    # orientation 8 = rotate 90° counter-clockwise: stored (r, c) → (5 - c, r)
    red = decoded.pixels[..., 0] > 128
    assert red[1:4, 1:3].all() and red.sum() <= 8


def test_mask_file_with_its_own_exif_orientation_is_turned_upright():
    mask_png = _png(Image.fromarray(OBJECT.astype(np.uint8) * 255), exif=_exif(6))
    np.testing.assert_array_equal(decode_mask(mask_png, source_id=SID), np.rot90(OBJECT, -1))


# ------------------------------------------------------------------ broken files


def test_corrupt_image_names_the_sample():
    with pytest.raises(SampleError, match=rf"^could not decode image \(12 bytes\): .* \(source {SID}\)$"):
        decode_image(b"not an image", source_id=SID)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_image_names_the_sample(tmp_path: Path, fmt):
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(SampleError, match=rf"^could not decode image \({path.name}\): .* \(source {SID}\)$"):
        decode_image(path, source_id=SID)


def test_missing_image_file_names_the_path(tmp_path: Path):
    with pytest.raises(SampleError, match=rf"image file not found: .*nope\.png \(source {SID}\)"):
        decode_image(tmp_path / "nope.png", source_id=SID)


def test_corrupt_mask_names_the_sample():
    with pytest.raises(SampleError, match=rf"^could not decode mask .* \(source {SID}\)$"):
        decode_mask(b"\x89PNG garbage", source_id=SID)


# ------------------------------------------------------------------ decompression bombs


def _png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR claiming ``width``×``height`` RGB, with no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_from_its_header():
    with pytest.raises(
        SampleError,
        match=rf"^image of 20000×20000 = 400,000,000 pixels exceeds the limit of 178,956,970 pixels .* \(source {SID}\)$",
    ):
        decode_image(_png_header(20000, 20000), source_id=SID)
    assert MAX_IMAGE_PIXELS == 178_956_970


def test_pixel_limit_is_configurable_and_checked_before_decoding():
    small = _png(Image.new("RGB", (10, 10)))
    with pytest.raises(SampleError, match=r"image of 10×10 = 100 pixels exceeds the limit of 50 pixels"):
        decode_image(small, source_id=SID, max_pixels=50)
    with pytest.raises(SampleError, match=r"image of 10×10 = 100 pixels exceeds the limit of 50 pixels"):
        decode_mask(small, source_id=SID, max_pixels=50)
    assert decode_image(small, source_id=SID, max_pixels=100).shape == (10, 10, 3)


def test_limit_above_pillows_own_lets_the_image_through_to_decoding():
    # Pillow itself refuses 400 M pixels; with a higher limit we go on to decode,
    # which then fails only because this header has no pixel data.
    with pytest.raises(SampleError, match="could not decode image"):
        decode_image(_png_header(20000, 20000), source_id=SID, max_pixels=10**9)


def test_images_under_the_limit_do_not_warn():
    # 100 M pixels: above Pillow's warning threshold, below our limit
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(SampleError, match="could not decode image"):
            decode_image(_png_header(10000, 10000), source_id=SID)
