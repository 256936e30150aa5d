"""The boundary contract: TypeError for wrong types, SampleError (a ValueError) naming
the sample for wrong values, and the empty / all-object mask policy."""

from __future__ import annotations

import numpy as np
import pytest

from ximagenet12.core.types import Sample, SampleError
from ximagenet12.core.validation import check_image, check_mask, check_mask_content, check_sample

SID = "n02992211_15171"


def _image(h: int = 4, w: int = 5) -> np.ndarray:
    return np.zeros((h, w, 3), dtype=np.uint8)


def _mask(h: int = 4, w: int = 5) -> np.ndarray:
    mask = np.zeros((h, w), dtype=bool)
    mask[1:3, 1:3] = True
    return mask


def test_sample_error_is_a_value_error_naming_the_sample():
    err = SampleError(SID, "something is wrong")
    assert isinstance(err, ValueError)
    assert str(err) == f"something is wrong (source {SID})"
    assert err.source_id == SID and err.reason == "something is wrong"


def test_valid_image_and_mask_pass():
    check_image(_image(), source_id=SID)
    check_mask(_mask(), image_shape=_image().shape, source_id=SID)
    check_mask_content(_mask(), source_id=SID)


@pytest.mark.parametrize(
    "image",
    [[[0, 0, 0]], np.zeros((4, 5, 3), dtype=np.float32), np.zeros((4, 5, 3), dtype=np.uint16)],
    ids=["list", "float32", "uint16"],
)
def test_image_of_wrong_type_is_a_type_error(image):
    with pytest.raises(TypeError, match=rf"image must be an HxWx3 uint8 numpy array, got .* \(source {SID}\)"):
        check_image(image, source_id=SID)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((4, 5), r"image of shape \(4, 5\); expected HxWx3 \(RGB\)"),
        ((4, 5, 4), r"image of shape \(4, 5, 4\); expected HxWx3 \(RGB\)"),
        ((0, 5, 3), r"image is empty \(0×5\)"),
    ],
)
def test_image_of_wrong_shape_is_a_sample_error(shape, message):
    with pytest.raises(SampleError, match=rf"{message} \(source {SID}\)"):
        check_image(np.zeros(shape, dtype=np.uint8), source_id=SID)


def test_mask_not_bool_is_a_type_error_asking_for_standardisation():
    with pytest.raises(TypeError, match=r"mask must be an HxW bool numpy array \(standardise it first\), got array of dtype uint8"):
        check_mask(_mask().astype(np.uint8) * 255, image_shape=(4, 5, 3), source_id=SID)


def test_mask_size_mismatch_names_both_sizes_and_the_sample():
    with pytest.raises(SampleError, match=rf"^mask 480×641 does not match image 480×640 \(source {SID}\)$"):
        check_mask(np.zeros((480, 641), dtype=bool), image_shape=(480, 640, 3), source_id=SID)


def test_mask_with_channels_is_a_sample_error():
    with pytest.raises(SampleError, match=r"mask of shape \(4, 5, 3\); expected HxW"):
        check_mask(np.zeros((4, 5, 3), dtype=bool), image_shape=(4, 5, 3), source_id=SID)


def test_empty_mask_is_rejected_by_default():
    with pytest.raises(SampleError, match=rf"^mask has no object pixels \(source {SID}\)$"):
        check_mask_content(np.zeros((4, 5), dtype=bool), source_id=SID)


def test_all_object_mask_is_rejected_by_default():
    with pytest.raises(SampleError, match=rf"^mask covers the whole image; no background \(source {SID}\)$"):
        check_mask_content(np.ones((4, 5), dtype=bool), source_id=SID)


def test_empty_and_full_masks_can_be_allowed():
    check_mask_content(np.zeros((4, 5), dtype=bool), source_id=SID, allow_empty=True)
    check_mask_content(np.ones((4, 5), dtype=bool), source_id=SID, allow_full=True)


def test_check_sample_checks_everything_and_returns_the_sample():
    sample = Sample(SID, "n02992211", _image(), _mask())
    assert check_sample(sample) is sample
    with pytest.raises(SampleError, match="mask 4×6 does not match image 4×5"):
        check_sample(Sample(SID, "n02992211", _image(), np.ones((4, 6), dtype=bool)))
    with pytest.raises(SampleError, match="mask has no object pixels"):
        check_sample(Sample(SID, "n02992211", _image(), np.zeros((4, 5), dtype=bool)))
    with pytest.raises(TypeError, match="expected a Sample"):
        check_sample("not a sample")
