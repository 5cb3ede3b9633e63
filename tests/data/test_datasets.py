"""Dataset modules: ids, labels, groups and every way a dataset's layout can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from dataset_fixtures import make_emodb, make_esc50, make_folder_csv, make_folder_tree, make_fsdd, write_esc50_meta, write_wav, clip

from sonolab.data.registry import DATASET_NAMES, load_dataset
from sonolab.errors import DatasetError

BUNDLED_FSDD = Path(__file__).resolve().parents[2] / "src" / "sonolab" / "assets" / "fsdd_sample"


def test_dataset_names_cover_every_documented_format():
    assert set(DATASET_NAMES) == {"esc50", "emodb", "fsdd", "merge", "folder"}


def test_fsdd_items_parse_digit_speaker_take(tmp_path):
    index = load_dataset("fsdd", make_fsdd(tmp_path, speakers=("alice", "bob"), digits=range(2), takes=range(2)))
    item = index.by_id()["1_bob_0"]
    assert (item.label, item.group, item.metadata) == ("1", "bob", {"speaker": "bob", "take": 0})
    assert index.classes == ["0", "1"] and len(index.items) == 8 and not index.problems


def test_fsdd_unparseable_name_is_an_error_naming_the_file(tmp_path):
    make_fsdd(tmp_path, speakers=("alice",), digits=range(1), takes=range(1))
    write_wav(tmp_path / "recordings" / "seven-alice.wav", clip(1, 8000, 0.1), 8000)
    with pytest.raises(DatasetError, match="seven-alice.wav"):
        load_dataset("fsdd", tmp_path)
    lenient = load_dataset("fsdd", tmp_path, strict=False)
    assert [p.item_id for p in lenient.problems] == ["seven-alice"] and len(lenient.items) == 1


def test_emodb_labels_are_emotion_names_and_groups_speakers(tmp_path):
    index = load_dataset("emodb", make_emodb(tmp_path, speakers=("03", "11"), emotions="WLEAFTN", texts=("a01",)))
    assert index.classes == sorted(["anger", "boredom", "disgust", "fear", "happiness", "sadness", "neutral"])
    item = index.by_id()["03a01Fa"]
    assert (item.label, item.group) == ("happiness", "03")
    assert {i.group for i in index.items} == {"03", "11"}


def test_emodb_bad_emotion_letter_is_an_error(tmp_path):
    make_emodb(tmp_path, speakers=("03",), emotions="W", texts=("a01",))
    write_wav(tmp_path / "wav" / "03a01Xa.wav", clip(2, 16000, 0.1), 16000)
    with pytest.raises(DatasetError, match="03a01Xa.wav"):
        load_dataset("emodb", tmp_path)


def test_esc50_items_use_category_src_file_and_fold(tmp_path):
    index = load_dataset("esc50", make_esc50(tmp_path, folds=range(1, 3), sources_per_fold=1))
    assert index.classes == ["dog", "rain"] and len(index.items) == 8
    item = index.by_id()["2-100210-B-1"]
    assert (item.label, item.group, item.metadata["fold"]) == ("rain", "100210", 2)
    assert sum(1 for i in index.items if i.group == "100210") == 2  # both takes of one source recording


def test_esc50_missing_and_extra_files_are_listed(tmp_path):
    make_esc50(tmp_path, folds=range(1, 2), sources_per_fold=1)
    (tmp_path / "audio" / "1-100100-A-0.wav").unlink()
    write_wav(tmp_path / "audio" / "stray.wav", clip(3, 2000, 5.0), 2000)
    index = load_dataset("esc50", tmp_path)
    reasons = {Path(p.path).name: p.reason for p in index.problems}
    assert reasons["1-100100-A-0.wav"].startswith("missing file")
    assert reasons["stray.wav"].startswith("extra file")
    assert "1-100100-A-0" not in index.by_id()


def test_esc50_path_escaping_the_root_is_rejected(tmp_path):
    make_esc50(tmp_path, folds=range(1, 2), sources_per_fold=1)
    write_esc50_meta(tmp_path, [["../../etc/passwd", 1, 0, "dog", "False", "1", "A"]])
    with pytest.raises(DatasetError, match="outside the dataset root"):
        load_dataset("esc50", tmp_path, strict=True)


def test_folder_tree_uses_subfolders_as_classes(tmp_path):
    index = load_dataset("folder", make_folder_tree(tmp_path, classes=("owl", "cat"), per_class=2))
    assert index.classes == ["cat", "owl"]
    item = index.by_id()["cat/cat_01"]
    assert (item.label, item.group) == ("cat", "cat_01")


def test_folder_csv_reads_group_split_and_parent(tmp_path):
    rows = [
        {"path": "a/x.wav", "label": "yes", "group": "g1", "split": "train", "parent": ""},
        {"path": "a/y.wav", "label": "no", "group": "", "split": "validate", "parent": ""},
        {"path": "b/z.wav", "label": "no", "group": "g1", "split": "test", "parent": "a/x"},
    ]
    csv_path = make_folder_csv(tmp_path, rows)
    for root in (tmp_path, csv_path):
        index = load_dataset("folder", root)
        by_id = index.by_id()
        assert by_id["a/y"].group == "y" and by_id["a/y"].metadata["split"] == "val"
        assert by_id["b/z"].parent_id == "a/x" and by_id["b/z"].group == "g1"
    write_wav(tmp_path / "a" / "unlisted.wav", clip(8, 8000, 0.1), 8000)
    (tmp_path / "b" / "z.wav").unlink()
    reasons = sorted(p.reason.split(":")[0] for p in load_dataset("folder", tmp_path).problems)
    assert reasons == ["extra file", "missing file"]


def test_folder_csv_rejects_paths_outside_the_root(tmp_path):
    (tmp_path / "data").mkdir()
    write_wav(tmp_path / "secret.wav", clip(9, 8000, 0.1), 8000)
    (tmp_path / "data" / "labels.csv").write_text("path,label\n../secret.wav,x\n")
    with pytest.raises(DatasetError, match="outside the dataset root"):
        load_dataset("folder", tmp_path / "data")


def test_symlinked_audio_inside_the_root_is_accepted(tmp_path):
    elsewhere = make_folder_tree(tmp_path / "elsewhere", classes=("cat",), per_class=2)
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "cat").symlink_to(elsewhere / "cat", target_is_directory=True)
    (tmp_path / "root" / "labels.csv").write_text("path,label\ncat/cat_00.wav,cat\ncat/cat_01.wav,cat\n")
    index = load_dataset("folder", tmp_path / "root")
    assert sorted(index.by_id()) == ["cat/cat_00", "cat/cat_01"] and not index.problems
    (tmp_path / "root" / "labels.csv").unlink()
    assert sorted(load_dataset("folder", tmp_path / "root").by_id()) == ["cat/cat_00", "cat/cat_01"]


def test_unknown_dataset_and_missing_root_are_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset("imagenet", tmp_path)
    with pytest.raises(DatasetError, match="not found"):
        load_dataset("fsdd", tmp_path / "nowhere")


def test_bundled_real_fsdd_sample_has_6_speakers_and_10_digits():
    index = load_dataset("fsdd", BUNDLED_FSDD)
    assert len(index.items) == 300 and len(index.classes) == 10
    assert len({item.group for item in index.items}) == 6 and not index.problems
