"""Folder datasets infer groups from variant names, warn how many, and say when no group column was given."""

from __future__ import annotations

import warnings

import pytest
from dataset_fixtures import clip, make_folder_csv, write_wav

from sonolab.data.folder import GroupingWarning, grouping_note, variant_base
from sonolab.data.registry import load_dataset
from sonolab.data.splits import make_splits


@pytest.mark.parametrize("stem,base", [("x_aug3", "x"), ("x_pitch", "x"), ("x (1)", "x"), ("x copy", "x"), ("x-noisy", "x"),
                                       ("x_stretch_0.9", "x"), ("x_aug1_pitch+2st", "x"), ("speaker_01", "speaker_01"),
                                       ("take_2", "take_2"), ("dog_bark", "dog_bark")])
def test_variant_base_strips_variant_suffixes_only(stem, base):
    assert variant_base(stem) == base


def test_tree_variants_join_their_source_group_with_a_warning(tmp_path):
    for number, name in enumerate(["x", "x_aug1", "x (1)", "y", "z_pitch"]):
        write_wav(tmp_path / "dog" / f"{name}.wav", clip(number, 8000, 0.2), 8000)
    write_wav(tmp_path / "cat" / "x_aug1.wav", clip(9, 8000, 0.2), 8000)  # another folder: not dog/x's variant
    with pytest.warns(GroupingWarning, match="2 files grouped"):
        index = load_dataset("folder", tmp_path)
    groups = {item.item_id: item.group for item in index.items}
    assert groups["dog/x"] == groups["dog/x_aug1"] == groups["dog/x (1)"] == "dog/x"
    assert groups["dog/y"] == "y" and groups["dog/z_pitch"] == "z_pitch" and groups["cat/x_aug1"] == "x_aug1"
    assert "no group column" in grouping_note(index) and "2 files" in grouping_note(index)
    splits = make_splits(index, "holdout", seed=0, val_fraction=0.2, test_fraction=0.2)
    for fold in splits.folds:
        sides = {name for name, ids in fold.partitions().items() if {"dog/x", "dog/x_aug1", "dog/x (1)"} & set(ids)}
        assert len(sides) == 1


def test_a_group_column_is_used_as_given_without_warning(tmp_path):
    rows = [{"path": "a.wav", "label": "p", "group": "g1"}, {"path": "a_aug1.wav", "label": "p", "group": "g2"}]
    make_folder_csv(tmp_path, rows)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        index = load_dataset("folder", tmp_path)
    assert {item.item_id: item.group for item in index.items} == {"a": "g1", "a_aug1": "g2"}
    assert grouping_note(index) is None


def test_without_variants_the_note_still_says_no_group_column(tmp_path):
    rows = [{"path": "a.wav", "label": "p"}, {"path": "b.wav", "label": "q"}]
    make_folder_csv(tmp_path, rows)
    index = load_dataset("folder", tmp_path)
    assert [item.group for item in index.items] == ["a", "b"]
    assert grouping_note(index).startswith("no group column: each file is its own group, except 0 files")
