"""The scenarios' caches: a per-sample memo bound to one image, a run-wide cache bounded in bytes."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from ximagenet12.scenarios import functional as F
from ximagenet12.scenarios.memo import ArrayCache, SampleMemo, memoised


def _image(seed: int = 0, shape=(24, 32, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _mask(shape=(24, 32)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[6:18, 8:24] = True
    return mask


def test_a_memo_computes_each_intermediate_once_and_hands_it_out_read_only():
    image, calls = _image(), []
    memo = SampleMemo(image)

    def compute():
        calls.append(1)
        return image + 1

    first = memoised(memo, image, "plus one", compute)
    assert memoised(memo, image, "plus one", compute) is first and len(calls) == 1
    with pytest.raises(ValueError, match="read-only"):
        first[0, 0, 0] = 0


def test_a_memo_of_another_image_is_ignored():
    image, other = _image(0), _image(1)
    memo = SampleMemo(other)
    memoised(memo, other, ("blur", 15, 3.0), lambda: other)
    blurred = memoised(memo, image, ("blur", 15, 3.0), lambda: F._gaussian_blur(image, 15, 3.0))
    assert np.array_equal(blurred, F._gaussian_blur(image, 15, 3.0))


@pytest.mark.parametrize(
    "name",
    ["blur_background", "blur_object", "brightness_background", "brightness_object", "segmented_image",
     "transparent_image", "only_fg"],
)
def test_scenarios_sharing_a_memo_give_the_bytes_they_give_alone(name):
    from ximagenet12.scenarios.registry import get_scenario

    image, mask = _image(), _mask()
    memo = SampleMemo(image)
    scenarios = ["blur_background", "blur_object", "brightness_background", "brightness_object",
                 "segmented_image", "transparent_image", "only_fg"]
    for other in scenarios:  # fill the memo the way a build does, every neighbour first
        sc = get_scenario(other)
        sc.fn(image, mask, **sc.parameters(), memo=memo)
    sc = get_scenario(name)
    shared = sc.fn(image, mask, **sc.parameters(), memo=memo).image
    alone = sc.fn(image, mask, **sc.parameters()).image
    assert shared.tobytes() == alone.tobytes() and shared.flags.writeable


@pytest.mark.parametrize("hue_ranges", [((0, 29), (150, 179)), ((30, 89),), ((90, 149),)])
def test_hue_scenarios_with_a_memo_match_an_independent_hsv_oracle(hue_ranges):
    import cv2

    image, mask = _image(), _mask()
    memo = SampleMemo(image)
    F.image_rainbow(image, mask, max_shift=90, rng=np.random.default_rng(0), memo=memo)
    out = F.image_hue(image, mask, hue_ranges=hue_ranges, rng=np.random.default_rng(5), memo=memo)
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = out.drawn["hue"]
    want = np.where(mask[..., None], image, cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))
    assert np.array_equal(out.image, want)


def test_rainbow_wraps_the_hue_as_an_int16_sum_would():
    import cv2

    image, mask = _image(3), _mask()
    out = F.image_rainbow(image, mask, max_shift=90, rng=np.random.default_rng(2), memo=SampleMemo(image))
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + out.drawn["hue_shift"]) % 180).astype(np.uint8)
    assert np.array_equal(out.image, np.where(mask[..., None], image, cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)))


def test_the_cache_evicts_the_least_recently_used_entries_to_stay_within_its_bytes():
    cache = ArrayCache(max_bytes=3 * 100)
    for key in "abc":
        cache.get(key, lambda: np.zeros(100, np.uint8))
    cache.get("a", lambda: pytest.fail("a is cached"))  # a becomes the most recent
    cache.get("d", lambda: np.zeros(100, np.uint8))  # evicts b, the least recent
    assert len(cache) == 3 and cache.bytes == 300
    fresh = []
    cache.get("b", lambda: fresh.append(1) or np.zeros(100, np.uint8))
    assert fresh == [1] and (cache.hits, cache.misses) == (1, 5)


def test_a_value_larger_than_the_cache_is_returned_but_not_kept():
    cache = ArrayCache(max_bytes=10)
    value = cache.get("big", lambda: np.zeros(11, np.uint8))
    assert value.shape == (11,) and len(cache) == 0 and cache.bytes == 0


def test_the_anchor_is_part_of_the_key_and_kept_alive():
    cache = ArrayCache()
    photo_a, photo_b = _image(0), _image(1)
    a = F.cover_resize(photo_a, 12, 16, cache=cache)[0]
    b = F.cover_resize(photo_b, 12, 16, cache=cache)[0]
    assert not np.array_equal(a, b) and len(cache) == 2
    assert np.array_equal(F.cover_resize(photo_a, 12, 16, cache=cache)[0], F.cover_resize(photo_a, 12, 16)[0])
    assert cache.hits == 1


def test_a_pickled_cache_starts_empty_with_its_bound():
    cache = ArrayCache(max_bytes=1000)
    cache.get("a", lambda: np.zeros(10, np.uint8))
    copy = pickle.loads(pickle.dumps(cache))
    assert (copy.max_bytes, len(copy), copy.bytes) == (1000, 0, 0)


def test_a_negative_bound_is_refused():
    with pytest.raises(ValueError, match=r"max_bytes must be a non-negative integer, got -1"):
        ArrayCache(max_bytes=-1)


def test_random_background_with_the_cache_gives_the_same_bytes_and_draws():
    image, mask, photo = _image(), _mask(), _image(9, (50, 40, 3))
    cache = ArrayCache()
    for position in ("original", "random"):
        for weight in (1.0, 0.4):
            kwargs = dict(background=photo, weight=weight, position=position)
            want = F.random_background(image, mask, rng=np.random.default_rng(4), **kwargs)
            got = F.random_background(image, mask, rng=np.random.default_rng(4), cache=cache, **kwargs)
            assert got.image.tobytes() == want.image.tobytes() and got.drawn == want.drawn
            assert np.array_equal(got.mask, want.mask)


def test_mixed_background_takes_a_ready_donor_background():
    image, mask, donor = _image(0), _mask(), _image(1)
    background = F.donor_background(donor, _mask()[::-1], 24, 32, fill="inpaint")
    want = F.mixed_background(image, mask, donor_image=donor, donor_mask=_mask()[::-1])
    assert F.mixed_background(image, mask, background=background).image.tobytes() == want.image.tobytes()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, r"mixed_background needs donor_image and donor_mask, or their background"),
        ({"background": np.zeros((5, 5, 3), np.uint8)}, r"background \(5, 5, 3\) does not match image \(24, 32, 3\)"),
        ({"background": np.zeros((24, 32, 3), np.uint8), "fill": "blur"}, r"fill must be 'inpaint' or 'black', got 'blur'"),
    ],
)
def test_mixed_background_refuses_missing_or_mismatched_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        F.mixed_background(_image(), _mask(), **kwargs)
