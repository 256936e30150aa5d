"""ImageNet-C corruptions confined to one region: registry, seeding, compositing, bad input.

The registry-wide invariants (object pixels bit-identical in every ``_background``
variant, background in every ``_object`` variant, same seed => same bytes, different
seed => different draw) are checked for every corruption at every level by
``test_contract.py``, which walks the whole registry.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import skimage.data

from ximagenet12.scenarios import corruptions as C
from ximagenet12.scenarios.engine import RunContext, apply_variant
from ximagenet12.scenarios.registry import SCENARIOS, get_scenario, resolve, with_params
from ximagenet12.core.types import Sample, SampleError


def _sample(h: int = 64, w: int = 80) -> Sample:
    image = np.ascontiguousarray(skimage.data.chelsea()[:h, 100 : 100 + w])
    mask = np.zeros((h, w), bool)
    mask[16:48, 20:60] = True
    return Sample("cat_1", "n02123045", image, mask)


def test_the_19_corruptions_are_the_librarys():
    from imagecorruptions import get_corruption_names

    assert C.CORRUPTIONS == tuple(get_corruption_names("all"))
    assert len(C.CORRUPTIONS) == 19


def test_every_corruption_is_registered_twice_with_a_five_level_ladder():
    for name in C.CORRUPTIONS:
        for where in ("background", "object"):
            sc = get_scenario(f"corrupt_{name}_{where}")
            assert sc.family == "corruption" and sorted(sc.levels) == [1, 2, 3, 4, 5]
            assert [sc.parameters(lv)["severity"] for lv in sc.levels] == [1, 2, 3, 4, 5]
            assert sc.keeps_object == (where == "background") and sc.keeps_background == (where == "object")


def test_groups_and_levels_select_corruptions():
    assert len(resolve("corruptions")) == 19 * 2 * 5
    background = resolve("corruptions-background@2")
    assert len(background) == 19 and all(v.name.endswith("_background") and v.params["severity"] == 2 for v in background)
    assert all(v.name.endswith("_object") for v in resolve("corruptions-object"))
    assert [v.config_name for v in resolve("corrupt_fog_object@5,corrupt_fog_background")] == [
        "corrupt_fog_object_level5", "corrupt_fog_background"]  # fmt: skip


def test_all_and_all_levels_do_not_include_corruptions():
    for token in ("all", "all-levels"):
        assert not [v for v in resolve(token) if v.scenario.family == "corruption"]


@pytest.mark.parametrize("token, match", [
    ("corrupt_sunburn_background", "unknown scenario 'corrupt_sunburn_background'"),
    ("corrupt_fog_background@6", "has no severity level 6"),
    ("corrupt_fog_object@0", "has no severity level 0"),
    ("corruptions@9", "the level after @ must be one of 1, 2, 3, 4, 5"),
])  # fmt: skip
def test_bad_names_and_levels_are_refused(token, match):
    with pytest.raises(ValueError, match=match):
        resolve(token)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"corruption": "sunburn", "severity": 1}, ValueError, "unknown corruption 'sunburn'; known: gaussian_noise"),
    ({"corruption": "fog", "severity": 6}, ValueError, "severity must be an integer 1-5, got 6"),
    ({"corruption": "fog", "severity": 0}, ValueError, "severity must be an integer 1-5, got 0"),
    ({"corruption": "fog", "severity": 2.0}, TypeError, "severity must be an integer 1-5, got float"),
    ({"corruption": 3, "severity": 2}, TypeError, "corruption must be a name"),
])  # fmt: skip
def test_corrupt_image_refuses_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        C.corrupt_image(_sample().image, rng=np.random.default_rng(0), **kwargs)


def test_small_images_are_a_sample_error_the_builder_records():
    sample = _sample(h=20, w=80)
    with pytest.raises(SampleError, match="needs an image of at least 32x32 pixels, got 20x80"):
        C.corrupt_background(sample.image, sample.mask, corruption="fog", severity=1, rng=np.random.default_rng(0))


def test_bad_fill_is_refused():
    s = _sample()
    with pytest.raises(ValueError, match="fill must be one of none, inpaint, got 'blur'"):
        C.corrupt_background(s.image, s.mask, corruption="fog", severity=1, fill="blur", rng=np.random.default_rng(0))


@pytest.mark.parametrize("corruption", ["gaussian_noise", "glass_blur", "impulse_noise", "snow", "frost", "contrast"])
def test_output_is_the_librarys_corruption_seeded_with_the_recorded_seed(corruption):
    """Independent oracle: imagecorruptions itself, seeded by hand with the recorded seed."""
    from imagecorruptions import corrupt

    sample = _sample()
    result = apply_variant(get_scenario(f"corrupt_{corruption}_object").variant(4), sample, RunContext(seed=3))
    seed = result.provenance.get("corruption_seed")
    assert (seed is not None) == (corruption in C.RANDOM_CORRUPTIONS)
    np.random.seed(seed)
    kwargs = {"seed": seed} if corruption in ("glass_blur", "impulse_noise") else {}
    expected = corrupt(sample.image, severity=4, corruption_name=corruption, **kwargs)
    np.testing.assert_array_equal(result.output.image[sample.mask], expected[sample.mask])
    np.testing.assert_array_equal(result.output.image[~sample.mask], sample.image[~sample.mask])
    assert np.abs(expected.astype(int) - sample.image).mean() > 2  # the corruption does change the frame


@pytest.mark.parametrize("corruption", sorted(C.RANDOM_CORRUPTIONS))
def test_global_rng_neither_disturbs_nor_is_disturbed(corruption):
    sample = _sample()
    variant = get_scenario(f"corrupt_{corruption}_background").variant(2)
    np.random.seed(123)
    first = apply_variant(variant, sample, RunContext(seed=0)).output.image
    after = np.random.random()
    np.random.seed(123)
    assert np.random.random() == after  # the global state came back as it was
    np.random.seed(999)  # a different global state before the call
    again = apply_variant(variant, sample, RunContext(seed=0)).output.image
    np.testing.assert_array_equal(first, again)


def test_threads_running_corruptions_at_once_give_the_same_bytes():
    sample = _sample()
    variants = [get_scenario(f"corrupt_{n}_background").variant(3) for n in ("gaussian_noise", "snow", "fog", "spatter")]
    expected = [apply_variant(v, sample, RunContext(seed=1)).output.image for v in variants]
    results: dict[int, list[np.ndarray]] = {}

    def work(k: int) -> None:
        results[k] = [apply_variant(v, sample, RunContext(seed=1)).output.image for v in variants * 3]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for images in results.values():
        for got, want in zip(images, expected * 3):
            np.testing.assert_array_equal(got, want)


def test_inpaint_fill_keeps_object_colours_out_of_a_blurred_background():
    """A bright object on a dark frame: a plain blur smears it outward, the inpainted fill does not."""
    image = np.full((64, 64, 3), 20, np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[24:40, 24:40] = True
    image[mask] = 250
    ring = np.zeros_like(mask)
    ring[20:44, 20:44] = True
    ring &= ~mask
    plain = C.corrupt_background(image, mask, corruption="defocus_blur", severity=5, rng=np.random.default_rng(0)).image
    filled = C.corrupt_background(image, mask, corruption="defocus_blur", severity=5, fill="inpaint",
                                  rng=np.random.default_rng(0)).image
    assert plain[ring].mean() > 60  # the object's white bleeds into the ring around it
    assert filled[ring].mean() < 30
    np.testing.assert_array_equal(filled[mask], image[mask])


def test_corruption_fill_override_reaches_params_and_provenance():
    variant = with_params(resolve("corrupt_fog_background@4"), {"fill": "inpaint"}, family="corruption")[0]
    assert variant.config_name == "corrupt_fog_background_level4" and variant.params["fill"] == "inpaint"
    result = apply_variant(variant, _sample(), RunContext(seed=0))
    assert result.provenance["fill"] == "inpaint" and result.provenance["severity"] == 4
    untouched = with_params(resolve("corrupt_fog_object,mixed_same"), {"fill": "none"}, family="corruption")
    assert [v.scenario for v in untouched] == [SCENARIOS["corrupt_fog_object"], SCENARIOS["mixed_same"]]
    assert untouched[1].params["fill"] == "inpaint"  # mixed_*'s own fill is not the corruption fill


def test_readme_corruption_table_is_the_registry():
    """README's table of corruptions, row by row, as the registry gives it."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Masked ImageNet-C corruptions", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "`corrupt_" in line]
    expected = []
    for name in C.CORRUPTIONS:
        bg, obj = SCENARIOS[f"corrupt_{name}_background"], SCENARIOS[f"corrupt_{name}_object"]
        expected.append(f"| {name} | {C.GROUP_OF[name]} | `{bg.name}` | `{obj.name}` | {'yes' if bg.random else 'no'} |")
    assert rows == expected


def test_a_random_corruption_without_a_generator_is_refused():
    with pytest.raises(ValueError, match="corruption 'fog' draws random values: pass rng"):
        C.corrupt_image(_sample().image, corruption="fog", severity=1)


def test_missing_library_says_which_extra_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "imagecorruptions", None)  # makes the import fail
    with pytest.raises(ValueError, match=r"need the imagecorruptions-imaug package: pip install 'ximagenet12\[corruptions\]'"):
        C.corrupt_image(_sample().image, corruption="contrast", severity=1)


def test_corruption_summary_by_hand():
    accuracy = {
        "original": 0.9,
        "corrupt_fog_background_level1": 0.8, "corrupt_fog_background": 0.6, "corrupt_fog_background_level5": 0.4,
        "corrupt_fog_object_level1": 0.9, "corrupt_fog_object_level5": 0.7,
        "corrupt_snow_object": 0.5, "blur_background": 0.1,
    }  # fmt: skip
    s = C.corruption_summary(accuracy)
    assert s["reference"] == 0.9
    assert s["per_corruption"]["fog"]["background"] == pytest.approx(0.6)  # (0.8 + 0.6 + 0.4) / 3
    assert s["per_corruption"]["fog"]["object"] == pytest.approx(0.8)
    assert s["per_corruption"]["fog"]["gap"] == pytest.approx(-0.2)
    assert s["per_corruption"]["fog"]["levels"]["background"] == {1: 0.8, 3: 0.6, 5: 0.4}
    assert s["per_corruption"]["snow"]["background"] is None and s["per_corruption"]["snow"]["gap"] is None
    assert s["object"] == pytest.approx((0.8 + 0.5) / 2) and s["background_drop"] == pytest.approx(0.3)
    assert s["per_group"]["weather"]["background"] == pytest.approx(0.6) and s["per_group"]["noise"]["object"] is None
    assert not s["complete"] and len(s["missing"]) == 19 * 2 * 5 - 6 and "fog/object@3" in s["missing"]
    assert set(s["per_corruption"]) == {"fog", "snow"}


def test_corruption_summary_refuses_a_config_with_a_bad_level():
    with pytest.raises(ValueError, match="has no severity level 7"):
        C.corruption_summary({"corrupt_fog_object_level7": 0.5})
