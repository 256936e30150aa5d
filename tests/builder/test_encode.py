"""Encoding: JPEG 4:4:4 for RGB, lossless PNG for RGBA and 0/255 single-channel masks."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ximagenet12.builder.encode import encode_image, encode_jpeg, encode_mask, encode_png


def _photo(h=24, w=32, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


def test_jpeg_keeps_channel_order_and_uses_444():
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 200
    with Image.open(io.BytesIO(encode_jpeg(red))) as im:
        assert im.format == "JPEG" and im.mode == "RGB"
        assert im.layer[0][1:3] == (1, 1)  # luma sampled like chroma: 4:4:4
        r, g, b = np.asarray(im)[8, 8]
        assert r > 190 and g < 10 and b < 10


def test_png_is_lossless_for_rgb_rgba_and_grey():
    for c in (3, 4):
        image = _photo(c=c)
        with Image.open(io.BytesIO(encode_png(image))) as im:
            assert im.mode == ("RGB" if c == 3 else "RGBA")
            assert np.array_equal(np.asarray(im), image)
    grey = _photo()[..., 0]
    with Image.open(io.BytesIO(encode_png(grey))) as im:
        assert np.array_equal(np.asarray(im), grey)


def test_mask_is_single_channel_0_255():
    mask = np.zeros((5, 7), bool)
    mask[1:3, 2:5] = True
    with Image.open(io.BytesIO(encode_mask(mask))) as im:
        assert im.mode == "L"
        assert np.array_equal(np.asarray(im), mask.astype(np.uint8) * 255)


def test_encode_image_by_mode():
    assert encode_image(_photo(), "RGB")[:2] == b"\xff\xd8"
    assert encode_image(_photo(c=4), "RGBA")[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: encode_jpeg(_photo(c=4)), ValueError, r"an RGB image must be .* got shape \(24, 32, 4\)"),
        (lambda: encode_jpeg(_photo().astype(np.float32)), TypeError, "an RGB image must be uint8, got float32"),
        (lambda: encode_jpeg([[1]]), TypeError, "must be a numpy array, got list"),
        (lambda: encode_image(_photo(), "RGBA"), ValueError, "an RGBA image must be"),
        (lambda: encode_image(_photo(), "CMYK"), ValueError, "mode must be 'RGB' or 'RGBA', got 'CMYK'"),
        (lambda: encode_mask(np.zeros((2, 2, 3), bool)), ValueError, r"a mask must be an HxW array, got \(2, 2, 3\)"),
    ],
)
def test_encode_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
