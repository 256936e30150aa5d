"""The checks every annotation reader shares: field types, declared sizes, stable names, file scans."""

from __future__ import annotations

import os

import numpy as np
import pytest

from ximagenet12.sources.base import scan_files
from ximagenet12.sources.coco import rle_decode
from ximagenet12.sources.labelme import check_labelme
from ximagenet12.sources.raster import check_declared_size, fill_polygon, positive_int, stable_name
from ximagenet12.core.types import SampleError


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("24", "imageHeight must be a positive integer, got str '24'"),
        (True, "imageHeight must be a positive integer, got bool True"),
        ([24], "imageHeight must be a positive integer, got list \\[24\\]"),
        (23.5, "imageHeight must be a positive integer, got 23.5"),
        (float("nan"), "imageHeight must be a positive integer, got nan"),
        (0, "imageHeight must be a positive integer, got 0"),
        (-3, "imageHeight must be a positive integer, got -3"),
    ],
)
def test_positive_int_refuses_wrong_types_and_values(value, message):
    with pytest.raises(SampleError, match=f"^{message} \\(source s\\)$"):
        positive_int(value, what="imageHeight", source_id="s")


def test_positive_int_accepts_whole_numbers():
    assert positive_int(24, what="h", source_id="s") == 24 and positive_int(24.0, what="h", source_id="s") == 24


def test_declared_size_over_the_limit_is_refused_before_allocation():
    with pytest.raises(SampleError, match=r"the file declares 100000×100000 = 10,000,000,000 pixels, over the limit "
                                          r"of 1,000 \(possible decompression bomb"):
        check_declared_size(100_000, 100_000, what="the file", source_id="s", max_pixels=1000)
    check_declared_size(100_000, 100_000, what="the file", source_id="s", max_pixels=None)  # no limit asked


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "not a LabelMe file \\(no 'shapes' list\\)"),
        ({"shapes": [], "imagePath": 3}, "imagePath must be text, got int"),
        ({"shapes": [], "imageData": ["x"]}, "imageData must be text, got list"),
        ({"shapes": [], "imageWidth": "wide"}, "imageWidth must be a positive integer, got str 'wide'"),
        ({"shapes": [], "imageHeight": 10**5, "imageWidth": 10**5}, "the LabelMe file declares 100000×100000"),
        ({"shapes": [None]}, "shapes\\[0\\] is not an object \\(got NoneType\\)"),
        ({"shapes": [{"label": {"a": 1}}]}, "shapes\\[0\\].label must be text, got dict"),
        ({"shapes": [{"shape_type": ["polygon"]}]}, "shapes\\[0\\].shape_type must be text, got list"),
        ({"shapes": [{"points": {"x": 1}}]}, "shapes\\[0\\].points must be a list, got dict"),
    ],
)
def test_labelme_fields_are_checked(doc, message):
    with pytest.raises(SampleError, match=f"^{message}"):
        check_labelme(doc, source_id="s", max_pixels=10**8)


@pytest.mark.parametrize(
    ("rle", "message"),
    [
        ({"size": [2, 2]}, "RLE must have 'size' \\[height, width\\] and 'counts'"),
        ({"size": ["2", 2], "counts": [4]}, "RLE 'size' must be \\[height, width\\] \\(two non-negative integers\\)"),
        ({"size": [2, 2, 2], "counts": [4]}, "RLE 'size' must be"),
        ({"size": [10**5, 10**5], "counts": [10**10]}, "RLE size 100000×100000 is over the limit"),
        ({"size": [2, 2], "counts": {"a": 4}}, "RLE counts must be a flat list"),
        ({"size": [2, 2], "counts": [2, -1, 3]}, "RLE counts must be a flat list"),
        ({"size": [2, 2], "counts": [1.5, 2.5]}, "RLE counts must be a flat list"),
        ({"size": [2, 2], "counts": "é"}, "compressed RLE string holds non-ASCII characters"),
        ({"size": [2, 2], "counts": [1, 1]}, "RLE counts sum to 2 pixels, but size 2×2 has 4"),
    ],
)
def test_rle_decode_checks_every_field_before_allocating(rle, message):
    with pytest.raises(ValueError, match=message):
        rle_decode(rle, max_pixels=10**8)


def test_fill_polygon_clips_instead_of_overflowing():
    canvas = np.zeros((4, 6), np.uint8)
    fill_polygon(canvas, np.array([[-1e300, -1e300], [1e300, -1e300], [1e300, 1.0], [-1e300, 1.0]]))
    assert canvas[:2].all() and not canvas[2:].any()


def test_stable_name_shows_undecodable_bytes_as_escapes():
    assert stable_name(os.fsdecode(b"caf\xe9.jpg")) == "caf\\xe9.jpg"
    assert stable_name("café.jpg") == "café.jpg"


def test_scan_files_lists_hidden_files_and_names_that_are_not_utf8(tmp_path):
    (tmp_path / "cls").mkdir()
    for name in ("a.jpg", "B.PNG", "notes.txt", ".DS_Store.png"):
        (tmp_path / "cls" / name).write_bytes(b"x")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.png").write_bytes(b"x")
    (tmp_path / "cls" / os.fsdecode(b"bad\xff.jpg")).write_bytes(b"x")
    scan = scan_files(tmp_path)
    assert [p.name for p in scan.files] == ["B.PNG", "a.jpg"]
    assert scan.hidden == [".git/x.png", "cls/.DS_Store.png"]
    assert [(s.source_id, s.reason) for s in scan.bad_names] == [
        ("cls/bad\\xff", "file name 'cls/bad\\\\xff.jpg' is not valid UTF-8; rename the file")]
