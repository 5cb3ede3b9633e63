"""Splits: whole groups only, val carved from training groups, official protocols, reproducible."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from dataset_fixtures import make_emodb, make_esc50, make_folder_csv, make_fsdd

from sonolab.data.items import DatasetIndex, Item
from sonolab.data.registry import load_dataset
from sonolab.data.splits import STRATEGIES, load_splits, make_splits, save_splits
from sonolab.errors import DatasetError

BUNDLED_FSDD = Path(__file__).resolve().parents[2] / "src" / "sonolab" / "assets" / "fsdd_sample"


def assert_leak_free(splits, index):
    all_ids = {item.item_id for item in index.items}
    for fold in splits.folds:
        parts = fold.partitions()
        assert all(parts.values()), f"{fold.name} has an empty partition"
        assert set().union(*map(set, parts.values())) == all_ids  # every item placed, none twice
        assert sum(map(len, parts.values())) == len(all_ids)
        groups = {name: {splits.groups[i] for i in ids} for name, ids in parts.items()}
        assert not groups["train"] & groups["val"]
        assert not groups["train"] & groups["test"]
        assert not groups["val"] & groups["test"]


@pytest.fixture(scope="module")
def fsdd_index(tmp_path_factory):
    return load_dataset("fsdd", make_fsdd(tmp_path_factory.mktemp("fsdd"), speakers=("a", "b", "c", "d", "e"), takes=range(8)))


@pytest.mark.parametrize("strategy", ["group-kfold", "loso", "holdout"])
def test_generic_strategies_never_put_a_speaker_in_two_partitions(fsdd_index, strategy):
    splits = make_splits(fsdd_index, strategy, seed=3, n_folds=3)
    assert_leak_free(splits, fsdd_index)


def test_loso_gives_one_fold_per_speaker_with_that_speaker_as_test(fsdd_index):
    splits = make_splits(fsdd_index, "loso")
    assert len(splits.folds) == 5
    tested = [{splits.groups[i] for i in fold.test} for fold in splits.folds]
    assert all(len(groups) == 1 for groups in tested)
    assert set().union(*tested) == {"a", "b", "c", "d", "e"}


def test_val_is_carved_from_training_groups_only(fsdd_index):
    for strategy in ("group-kfold", "loso", "holdout"):
        for fold in make_splits(fsdd_index, strategy, n_folds=3).folds:
            test_groups = {i.split("_")[1] for i in fold.test}
            val_groups = {i.split("_")[1] for i in fold.val}
            assert val_groups and not val_groups & test_groups


def test_fsdd_official_is_the_take_split_and_says_it_is_within_speaker(fsdd_index):
    splits = make_splits(fsdd_index, "official")
    fold = splits.folds[0]
    takes = {name: {int(i.split("_")[2]) for i in ids} for name, ids in fold.partitions().items()}
    assert takes["test"] == set(range(5)) and takes["train"] | takes["val"] == {5, 6, 7}
    assert "WITHIN-speaker" in splits.note
    assert_leak_free(splits, fsdd_index)


def test_esc50_official_uses_the_five_folds_as_test_folds(tmp_path):
    index = load_dataset("esc50", make_esc50(tmp_path, sources_per_fold=3, takes="A"))
    splits = make_splits(index, "official")
    assert len(splits.folds) == 5
    by_id = index.by_id()
    for number, fold in enumerate(splits.folds, start=1):
        assert {by_id[i].metadata["fold"] for i in fold.test} == {number}
        assert number not in {by_id[i].metadata["fold"] for i in fold.train + fold.val}
        assert {by_id[i].label for i in fold.val} == {"dog", "rain"}  # stratified
    assert_leak_free(splits, index)


def test_emodb_official_is_leave_one_speaker_out(tmp_path):
    index = load_dataset("emodb", make_emodb(tmp_path))
    splits = make_splits(index, "official")
    assert len(splits.folds) == 4
    assert_leak_free(splits, index)


def test_folder_csv_official_uses_the_split_column(tmp_path):
    rows = [{"path": f"c{k % 2}/f{k}.wav", "label": f"c{k % 2}", "group": f"g{k // 2}", "split": s}
            for k, s in enumerate(["train"] * 6 + ["val"] * 2 + ["test"] * 2)]
    index = load_dataset("folder", make_folder_csv(tmp_path, rows))
    fold = make_splits(index, "official").folds[0]
    assert (len(fold.train), len(fold.val), len(fold.test)) == (6, 2, 2)
    assert {i for i in fold.val} == {"c0/f6", "c1/f7"}


def test_merge_style_tvt_metadata_drives_official_and_unassigned_items_are_named(fsdd_index):
    tvt = ["train"] * 5 + ["validate", "test", None]
    items = [replace(item, metadata={**item.metadata, "tvt": tvt[k % 8]}) for k, item in enumerate(fsdd_index.items)]
    index = DatasetIndex("merge", fsdd_index.root, items, fsdd_index.classes)
    splits = make_splits(index, "official")
    fold = splits.folds[0]
    by_id = index.by_id()
    assert {by_id[i].metadata["tvt"] for i in fold.val} == {"validate"}
    assert {by_id[i].metadata["tvt"] for i in fold.test} == {"test"}
    left_out = sum(1 for item in items if item.metadata["tvt"] is None)
    assert len(fold.train) + len(fold.val) + len(fold.test) == len(items) - left_out
    assert f"{left_out} items are in no official partition" in splits.note


def test_official_without_official_partitions_is_a_clear_error(tmp_path):
    rows = [{"path": f"x{k}.wav", "label": "a"} for k in range(4)]
    with pytest.raises(DatasetError, match="no official split"):
        make_splits(load_dataset("folder", make_folder_csv(tmp_path, rows)), "official")


def test_variants_stay_with_their_parent_and_mismatched_groups_are_refused(fsdd_index):
    variants = [Item(f"{i.item_id}__aug0", i.path, i.label, i.group, i.item_id, metadata=dict(i.metadata)) for i in fsdd_index.items]
    index = DatasetIndex("fsdd", fsdd_index.root, fsdd_index.items + variants, fsdd_index.classes)
    splits = make_splits(index, "group-kfold", n_folds=3)
    for fold in splits.folds:
        placement = {i: name for name, ids in fold.partitions().items() for i in ids}
        assert all(placement[v.item_id] == placement[v.parent_id] for v in variants)
    official = make_splits(index, "official").folds[0]
    placement = {i: name for name, ids in official.partitions().items() for i in ids}
    assert all(placement[v.item_id] == placement[v.parent_id] for v in variants)
    bad = DatasetIndex("fsdd", fsdd_index.root, fsdd_index.items + [replace(variants[0], group="elsewhere")], fsdd_index.classes)
    with pytest.raises(DatasetError, match="parent"):
        make_splits(bad, "loso")


def test_splits_are_reproducible_and_round_trip_through_json(fsdd_index, tmp_path):
    first = make_splits(fsdd_index, "holdout", seed=7)
    assert make_splits(fsdd_index, "holdout", seed=7).folds == first.folds
    path = save_splits(first, tmp_path / "splits.json")
    loaded = load_splits(path)
    assert loaded.folds == first.folds and loaded.groups == first.groups and loaded.labels == first.labels
    assert loaded.parents == first.parents and loaded.strategy == "holdout" and loaded.seed == 7
    assert all(loaded.resolve_path(i).is_file() for i in loaded.groups)


def test_bundled_real_fsdd_loso_has_six_speaker_independent_folds():
    index = load_dataset("fsdd", BUNDLED_FSDD)
    splits = make_splits(index, "loso")
    assert len(splits.folds) == 6 and STRATEGIES == ("official", "group-kfold", "loso", "holdout")
    assert_leak_free(splits, index)
