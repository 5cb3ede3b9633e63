"""4Q (Panda et al. 2018): CRLF + BOM CSVs, artist groups, listed problems, no regression, leak-free splits."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from merge_fixtures import make_fourq_tree  # noqa: E402

from sonolab.cli import app  # noqa: E402
from sonolab.data.audit import audit_splits  # noqa: E402
from sonolab.data.fourq import load_fourq  # noqa: E402
from sonolab.data.merge_parts import require_targets, targets_available  # noqa: E402
from sonolab.data.registry import load_dataset  # noqa: E402
from sonolab.data.splits import Fold, Splits, load_splits, save_splits  # noqa: E402
from sonolab.errors import ConfigError, DatasetError  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory):
    return make_fourq_tree(tmp_path_factory.mktemp("4q"), num_songs=24, songs_per_artist=2)


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory):
    return make_fourq_tree(tmp_path_factory.mktemp("4q_broken"), num_songs=8, songs_per_artist=2, broken=True)


def test_crlf_bom_csvs_give_quadrant_items_grouped_by_artist(clean) -> None:
    raw = (clean.root / "panda_dataset_taffc_annotations.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw  # the fixture writes the release's format
    index = load_dataset("4q", clean.root)
    assert index.name == "4q" and index.classes == ["Q1", "Q2", "Q3", "Q4"] and not index.problems
    assert len(index.items) == 24
    by_id = index.by_id()
    for song in clean.songs:
        item = by_id[song["song"]]
        assert item.label == song["quadrant"] and item.path == (clean.root / song["quadrant"] / f"{song['song']}.mp3").resolve()
        assert item.targets == {}
    assert by_id["MT0000000000"].group == by_id["MT0000000001"].group == "artist:the artist 000"
    assert len({item.group for item in index.items}) == 12


def test_regression_is_refused_with_a_clear_message(clean) -> None:
    index = load_fourq(clean.root)
    assert targets_available(index) == set()
    with pytest.raises(ConfigError, match="4q has no arousal/valence annotations.*quadrant classification only"):
        require_targets(index, ("arousal", "valence"))
    require_targets(index, ())  # classification asks for no targets


def test_missing_unreadable_unlisted_clips_and_a_broken_row_are_listed(broken) -> None:
    index = load_fourq(broken.root)
    assert len(index.items) == 8
    reasons = {problem.item_id: problem.reason for problem in index.problems}
    assert reasons["MTMISSING01"] == "audio file missing"
    assert "unreadable audio" in reasons["MTGARBAGE01"]
    assert "absent from the annotations" in reasons["MTUNLISTED1"]
    assert "bad metadata row (line 12)" in reasons["MTBROKEN001"] and "4 fields where the header has 2" in reasons["MTBROKEN001"]
    assert len(index.problems) == 4, [p.to_dict() for p in index.problems]


def test_misplaced_clip_and_missing_root(tmp_path: Path) -> None:
    tree = make_fourq_tree(tmp_path / "q", num_songs=4)
    song = tree.songs[0]
    (tree.root / song["quadrant"] / f"{song['song']}.mp3").rename(tree.root / "Q4" / f"{song['song']}.mp3")
    index = load_fourq(tree.root)
    assert song["song"] not in index.by_id()
    assert any("in Q4/ but annotated Q1" in p.reason for p in index.problems)
    with pytest.raises(DatasetError, match="4Q root not found"):
        load_fourq(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="panda_dataset_taffc_annotations.csv: file not found"):
        load_fourq(tmp_path)


def test_verify_cli_reports_songs_per_artist(clean, broken) -> None:
    result = runner.invoke(app, ["verify", "4q", "--root", str(clean.root), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "24 files, 12 artists, 4 classes, no problems" in result.output
    assert "songs per artist: 12 artists, at most 2 songs by one artist, 12 artists with more than one song" in result.output
    result = runner.invoke(app, ["verify", "4q", "--root", str(broken.root), "--json", "--workers", "1"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["songs_per_artist"]["artists"] == 4
    assert report["problem_counts"] == {"bad_row": 1, "missing_file": 1, "unreadable": 1, "extra_file": 1}


def test_group_kfold_keeps_each_artist_in_one_fold_and_the_audit_passes(clean, tmp_path: Path) -> None:
    out = tmp_path / "splits.json"
    result = runner.invoke(app, ["split", "4q", "--root", str(clean.root), "--strategy", "group-kfold", "--folds", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    splits = load_splits(out)
    test_fold_of_artist: dict[str, set[int]] = {}
    for number, fold in enumerate(splits.folds):
        for item_id in fold.test:
            test_fold_of_artist.setdefault(splits.groups[item_id], set()).add(number)
        for partitions in (fold.train, fold.val):
            assert not {splits.groups[i] for i in partitions} & {splits.groups[i] for i in fold.test}
    assert len(test_fold_of_artist) == 12 and all(len(folds) == 1 for folds in test_fold_of_artist.values())
    result = runner.invoke(app, ["audit", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output


def test_audit_catches_an_artist_planted_in_two_folds(clean, tmp_path: Path) -> None:
    index = load_fourq(clean.root)
    ids = [item.item_id for item in index.items]
    groups = {item.item_id: item.group for item in index.items}
    first, second = "MT0000000000", "MT0000000001"  # one artist's two songs
    assert groups[first] == groups[second]
    rest = [i for i in ids if i not in (first, second)]
    # hand-made 2-fold splits: the artist's songs are in the test partition of *both* folds, so each fold trains on
    # one of them while testing the other
    folds = [Fold("fold-0", [second] + rest[:10], [], [first] + rest[10:]),
             Fold("fold-1", [first] + rest[10:], [], [second] + rest[:10])]
    planted = Splits("4q", str(clean.root), "group-kfold", 0, folds, groups,
                     {i: index.by_id()[i].label for i in ids}, {i: None for i in ids})
    path = save_splits(planted, tmp_path / "planted.json")
    report = audit_splits(load_splits(path), check_audio=False)
    assert not report.ok
    leaks = [leak for leak in report.leaks if leak.kind == "group"]
    assert {leak.fold for leak in leaks} == {"fold-0", "fold-1"}
    assert all("artist:the artist 000" in leak.detail and set(leak.ids) == {first, second} for leak in leaks)
    result = runner.invoke(app, ["audit", str(path), "--workers", "1"])
    assert result.exit_code == 1 and "LEAK" in result.output and "artist:the artist 000" in result.output


def test_semicolon_separated_lowercase_header_without_metadata_file(tmp_path: Path) -> None:
    tree = make_fourq_tree(tmp_path / "q", num_songs=4)
    rows = ["song;quadrant"] + [f"{s['song']};{s['quadrant'].lower()}" for s in tree.songs]
    (tree.root / "panda_dataset_taffc_annotations.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tree.root / "panda_dataset_taffc_metadata.csv").unlink()
    index = load_fourq(tree.root)
    assert len(index.items) == 4 and {item.group for item in index.items} == {f"song:{s['song']}" for s in tree.songs}
    assert [p.reason for p in index.problems] == ["metadata file missing: songs are grouped by song, not by artist"]
