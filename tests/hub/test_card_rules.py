"""The card rules of ``hub_validate`` (``CARD_RULES``): each rule, what it checks, its message, a test.

One case per rule breaks a valid folder's card in the way the rule is about; the test
table must name every rule, so a rule added without a case fails here.
"""

from __future__ import annotations

import shutil

import pytest

from ximagenet12.hub.validate import CARD_RULES, validate_folder

CONFIGS = {"original": 6, "blur_background": 6}


def _meta(change):
    def apply(root, folders):
        meta = folders.card_metadata(CONFIGS)
        change(meta, root)
        folders.write_card(root, meta)
    return apply


def _entry(name):
    def find(meta):
        return next(e for e in meta["configs"] if e["config_name"] == name)
    return find


def _empty_config(meta, root):
    import pyarrow.parquet as pq

    shard = next((root / "data" / "blur_background").glob("*.parquet"))
    pq.write_table(pq.read_table(shard).slice(0, 0), shard)
    meta["dataset_info"] = [e for e in meta["dataset_info"] if e["config_name"] != "blur_background"]


#: rule name -> (how the folder is broken, (severity, where, message part)).
CASES = {
    "config_entries": (_meta(lambda m, r: m["configs"].append(dict(m["configs"][0]))),
                       ("error", "README.md configs[original]", "config_name appears twice")),
    "no_empty_config": (_meta(_empty_config), ("error", "README.md configs[blur_background]", "0 rows")),
    "folders_listed": (_meta(lambda m, r: m.update(configs=[_entry("original")(m)])),
                       ("error", "data/blur_background/", "folder has no entry in the card's `configs`")),
    "configs_have_folders": (lambda root, _: shutil.rmtree(root / "data" / "blur_background"),
                             ("error", "README.md configs[blur_background]", "no data/blur_background/ folder")),
    "parquet_in_data": (lambda root, _: shutil.copy(next((root / "data" / "original").glob("*.parquet")),
                                                 root / "stray.parquet"),
                        ("error", "stray.parquet", "parquet file outside data/<config>/")),
    "one_default": (_meta(lambda m, r: _entry("blur_background")(m).update(default=True)),
                    ("error", "README.md configs", "exactly one config must have `default: true`, found 2")),
    "dataset_info": (_meta(lambda m, r: m["dataset_info"][0]["splits"][0].update(num_examples=99)),
                     ("error", "README.md dataset_info[original]", "declares num_examples=99 but its parquet files "
                      "hold 6 rows")),
    "license": (_meta(lambda m, r: m.update(license="my-own-licence")),
                ("error", "README.md license", "'my-own-licence' is not a licence id the Hub accepts")),
    "task_categories": (_meta(lambda m, r: m.update(task_categories=["image-guessing"])),
                        ("error", "README.md task_categories", "'image-guessing' is not a task category")),
    "size_category": (_meta(lambda m, r: m.update(size_categories=["1M<n<10M"])),
                      ("error", "README.md size_categories", "does not hold the row count")),
    "pretty_name": (_meta(lambda m, r: m.pop("pretty_name")),
                    ("warning", "README.md pretty_name", "missing: the Hub shows the repo id instead")),
}


def test_every_rule_is_named_documented_and_has_a_case():
    names = [rule.name for rule in CARD_RULES]
    assert len(set(names)) == len(names)
    assert set(names) == set(CASES)
    assert all(rule.checks.strip() and callable(rule.run) for rule in CARD_RULES)


def test_the_valid_folder_breaks_no_rule(tmp_path, folders):
    assert validate_folder(folders.make_folder(tmp_path / "ok", CONFIGS)) == []


@pytest.mark.parametrize("rule", [r.name for r in CARD_RULES])
def test_each_rule_reports_its_problem(rule, tmp_path, folders):
    root = folders.make_folder(tmp_path / "f", CONFIGS)
    breaks, (severity, where, message) = CASES[rule]
    breaks(root, folders)
    found = [(p.severity, p.where, p.message) for p in validate_folder(root)]
    assert any(s == severity and w == where and message in m for s, w, m in found), found
