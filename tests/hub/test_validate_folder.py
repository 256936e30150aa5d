"""validate_folder: everything the Hub would refuse is reported, all at once."""

from __future__ import annotations

import pytest

from ximagenet12.hub.validate import (
    HUB_SIZE_CATEGORIES,
    Problem,
    format_problems,
    read_card_metadata,
    upload_paths,
    validate_folder,
)

def errors(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems if p.severity == "error"]


def test_built_folder_is_valid(built_folder):
    problems = validate_folder(built_folder)
    assert errors(problems) == []
    assert [p for p in problems if p.severity == "warning"] == []


def test_upload_paths_skip_git_and_cache(built_folder):
    (built_folder / ".cache" / "huggingface").mkdir(parents=True)
    (built_folder / ".cache" / "huggingface" / "x.lock").write_text("")
    (built_folder / ".git").mkdir()
    (built_folder / ".git" / "HEAD").write_text("ref")
    paths = upload_paths(built_folder)
    assert "README.md" in paths and "build_info.json" in paths
    assert not any(p.startswith((".cache", ".git/")) for p in paths)
    assert "data/original/train-00000-of-00001.parquet" in paths


def test_missing_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        validate_folder(tmp_path / "nope")


def test_missing_card(built_folder):
    (built_folder / "README.md").unlink()
    assert any("README.md: missing" in e for e in errors(validate_folder(built_folder)))


@pytest.mark.parametrize(
    "text, message",
    [
        ("# no metadata\n", "must start with a '---'"),
        ("---\nlicense: mit\n", "not closed"),
        ("---\nlicense: [mit\n---\n", "does not parse"),
        ("---\n- a\n- b\n---\n", "must be a mapping"),
    ],
)
def test_unreadable_card_yaml(built_folder, text, message):
    (built_folder / "README.md").write_text(text)
    with pytest.raises(ValueError, match=message):
        read_card_metadata(built_folder / "README.md")
    assert any(message in e for e in errors(validate_folder(built_folder)))


def test_all_problems_reported_together(built_folder, folders):
    meta = folders.card_metadata({"original": 6, "blur_background": 6})
    meta["license"] = "cc-by-4"  # not a Hub id
    meta["task_categories"] = ["image-classification", "robustness"]
    meta["size_categories"] = ["10K<n<100K"]
    meta["configs"][0].pop("default")
    meta["dataset_info"][1]["splits"][0]["num_examples"] = 7
    folders.write_card(built_folder, meta)
    (built_folder / "ximagenet12.py").write_text("print('hi')\n")
    (built_folder / "data" / "image_grey").mkdir()
    (built_folder / "data" / "image_grey" / "train-00000-of-00001.parquet").write_bytes(
        (built_folder / "data" / "original" / "train-00000-of-00001.parquet").read_bytes()
    )
    found = errors(validate_folder(built_folder))
    text = "\n".join(found)
    for needle in [
        "'cc-by-4' is not a licence id",
        "'robustness' is not a task category",
        "'10K<n<100K' does not hold the row count",
        "exactly one config must have `default: true`, found 0",
        "declares num_examples=7 but its parquet files hold 6 rows",
        "ximagenet12.py: code or binary file",
        "data/image_grey/: folder has no entry",
    ]:
        assert needle in text, f"{needle!r} not in:\n{text}"
    assert len(found) == 7


def test_original_must_be_the_default(built_folder, folders):
    meta = folders.card_metadata({"original": 6, "blur_background": 6}, default="blur_background")
    folders.write_card(built_folder, meta)
    assert any("default config must be 'original', not 'blur_background'" in e for e in errors(validate_folder(built_folder)))


def test_config_without_files_and_bad_globs(built_folder, folders):
    meta = folders.card_metadata({"original": 6, "blur_background": 6})
    meta["configs"].append({"config_name": "image_grey", "data_files": "data/image_grey/*.parquet"})
    meta["configs"][1]["data_files"] = [{"split": "train", "path": "data/*/train-*"}]
    meta["configs"].append({"config_name": "broken", "data_files": 3})
    folders.write_card(built_folder, meta)
    text = "\n".join(errors(validate_folder(built_folder)))
    assert "configs[image_grey]: data_files pattern 'data/image_grey/*.parquet' (split train) matches no file" in text
    assert "outside this config's folder data/blur_background/" in text
    assert "configs[broken]: `data_files` must be a glob" in text


def test_missing_configs_and_duplicate_names(built_folder, folders):
    meta = folders.card_metadata({"original": 6, "blur_background": 6})
    meta["configs"] = []
    folders.write_card(built_folder, meta)
    text = "\n".join(errors(validate_folder(built_folder)))
    assert "configs: missing or empty" in text
    meta = folders.card_metadata({"original": 6, "blur_background": 6})
    meta["configs"].append(dict(meta["configs"][1]))
    folders.write_card(built_folder, meta)
    assert any("config_name appears twice" in e for e in errors(validate_folder(built_folder)))


def test_dataset_info_features_must_match_columns(built_folder, folders):
    meta = folders.card_metadata({"original": 6, "blur_background": 6})
    meta["dataset_info"][0]["features"] = meta["dataset_info"][0]["features"][:-1]
    meta["dataset_info"].append({"config_name": "nope", "features": [], "splits": []})
    folders.write_card(built_folder, meta)
    text = "\n".join(errors(validate_folder(built_folder)))
    assert "dataset_info[original]: features" in text and "differ from the parquet columns" in text
    assert "config_name 'nope' is not one of the card's configs" in text


def test_size_category_accepts_largest_config_or_total(tmp_path, folders):
    folder = folders.make_folder(tmp_path / "f", {"original": 6, "blur_background": 6})
    assert errors(validate_folder(folder)) == []
    meta = folders.card_metadata({"original": 6, "blur_background": 6})
    meta["size_categories"] = ["tiny"]
    folders.write_card(folder, meta)
    assert any("'tiny' is not one of" in e for e in errors(validate_folder(folder)))
    assert set(HUB_SIZE_CATEGORIES) >= {"n<1K", "100K<n<1M"}


def test_parquet_without_hf_metadata_and_unreadable(built_folder):
    import pyarrow as pa
    import pyarrow.parquet as pq

    target = built_folder / "data" / "original" / "train-00000-of-00001.parquet"
    table = pq.read_table(target).replace_schema_metadata(None)
    pq.write_table(table, target)
    (built_folder / "data" / "blur_background" / "train-00000-of-00001.parquet").write_bytes(b"not parquet")
    text = "\n".join(errors(validate_folder(built_folder)))
    assert "original/train-00000-of-00001.parquet: no Hugging Face feature metadata" in text
    assert "blur_background/train-00000-of-00001.parquet: not a readable parquet file" in text
    assert pa  # imported for the table API


def test_row_group_and_shard_limits(built_folder):
    problems = validate_folder(built_folder, max_row_group_bytes=100, max_row_group_rows=2, max_shard_bytes=1000)
    text = "\n".join(str(p) for p in problems)
    assert "error: data/original/train-00000-of-00001.parquet: row group 0 holds" in text
    assert "the dataset viewer refuses row groups above" in text
    assert "warning: data/original/train-00000-of-00001.parquet: row group 0 holds 4 rows" in text
    assert "shard is" in text and "keep shards at most" in text


def test_too_many_files_per_folder(tmp_path, folders):
    folder = folders.make_folder(tmp_path / "f", {"original": 6, "blur_background": 6}, shards=3)
    meta = folders.card_metadata({"original": 6, "blur_background": 6})
    folders.write_card(folder, meta)
    text = "\n".join(errors(validate_folder(folder, max_files_per_folder=3)))
    assert "data/original/: 3 files in one folder; the Hub accepts fewer than 3" in text


def test_format_problems_puts_errors_first():
    text = format_problems([Problem("warning", "a", "w"), Problem("error", "b", "e")])
    assert text.splitlines() == ["  - error: b: e", "  - warning: a: w"]


def test_dataset_info_split_needs_name_bytes_and_examples(built_folder, folders):
    meta = folders.card_metadata({"original": 6, "blur_background": 6})
    del meta["dataset_info"][0]["splits"][0]["num_bytes"]
    folders.write_card(built_folder, meta)
    text = "\n".join(errors(validate_folder(built_folder)))
    assert "dataset_info[original]: each split needs name, num_bytes, num_examples" in text
