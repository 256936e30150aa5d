"""Reading configs: scenario selection, alpha flattening, decode failures, prefetching."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ximagenet12.evaluation import data as D


def test_all_scenarios_come_from_the_card_with_original_first(tmp_path, ev):
    root = ev.make_folder(tmp_path / "f", {"blur_background": 3, "original": 3, "image_grey": 3})
    assert D.resolve_scenarios(root, "all") == ["original", "blur_background", "image_grey"]
    assert D.resolve_scenarios(root, "image_grey,original") == ["original", "image_grey"]


def test_missing_scenario_lists_what_exists(folder):
    with pytest.raises(ValueError, match=r"scenario 'image_r' is not in the data .*available configs: original, blur_background"):
        D.resolve_scenarios(folder, "original,image_r")


def test_registry_level_tokens_resolve_to_config_names(tmp_path, ev):
    root = ev.make_folder(tmp_path / "f", {"original": 3, "blur_background_level5": 3})
    assert D.resolve_scenarios(root, "blur_background@5") == ["blur_background_level5"]


def test_folder_without_card_is_a_clear_error(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(FileNotFoundError, match="has no README.md"):
        D.available_configs(tmp_path / "x")


def test_missing_data_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        D.available_configs(str(tmp_path / "nope"))


def test_class_names_and_keys(folder):
    names, keys = D.class_info(folder, "original")
    assert names == ["alligator lizard", "green lizard", "crayfish"]
    assert keys == ["n01689811", "n01693334", "n01985128"]


def test_alpha_is_composited_on_black_matching_an_independent_oracle():
    from skimage.color import rgba2rgb

    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, size=(9, 7, 4), dtype=np.uint8)
    rgba[0, 0, 3] = 0
    rgba[0, 1, 3] = 255
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    out = np.asarray(D.decode_rgb({"bytes": buf.getvalue(), "path": None}))
    oracle = np.round(rgba2rgb(rgba, background=(0, 0, 0)) * 255).astype(int)
    assert out.dtype == np.uint8 and out.shape == (9, 7, 3)
    assert np.abs(out.astype(int) - oracle).max() <= 1
    assert (out[0, 0] == 0).all()  # fully transparent -> black
    assert (out[0, 1] == rgba[0, 1, :3]).all()  # opaque -> unchanged


def test_transparent_and_segmented_images_feed_the_same_pixels():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    mask = np.zeros((6, 6), dtype=np.uint8)
    mask[1:4, 2:5] = 255
    obj = rgb * (mask[..., None] > 0)
    images = []
    for alpha in (np.full_like(mask, 255), mask):  # segmented, transparent
        buf = io.BytesIO()
        Image.fromarray(np.dstack([obj, alpha]), "RGBA").save(buf, format="PNG")
        images.append(np.asarray(D.decode_rgb({"bytes": buf.getvalue()})))
    assert (images[0] == images[1]).all()


def test_undecodable_image_is_a_decode_error_naming_the_sample():
    with pytest.raises(D.DecodeError, match="image of sample 'n1_3' failed to decode: not a recognised image"):
        D.decode_rgb({"bytes": b"garbage", "path": None}, source_id="n1_3")
    with pytest.raises(D.DecodeError, match="has no bytes"):
        D.decode_rgb({"bytes": None, "path": None}, source_id="n1_4")


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_prefetch_keeps_order_and_returns_decode_errors_in_place(workers):
    def fn(x):
        if x == 4:
            raise D.DecodeError("bad 4")
        return x * 10

    batches = list(D.prefetch_batches(range(10), fn, batch_size=3, num_workers=workers))
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    flat = [r for b in batches for r in b]
    assert [row for row, _ in flat] == list(range(10))
    assert isinstance(flat[4][1], D.DecodeError)
    assert [v for _, v in flat if not isinstance(v, D.DecodeError)] == [x * 10 for x in range(10) if x != 4]


def test_prefetch_rejects_bad_sizes():
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        list(D.prefetch_batches([1], lambda x: x, batch_size=0, num_workers=1))


def test_the_fingerprint_follows_the_data(tmp_path, ev):
    a = ev.make_folder(tmp_path / "a", {"original": 3})
    b = ev.make_folder(tmp_path / "b", {"original": 3})
    assert D.dataset_fingerprint(a) == D.dataset_fingerprint(b)  # same files, same sizes
    ev.write_config(b, "original", rows=4)
    assert D.dataset_fingerprint(a) != D.dataset_fingerprint(b)
    (a / "build_info.json").write_text('{"fingerprint": {"seed": 0, "sources": "x"}}')
    assert D.dataset_fingerprint(a)["kind"] == "build_info"


def test_a_hub_dataset_is_identified_by_its_revision_or_says_why_not():
    fp = D.dataset_fingerprint("nobody-xyz/no-such-dataset")  # offline in the tests
    assert fp["kind"] == "hub_revision" and fp["value"] is None and fp["error"]


@pytest.mark.parametrize("data_files", [
    "data/original/*.parquet",
    ["data/original/*.parquet"],
    [{"split": "train", "path": "data/original/train-*"}],
    [{"split": "train", "path": ["data/original/train-*"]}, {"split": "test", "path": "data/other/*"}],
])
def test_every_card_form_of_data_files_finds_the_shards(data_files, tmp_path, ev):
    import yaml

    root = ev.make_folder(tmp_path / "f", {"original": 3})
    entry = {"config_name": "original", "data_files": data_files}
    (root / "README.md").write_text("---\n" + yaml.safe_dump({"configs": [entry]}) + "---\n", encoding="utf-8")
    assert [p.name for p in D.config_files(root, "original")] == ["train-00000-of-00001.parquet"]
