"""The dataset card: written as `huggingface_hub` and `datasets` write it, and its code runs.

The oracle for the metadata is independent of the renderer: `datasets` itself prepares
each config from the built parquet files and computes the split sizes, and the card
fields are assembled with `DatasetCardData`, `DatasetInfosDict` and `MetadataConfigs`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ximagenet12.core.constants import ROWS_PER_ROW_GROUP
from ximagenet12.hub.validate import MAX_ROW_GROUP_BYTES, read_card_configs, read_card_metadata, validate_folder

CONFIGS = ["original", "blur_background", "segmented_image", "random_background"]


@pytest.fixture(scope="module")
def card_build(tmp_path_factory):
    from ximagenet12.builder import build_dataset
    from ximagenet12.builder.sample import sample_source

    out = tmp_path_factory.mktemp("card") / "built"
    source = sample_source()
    summary = build_dataset(source, out, scenarios=CONFIGS, progress=False, repo_id="owner/ximagenet12")
    summary.license_name = getattr(source, "license_name", None)  # what the card names for licence 'other'
    return out, summary


def _python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.S | re.M)


def _offline_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_CACHE=str(tmp_path / "cache"), HF_HOME=str(tmp_path / "home"),
               HF_HUB_DISABLE_PROGRESS_BARS="1")
    return env


def test_card_metadata_is_what_datasets_and_huggingface_hub_write(card_build, tmp_path):
    from datasets import load_dataset_builder
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard, DatasetCardData

    out, summary = card_build
    expected = DatasetCardData(
        pretty_name="XImageNet-12",
        license=summary.license,
        task_categories=["image-classification", "image-segmentation"],
        task_ids=["multi-class-image-classification", "semantic-segmentation"],
        size_categories=["n<1K"],
        source_datasets=["original"],
        annotations_creators=["found", "machine-generated"],
        tags=["robustness", "background", "explainability", "imagenet", "xai", "ximagenet-12"],
        **({"license_name": summary.license_name} if summary.license_name else {}),
    )
    infos = DatasetInfosDict()
    for config in CONFIGS:  # datasets prepares each config from the parquet files and measures it
        builder = load_dataset_builder(str(out), config, cache_dir=str(tmp_path / "cache"))
        builder.download_and_prepare()
        info = builder.info
        info.download_size = sum((out / f).stat().st_size for f in summary.configs[config].files)
        info.dataset_size = info.splits["train"].num_bytes
        infos[config] = info
    infos.to_dataset_card_data(expected)
    MetadataConfigs(
        {c: {"data_files": [{"split": "train", "path": f"data/{c}/train-*.parquet"}], **({"default": True} if c == "original" else {})}
         for c in CONFIGS}
    ).to_dataset_card_data(expected)
    written = DatasetCard.load(out / "README.md").data.to_dict()
    wanted = expected.to_dict()
    for key in ("configs", "dataset_info"):  # same entries; the card keeps the build's order
        assert [e["config_name"] for e in written[key]] == CONFIGS
        assert sorted(written.pop(key), key=lambda e: e["config_name"]) == wanted.pop(key)
    assert written == wanted
    measured = {c: i.splits["train"].num_bytes for c, i in infos.items()}
    assert measured == {c: s.num_bytes for c, s in summary.configs.items()}  # num_bytes: the Arrow size


def test_card_yaml_has_no_aliases_and_reads_back_with_the_libraries(card_build):
    out, _ = card_build
    text = (out / "README.md").read_text(encoding="utf-8")
    front = text.split("---\n", 2)[1]
    assert not re.search(r"[&*]id\d+", front)
    assert read_card_configs(out / "README.md") == CONFIGS
    meta = read_card_metadata(out / "README.md")
    assert meta["source_datasets"] == ["original"] and meta["annotations_creators"] == ["found", "machine-generated"]
    assert validate_folder(out) == []


def test_card_has_uses_risks_sources_and_citation(card_build):
    out, summary = card_build
    text = (out / "README.md").read_text(encoding="utf-8")
    for heading in ("## Uses", "### Direct use", "### Out-of-scope use", "## Bias, Risks, and Limitations",
                    "## Image sources and licences", "## Citation"):
        assert f"\n{heading}\n" in text, heading
    sources = text.split("## Image sources and licences", 1)[1].split("## Citation", 1)[0]
    # random_background's photos, each with its licence, chosen to show no ImageNet-1k object
    assert "`skimage/grass` (grass texture, DeviantArt 'Grass-01' by linolafett, CC0" in sources
    assert "`skimage/hubble` (Hubble eXtreme Deep Field, NASA, public domain)" in sources
    assert "chosen to show no object of an ImageNet-1k class" in sources
    assert "Donor backgrounds" not in sources  # no mixed_* config in this build
    assert "arXiv:2310.08182" in text and f"With {len(summary.classes)} classes" in text


#: Appended to the card's block: what it produced, for the test to check.
_REPORT = """
import json, PIL.Image
print("CHECK " + json.dumps([isinstance(image, PIL.Image.Image), mask.mode, label, len(default), first["source_id"]]))
"""


def _check(stdout: str, summary) -> None:
    import json

    line = next(line for line in stdout.splitlines() if line.startswith("CHECK "))
    is_image, mode, label, rows, source_id = json.loads(line[6:])
    assert is_image and mode == "L" and label in summary.class_names
    assert rows == summary.configs["original"].rows and source_id.startswith(tuple(summary.classes))


def test_every_python_block_of_the_card_runs_on_a_local_copy(card_build, tmp_path):
    out, summary = card_build
    blocks = _python_blocks((out / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) == 1 and 'repo = "owner/ximagenet12"' in blocks[0]
    code = blocks[0].replace('repo = "owner/ximagenet12"', f"repo = {str(out)!r}")  # what the card tells a user
    proc = subprocess.run([sys.executable, "-c", code + _REPORT], capture_output=True, text=True, timeout=120,
                          env=_offline_env(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    _check(proc.stdout, summary)


@pytest.mark.slow
def test_the_card_code_runs_as_written_against_the_pushed_repo(card_build, run_client):
    out, summary = card_build
    (block,) = _python_blocks((out / "README.md").read_text(encoding="utf-8"))
    code = f"from ximagenet12.hub.publish import push\npush({str(out)!r}, 'owner/ximagenet12')\n" + block + _REPORT
    _check(run_client(code).stdout, summary)


def _layout(path: Path) -> list[tuple]:
    meta = pq.ParquetFile(path).metadata.row_group(0)
    return [
        (c.path_in_schema, c.has_offset_index, c.has_column_index, c.compression, c.encodings)
        for c in (meta.column(j) for j in range(meta.num_columns))
    ]


def test_shards_are_written_as_datasets_writes_parquet(card_build, tmp_path):
    import datasets

    out, summary = card_build
    for config in CONFIGS:
        for rel in summary.configs[config].files:
            meta = pq.ParquetFile(out / rel).metadata
            assert b"content_defined_chunking" in meta.metadata
            for i in range(meta.num_row_groups):
                group = meta.row_group(i)
                assert group.num_rows <= ROWS_PER_ROW_GROUP and group.total_byte_size <= MAX_ROW_GROUP_BYTES
                assert all(group.column(j).has_offset_index for j in range(group.num_columns))  # the page index
    # the same rows written by datasets itself give the same column chunks and chunking settings
    shard = out / summary.configs["original"].files[0]
    ds = datasets.Dataset.from_parquet(str(shard), cache_dir=str(tmp_path / "cache"))
    ds.to_parquet(str(tmp_path / "by_datasets.parquet"))
    ours, theirs = _layout(shard), _layout(tmp_path / "by_datasets.parquet")
    from datasets import arrow_writer

    if not hasattr(arrow_writer, "get_parquet_column_options"):  # datasets < 5: no per-column options yet,
        ours, theirs = ([c[:3] for c in layout] for layout in (ours, theirs))  # compare the page index only
    assert ours == theirs
    ours, theirs = (pq.ParquetFile(f).metadata.metadata for f in (shard, tmp_path / "by_datasets.parquet"))
    assert ours[b"content_defined_chunking"] == theirs[b"content_defined_chunking"]
