"""Folds: stratified by class, grouped by source id, reproducible; every bad count is a clear error."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from ximagenet12.training.data import SourceTable
from ximagenet12.training.folds import assign_folds, check_folds, check_validation_parts, fold_of_rows, validation_split


def table(counts: list[int]) -> SourceTable:
    ids, labels = [], []
    for c, n in enumerate(counts):
        ids += [f"c{c}_{i}" for i in range(n)]
        labels += [c] * n
    names = tuple(f"class {c}" for c in range(len(counts)))
    return SourceTable(tuple(ids), np.array(labels), names, tuple(f"n{c:08d}" for c in range(len(counts))))


def test_every_fold_holds_each_class_in_proportion():
    t = table([24, 13, 36])
    folds = assign_folds(t, n_folds=12, seed=0)
    assert sorted(set(folds.values())) == list(range(12))
    for c, n in enumerate([24, 13, 36]):
        per_fold = Counter(folds[s] for s, y in zip(t.source_ids, t.labels) if y == c)
        assert max(per_fold.values()) - min(per_fold.get(k, 0) for k in range(12)) <= 1, (c, per_fold)


def test_same_seed_same_folds_other_seed_other_folds():
    t = table([10, 10, 10])
    assert assign_folds(t, n_folds=5, seed=3) == assign_folds(t, n_folds=5, seed=3)
    assert assign_folds(t, n_folds=5, seed=3) != assign_folds(t, n_folds=5, seed=4)


def test_a_source_id_is_the_unit_so_its_rows_share_a_fold_in_every_config():
    t = table([6, 6])
    folds = assign_folds(t, n_folds=3, seed=0)
    rows = ["c0_1", "c0_1", "c1_4", "c0_1"]  # e.g. a scenario with several rows per source
    got = fold_of_rows(rows, folds, config="random_background")
    assert got[0] == got[1] == got[3] == folds["c0_1"]


def test_a_row_from_a_source_outside_the_assignment_is_an_error():
    folds = assign_folds(table([3, 3]), n_folds=3, seed=0)
    with pytest.raises(ValueError, match="config 'only_fg' has source 'stranger' that the fold assignment lacks"):
        fold_of_rows(["stranger"], folds, config="only_fg")


def test_a_class_with_fewer_sources_than_folds_names_the_class_and_suggests_folds():
    with pytest.raises(ValueError, match=r"1 class\(es\) have fewer source images than --folds 12: "
                       r"'class 1' \(n00000001\): 5; use --folds 5 or fewer"):
        check_folds(table([30, 5, 40]), n_folds=12)


def test_a_class_with_one_source_cannot_be_cross_validated():
    with pytest.raises(ValueError, match="'class 0' \\(n00000000\\): 1; add images of these classes or leave them out"):
        check_folds(table([1, 8]), n_folds=2)


def test_one_class_only_is_an_error():
    with pytest.raises(ValueError, match="one class only \\('class 0'\\)"):
        check_folds(table([20]), n_folds=2)


def test_fewer_than_two_folds_is_an_error():
    with pytest.raises(ValueError, match="--folds must be at least 2, got 1"):
        check_folds(table([5, 5]), n_folds=1)
    with pytest.raises(TypeError, match="--folds must be an int"):
        check_folds(table([5, 5]), n_folds=2.0)


def test_validation_split_takes_whole_sources_of_every_class():
    ids = [f"c{c}_{i}" for c in range(3) for i in range(10)]
    labels = np.array([c for c in range(3) for _ in range(10)])
    held = validation_split(ids, labels, fraction=0.2, seed=0)
    assert Counter(s.split("_")[0] for s in held) == {"c0": 2, "c1": 2, "c2": 2}
    assert held == validation_split(ids, labels, fraction=0.2, seed=0)
    with pytest.raises(ValueError, match="validation fraction must be in"):
        validation_split(ids, labels, fraction=1.0, seed=0)


def test_fine_tuning_refuses_folds_that_leave_no_validation_part():
    # Two sources per class, two folds: each training part holds one source per class, and a
    # class's last training source is never held out, so early stopping would have nothing.
    t = table([2, 2, 2])
    folds = assign_folds(t, n_folds=2, seed=0)
    with pytest.raises(ValueError, match=r"^fine-tuning needs a validation part for early stopping, but with fold 0 "
                       r"held out no class has two or more training source images \(at most 1\); use fewer --folds"):
        check_validation_parts(t, folds, test_folds=range(2))
    roomy = table([4, 2])  # class 0 keeps two training sources whichever fold is held out
    check_validation_parts(roomy, assign_folds(roomy, n_folds=2, seed=0), test_folds=range(2))
