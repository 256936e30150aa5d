"""Exact invariants and hand-computed fixtures for the pure scenario functions."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest
import skimage.data

from ximagenet12.scenarios import functional as F
from ximagenet12.scenarios.registry import SCENARIOS, resolve


def _square(h=40, w=50, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), bool)
    mask[10:30, 15:35] = True
    return image, mask


def _opencv_hue(rgb: np.ndarray) -> np.ndarray:
    """Oracle: colorsys hue in OpenCV's 8-bit units (degrees / 2)."""
    return np.array([colorsys.rgb_to_hsv(*(p / 255.0))[0] * 180.0 for p in rgb.reshape(-1, 3)])


def test_blur_sigma_zero_is_identity():
    image, mask = _square()
    np.testing.assert_array_equal(F.blur_background(image, mask, ksize=15, sigma=0).image, image)
    np.testing.assert_array_equal(F.blur_object(image, mask, ksize=15, sigma=0).image, image)


def test_blur_background_changes_background_only():
    image, mask = _square()
    out = F.blur_background(image, mask, ksize=15, sigma=3).image
    np.testing.assert_array_equal(out[mask], image[mask])
    assert np.abs(out[~mask].astype(int) - image[~mask]).mean() > 10  # noise is smoothed away


def test_even_kernel_is_refused():
    image, mask = _square()
    with pytest.raises(ValueError, match="ksize must be odd"):
        F.blur_background(image, mask, ksize=4, sigma=1)


def test_grey_background_has_equal_channels():
    image, mask = _square()
    out = F.image_grey(image, mask).image
    bg = out[~mask]
    assert (bg[:, 0] == bg[:, 1]).all() and (bg[:, 1] == bg[:, 2]).all()
    np.testing.assert_array_equal(out[mask], image[mask])


def test_grey_uses_luma_weights():
    image = np.full((2, 2, 3), (200, 100, 50), np.uint8)
    out = F.image_grey(image, np.zeros((2, 2), bool)).image
    expected = round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)  # ITU-R BT.601, as OpenCV
    assert abs(int(out[0, 0, 0]) - expected) <= 1


def test_hue_matches_colorsys_oracle():
    # saturated colours so the hue is well defined after 8-bit rounding
    image = np.array([[[200, 40, 40], [40, 200, 60], [30, 60, 220], [180, 180, 30]]], np.uint8)
    mask = np.zeros((1, 4), bool)
    result = F.image_hue(image, mask, hue_ranges=((90, 149),), rng=np.random.default_rng(3))
    hue = result.drawn["hue"]
    assert 90 <= hue <= 149
    got = _opencv_hue(result.image)
    assert np.all(np.abs(got - hue) <= 2.0)
    # saturation and value are kept (to 8-bit rounding)
    for before, after in zip(image.reshape(-1, 3), result.image.reshape(-1, 3)):
        _, s0, v0 = colorsys.rgb_to_hsv(*(before / 255.0))
        _, s1, v1 = colorsys.rgb_to_hsv(*(after / 255.0))
        assert abs(v0 - v1) <= 2 / 255 and abs(s0 - s1) <= 0.03


@pytest.mark.parametrize("name,lo,hi", [("image_r", None, None), ("image_g", 30, 89), ("image_b", 90, 149)])
def test_hue_draws_stay_in_their_ranges(name, lo, hi):
    params = SCENARIOS[name].parameters()
    image, mask = _square()
    hues = [
        F.image_hue(image, mask, hue_ranges=params["hue_ranges"], rng=np.random.default_rng(s)).drawn["hue"]
        for s in range(200)
    ]
    if name == "image_r":
        assert all(h <= 29 or h >= 150 for h in hues) and min(hues) < 30 and max(hues) >= 150
    else:
        assert all(lo <= h <= hi for h in hues)


def test_rainbow_wraps_at_180_without_overflow():
    # hue 170 (OpenCV units): a shift of up to 90 must wrap to 0..79, never overflow uint8
    rgb = np.array(colorsys.hsv_to_rgb(170 / 180, 1.0, 1.0)) * 255
    image = np.tile(np.round(rgb).astype(np.uint8), (1, 8, 1))
    mask = np.zeros((1, 8), bool)
    for seed in range(20):
        result = F.image_rainbow(image, mask, max_shift=90, rng=np.random.default_rng(seed))
        expected = (170 + result.drawn["hue_shift"]) % 180
        got = _opencv_hue(result.image)
        distance = np.minimum(np.abs(got - expected), 180 - np.abs(got - expected))
        assert np.all(distance <= 2.0), (result.drawn, got)


def test_brightness_is_the_documented_unsharp_mask():
    image = np.full((20, 20, 3), 100, np.uint8)  # flat: blur == image
    mask = np.zeros((20, 20), bool)
    params = SCENARIOS["brightness_background"].parameters()
    out = F.brightness_background(image, mask, **params).image
    expected = 100 * (params["alpha"] + params["beta"]) + params["gamma"]
    assert np.all(out == round(expected))


def test_brightness_does_not_saturate_a_real_photo():
    photo = skimage.data.coffee()
    mask = np.zeros(photo.shape[:2], bool)
    out = F.brightness_background(photo, mask, **SCENARIOS["brightness_background"].parameters()).image
    saturated = np.mean(out == 255) - np.mean(photo == 255)
    assert saturated < 0.10


def test_transparent_alpha_is_mask_and_background_rgb_zero():
    image, mask = _square()
    out = F.transparent_image(image, mask).image
    np.testing.assert_array_equal(out[..., 3], np.where(mask, 255, 0))
    assert (out[~mask][:, :3] == 0).all()
    np.testing.assert_array_equal(out[mask][:, :3], image[mask])


def test_segmented_is_opaque_black_background():
    image, mask = _square()
    out = F.segmented_image(image, mask).image
    assert (out[..., 3] == 255).all() and (out[~mask][:, :3] == 0).all()


def test_only_fg_and_no_fg_are_complementary():
    image, mask = _square()
    fg = F.only_fg(image, mask).image
    bg = F.no_fg(image, mask).image
    np.testing.assert_array_equal(fg.astype(int) + bg, image)


def test_random_background_opaque_keeps_object_and_uses_photo():
    image, mask = _square(48, 64)
    photo = np.zeros((48, 64, 3), np.uint8)
    photo[:, :, 1] = 180  # same size as the frame: scale 1, no crop
    result = F.random_background(image, mask, background=photo, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(result.image[mask], image[mask])
    np.testing.assert_array_equal(result.image[~mask], photo[~mask])
    assert result.drawn["crop"] == [0, 0] and result.drawn["scale"] == 1.0


def test_random_background_covers_without_stretching():
    image, mask = _square(40, 40)
    # a 20x80 photo (aspect 4:1): covering a 40x40 frame scales by 2 and crops the width
    photo = np.repeat(np.arange(80, dtype=np.uint8)[None, :, None], 20, axis=0).repeat(3, axis=2)
    result = F.random_background(image, mask, background=photo, rng=np.random.default_rng(1))
    assert result.drawn["scale"] == 2.0
    y, x = result.drawn["crop"]
    assert y == 0 and 0 <= x <= 160 - 40
    row = result.image[0, :, 0].astype(int)
    # columns advance by half a photo pixel per output pixel: the photo was not squeezed
    assert abs((row[-1] - row[0]) - 39 / 2) <= 2


def test_random_background_translucent_matches_float_blend():
    image, mask = _square(30, 30)
    photo = np.full((30, 30, 3), 200, np.uint8)
    out = F.random_background(image, mask, background=photo, weight=0.25, rng=np.random.default_rng(0)).image
    expected = np.rint(0.25 * image[mask].astype(float) + 0.75 * 200)
    np.testing.assert_array_equal(out[mask], expected.astype(np.uint8))


def test_random_position_moves_object_and_mask_together():
    image, mask = _square(60, 80)
    photo = np.zeros((60, 80, 3), np.uint8)
    for seed in range(10):
        result = F.random_background(
            image, mask, background=photo, position="random", rng=np.random.default_rng(seed)
        )
        dy, dx = result.drawn["shift"]
        assert result.mask.sum() == mask.sum()
        np.testing.assert_array_equal(result.mask, np.roll(mask, (dy, dx), axis=(0, 1)))
        np.testing.assert_array_equal(result.image[result.mask], image[mask])


@pytest.mark.parametrize("bad,match", [({"weight": 0.0}, "weight must be"), ({"position": "top"}, "position must")])
def test_random_background_bad_options(bad, match):
    image, mask = _square()
    with pytest.raises(ValueError, match=match):
        F.random_background(image, mask, background=image, rng=np.random.default_rng(0), **bad)


def test_mixed_background_fills_donor_hole():
    image, mask = _square(40, 50)
    donor = np.full((40, 50, 3), 90, np.uint8)
    donor_mask = np.zeros((40, 50), bool)
    donor_mask[0:10, 0:10] = True
    black = F.mixed_background(image, mask, donor_image=donor, donor_mask=donor_mask, fill="black").image
    assert (black[0:10, 0:10] == 0).all()
    filled = F.mixed_background(image, mask, donor_image=donor, donor_mask=donor_mask).image
    assert np.abs(filled[0:10, 0:10].astype(int) - 90).max() <= 4  # inpainted from the flat surroundings
    np.testing.assert_array_equal(filled[mask], image[mask])


def test_resolve_accepts_names_levels_and_all():
    assert [v.config_name for v in resolve("blur_background@5,image_grey_level2")] == [
        "blur_background_level5",
        "image_grey_level2",
    ]
    assert resolve("blur_background@3")[0].config_name == "blur_background"  # the paper's level
    assert "original" in [v.config_name for v in resolve("all")]
    assert len(resolve("all-levels")) > len(resolve("all"))


@pytest.mark.parametrize(
    "token,match",
    [("blurr", "unknown scenario 'blurr'"), ("original@2", "has no severity level 2"), ("", "no scenario named")],
)
def test_resolve_errors(token, match):
    with pytest.raises(ValueError, match=match):
        resolve(token)


def _saturating_add_oracle(photo: np.ndarray, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Independent oracle of the official Rand_bg: photo + object-on-black in wide ints, clipped at 255."""
    object_on_black = np.where(mask[..., None], image.astype(np.int64), 0)
    return np.minimum(photo.astype(np.int64) + object_on_black, 255).astype(np.uint8)


def test_random_background_additive_is_the_saturating_sum():
    image, mask = _square(48, 64, seed=3)
    photo = np.random.default_rng(9).integers(0, 256, (48, 64, 3), dtype=np.uint8)  # frame size: scale 1, no crop
    result = F.random_background_additive(image, mask, background=photo, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(result.image, _saturating_add_oracle(photo, image, mask))
    np.testing.assert_array_equal(result.image[~mask], photo[~mask])  # outside the object: the photo alone
    assert (result.image[mask] == 255).mean() > 0.3  # random pixels plus a random photo saturate often
    np.testing.assert_array_equal(result.mask, mask)
    assert result.drawn == {"crop": [0, 0], "scale": 1.0}


def test_random_background_additive_draws_the_same_photo_crop_as_random_background():
    image, mask = _square(40, 40, seed=1)
    photo = skimage.data.coffee()  # 400x600: covers 40x40 at scale 0.1 with a drawn horizontal crop
    for seed in range(5):
        paste = F.random_background(image, mask, background=photo, rng=np.random.default_rng(seed))
        added = F.random_background_additive(image, mask, background=photo, rng=np.random.default_rng(seed))
        assert added.drawn["crop"] == paste.drawn["crop"] and added.drawn["scale"] == paste.drawn["scale"]
        np.testing.assert_array_equal(added.image[~mask], paste.image[~mask])  # the same photo around the object
        canvas = F.cover_resize(photo, 40, 40, offset=tuple(paste.drawn["crop"]))[0]
        np.testing.assert_array_equal(added.image, _saturating_add_oracle(canvas, image, mask))


def test_random_background_additive_registered_next_to_the_paste():
    scenario = SCENARIOS["random_background_additive"]
    assert scenario.fn is F.random_background_additive
    assert scenario.needs == "background" and scenario.random and not scenario.keeps_object
    # a reproduction of the release's code, built only when named: `all` keeps the paste
    assert "random_background_additive" not in [v.name for v in resolve("all")]
    assert [v.config_name for v in resolve("random_background_additive")] == ["random_background_additive"]
    names = list(SCENARIOS)
    assert names.index("random_background_additive") == names.index("random_background") + 1
