"""Bad input found by exercising the commands as a user: each case is one clear error or a listed problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from dataset_fixtures import clip, make_esc50, make_fsdd, write_esc50_meta, write_wav

from sonolab.data.audit import audit_splits
from sonolab.data.items import DatasetIndex, Item
from sonolab.data.paths import check_output_path, output_errors
from sonolab.data.registry import load_dataset
from sonolab.data.splits import make_splits
from sonolab.data.verify import verify_index
from sonolab.errors import ConfigError, DatasetError


def _index(labels: list[str]) -> DatasetIndex:
    """One item (and one group) per label, no audio needed for splitting."""
    items = [Item(f"i{n}", Path(f"/nowhere/i{n}.wav"), label, f"g{n}") for n, label in enumerate(labels)]
    return DatasetIndex("folder", Path("/nowhere"), items, sorted(set(labels)), [])


def test_holdout_and_group_kfold_work_when_every_class_is_smaller_than_the_fold_count():
    # sklearn's StratifiedGroupKFold raises ValueError here; sonolab falls back to plain grouped splits
    small = _index(["dog", "dog", "cat", "cat", "owl", "owl"])
    wide = _index(["dog", "dog", "cat", "cat", "owl", "owl", "bee", "bee"])  # 8 groups >= 7 hold-out splits
    for index, strategy in ((small, "group-kfold"), (small, "loso"), (wide, "holdout"), (wide, "group-kfold")):
        splits = make_splits(index, strategy, n_folds=3)
        for fold in splits.folds:
            assert sorted(fold.train + fold.val + fold.test) == sorted(splits.groups)
            assert fold.test and fold.train


def test_fsdd_official_split_without_training_takes_is_a_clear_error(tmp_path):
    root = make_fsdd(tmp_path, speakers=("a", "b"), digits=range(2), takes=range(3))  # takes 0-2: all test
    with pytest.raises(DatasetError, match="takes 5-49.*--strategy loso"):
        make_splits(load_dataset("fsdd", root), "official")


def test_esc50_row_escaping_the_root_is_listed_by_verify_and_refused_when_strict(tmp_path):
    make_esc50(tmp_path, folds=range(1, 2), sources_per_fold=1)
    write_esc50_meta(tmp_path, [["../../etc/passwd", 1, 0, "dog", "False", "1", "A"]])
    with pytest.raises(DatasetError, match="outside the dataset root"):
        load_dataset("esc50", tmp_path, strict=True)
    report = verify_index(load_dataset("esc50", tmp_path, strict=False), workers=1)
    assert not report.ok and report.problem_counts().get("path_outside_root") == 1
    assert all("passwd" not in str(item.path) for item in load_dataset("esc50", tmp_path, strict=False).items)


def test_esc50_row_with_the_wrong_number_of_fields_names_the_count(tmp_path):
    make_esc50(tmp_path, folds=range(1, 2), sources_per_fold=1)
    with (tmp_path / "meta" / "esc50.csv").open("a") as handle:
        handle.write("short,1\n")
    problems = load_dataset("esc50", tmp_path, strict=False).problems
    assert any("2 fields, expected 7" in p.reason for p in problems)
    with pytest.raises(DatasetError, match="2 fields, expected 7"):
        load_dataset("esc50", tmp_path, strict=True)


def test_audit_with_a_missing_root_is_an_error_not_a_silent_pass(tmp_path):
    root = make_fsdd(tmp_path / "fsdd", speakers=("a", "b", "c"), digits=range(2), takes=range(1))
    splits = make_splits(load_dataset("fsdd", root), "loso")
    with pytest.raises(DatasetError, match="dataset root not found"):
        audit_splits(splits, root=tmp_path / "elsewhere", workers=1)


def test_output_paths_that_cannot_be_written_are_refused_before_work(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match="existing folder"):
        check_output_path(tmp_path, "--out splits file")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        check_output_path(tmp_path / "afile" / "s.json", "--out splits file")
    with pytest.raises(ConfigError, match="exists and is not a folder"):
        check_output_path(tmp_path / "afile", "--out cache folder", directory=True)
    assert check_output_path(tmp_path / "new" / "deep" / "s.json", "--out") == tmp_path / "new" / "deep" / "s.json"
    with pytest.raises(ConfigError, match="cannot write --out"):
        with output_errors(tmp_path / "x", "--out"):
            raise OSError(28, "No space left on device")
    write_wav(tmp_path / "ok.wav", clip(1, 8000, 0.1), 8000)  # the helpers never touch existing files
    assert (tmp_path / "ok.wav").is_file()


def test_a_binary_file_given_as_the_safe_csv_is_one_clear_error(tmp_path):
    from sonolab.data.safe import load_safe_csv

    path = tmp_path / "SAFEEqualiserUserData.csv"
    path.write_bytes(b"1,warm,10.0.0.1,2,2,\xfd\xff\xfe" * 20)
    with pytest.raises(DatasetError, match="not a UTF-8 SAFE-DB CSV") as caught:
        load_safe_csv(tmp_path)
    assert "10.0.0.1" not in str(caught.value)  # the IP column never reaches a message


def test_a_built_cache_folder_gets_the_umask_mode_not_mkdtemps_0700(tmp_path):
    import os

    from sonolab.data.cache import _swap_into_place

    built = tmp_path / "built"
    built.mkdir(mode=0o700)
    os.chmod(built, 0o700)
    mask = os.umask(0o022)
    try:
        _swap_into_place(built, tmp_path / "cache")
    finally:
        os.umask(mask)
    assert (os.stat(tmp_path / "cache").st_mode & 0o777) == 0o755


def test_verify_fails_on_a_dataset_folder_without_audio(tmp_path):
    (tmp_path / "recordings").mkdir()
    report = verify_index(load_dataset("fsdd", tmp_path, strict=False), workers=1)
    assert not report.ok and report.problem_counts() == {"no_audio": 1}


def test_folder_csv_row_escaping_the_root_is_listed_by_verify(tmp_path):
    (tmp_path / "data" / "cat").mkdir(parents=True)
    write_wav(tmp_path / "secret.wav", clip(9, 8000, 0.1), 8000)
    write_wav(tmp_path / "data" / "cat" / "a.wav", clip(8, 8000, 0.1), 8000)
    (tmp_path / "data" / "labels.csv").write_text("path,label\n../secret.wav,x\ncat/a.wav,cat\n")
    index = load_dataset("folder", tmp_path / "data", strict=False)
    assert [item.item_id for item in index.items] == ["cat/a"]
    report = verify_index(index, workers=1)
    assert report.problem_counts() == {"path_outside_root": 1}


def test_metadata_csvs_with_a_byte_order_mark_load_and_non_utf8_ones_are_one_error(tmp_path):
    (tmp_path / "cat").mkdir()
    write_wav(tmp_path / "cat" / "a.wav", clip(8, 8000, 0.1), 8000)
    (tmp_path / "labels.csv").write_bytes("\ufeffpath,label\ncat/a.wav,cat\n".encode("utf-8"))  # as Excel saves it
    assert [item.label for item in load_dataset("folder", tmp_path).items] == ["cat"]
    (tmp_path / "labels.csv").write_bytes("path,label\ncat/a.wav,chät\n".encode("latin-1"))
    with pytest.raises(DatasetError, match="labels.csv: not UTF-8 text"):
        load_dataset("folder", tmp_path, strict=False)
    esc = make_esc50(tmp_path / "esc", folds=range(1, 2), sources_per_fold=1)
    meta = esc / "meta" / "esc50.csv"
    meta.write_bytes(b"\xef\xbb\xbf" + meta.read_bytes())
    assert load_dataset("esc50", esc).items
    meta.write_bytes(meta.read_bytes() + b"\xff\xfe\n")
    with pytest.raises(DatasetError, match="esc50.csv: not UTF-8 text"):
        load_dataset("esc50", esc, strict=False)


def test_folder_root_that_is_an_audio_file_is_one_clear_error(tmp_path):
    path = write_wav(tmp_path / "one.wav", clip(1, 8000, 0.1), 8000)
    with pytest.raises(DatasetError, match="neither a folder nor a .csv file"):
        load_dataset("folder", path, strict=False)
