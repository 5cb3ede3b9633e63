"""`benchmarks/leak_audit.py --esc-root`: real ESC-50 clips as the sources (here a tiny ESC-50 tree of generated clips)."""

from __future__ import annotations

import sys
from pathlib import Path

import soundfile as sf

from sonolab.data.content_index import Match

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmark_modules import load_benchmark  # noqa: E402

COLUMNS = "filename,fold,target,category,esc10,src_file,take"


def _esc50_tree(root: Path, leak_audit) -> None:
    (root / "meta").mkdir(parents=True)
    (root / "audio").mkdir()
    rows = [COLUMNS]
    for number in range(4):
        name = f"1-{100 + number // 2}-{'AB'[number % 2]}-{number % 2}.wav"  # clips 0, 1 and 2, 3: one recording each
        sf.write(str(root / "audio" / name), leak_audit.generated_clip(number, 40 + number, duration_s=3.0), 44100, subtype="PCM_16")
        rows.append(f"{name},1,{number % 2},class{number % 2},False,{100 + number // 2},{'AB'[number % 2]}")
    rows.append("missing.wav,1,0,class0,False,999,A")  # listed, not on disk: a problem, printed
    (root / "meta" / "esc50.csv").write_text("\n".join(rows) + "\n")


def test_esc_root_plants_into_real_clips_and_splits_false_positives_by_recording(tmp_path: Path, capsys) -> None:
    leak_audit = load_benchmark("leak_audit")
    _esc50_tree(tmp_path / "esc", leak_audit)
    sources, recording_of = leak_audit.esc50_sources(tmp_path / "esc", clips=3)
    assert sorted(sources) == ["1-100-A-0", "1-100-B-1", "1-101-A-0"]  # the first 3 by name, the missing row left out
    assert recording_of == {"1-100-A-0": "100", "1-100-B-1": "100", "1-101-A-0": "101"}
    assert "missing.wav" in capsys.readouterr().out

    truth = leak_audit.plant(sources, tmp_path / "copies", per_kind=1, per_pair=0, seed=3)
    assert sorted(kinds for _, kinds, _ in truth.values()) == sorted((kind,) for kind in leak_audit.SINGLE_KINDS)
    paths = {**sources, **{copy_id: tmp_path / "copies" / f"{copy_id}.wav" for copy_id in truth}}
    result = leak_audit.evaluate("tiny ESC-50", paths, truth, workers=1, cache=None)
    assert result["clips"] == 3 + len(truth)
    assert all(len(hits) == 1 for hits in result["recall"].values())
    exact = [kind for kind in ("gain", "polarity", "mp3") if result["recall"][kind] != [True]]
    assert not exact, f"exact copies of real-format clips missed: {exact}"

    # two flagged pairs: clips of one recording, and a copy of one recording with a clip of another
    copy_id, (source, _, _) = next(iter(truth.items()))
    other = next(item for item in sources if recording_of[item] != recording_of[source])
    result["false_positives"] = [Match("1-100-A-0", "1-100-B-1", 0.95, 0.0, 0.0, 1.0, 5.0, 10),
                                 Match(copy_id, other, 0.95, 0.0, 0.0, 1.0, 5.0, 10)]
    leak_audit.report(result, paths, identity_check=True, recording_of=recording_of)
    out = capsys.readouterr().out
    assert "false positives: 2 of" in out
    assert "of which 1 between clips of one recording (src_file) and 1 between recordings" in out


def test_fsdd_padded_places_each_recording_in_digital_silence_at_44_1_khz(tmp_path: Path) -> None:
    import numpy as np

    leak_audit = load_benchmark("leak_audit")
    rng = np.random.default_rng(0)
    sources = {}
    for number in range(6):
        path = tmp_path / f"{number}_spk_0.wav"
        sf.write(str(path), (0.3 * rng.standard_normal(4000)).astype("float32"), 8000)  # 0.5 s of noise at 8 kHz
        sources[path.stem] = path
    padded = leak_audit.pad_like_esc50(sources, tmp_path / "padded", seed=1)
    assert sorted(padded) == sorted(sources)
    for path in padded.values():
        clip, rate = sf.read(str(path))
        assert rate == 44100 and clip.size == 5 * 44100
        sound = np.flatnonzero(np.abs(clip) > 1e-3)
        assert 0.45 <= (sound[-1] - sound[0]) / rate <= 0.55  # the recording, once, at 44.1 kHz
        assert not np.any(clip[: sound[0]]) and not np.any(clip[sound[-1] + 1:])  # digital silence around it


def test_issue_table_plants_each_kind_at_its_setting_into_another_fold(tmp_path: Path) -> None:
    import numpy as np

    from sonolab.data.copy_kinds import ISSUE_TABLE

    leak_audit = load_benchmark("leak_audit")
    _esc50_tree(tmp_path / "esc", leak_audit)
    sources, recording_of = leak_audit.esc50_sources(tmp_path / "esc", clips=4)
    truth = leak_audit.plant_table(sources, tmp_path / "table", per_kind=1, seed=2)
    assert sorted(kinds for _, kinds, _ in truth.values()) == sorted((kind,) for kind in ISSUE_TABLE)
    assert not any("+" in kind for kind in ISSUE_TABLE)  # the report reads a "+" as a pair of kinds
    settings = {kinds[0]: copy for _, kinds, copy in truth.values()}
    assert settings["noise_10db"].notes["snr_db"] == 10.0 and settings["reverb_0.6s"].notes["rt60_s"] == 0.6
    assert settings["pitch_up_2st"].pitch_semitones == 2.0 and settings["stretch_0.9x"].tempo_ratio == np.float64(1 / 0.9)
    assert abs(settings["recut_25ms"].lag_s - 0.025) < 1 / 44100
    folds = leak_audit.folds_of(sources, truth, recording_of, seed=1)
    assert len({folds[i] for i in sources if recording_of[i] == "100"}) == 1  # one recording stays in one fold
    assert all(folds[copy_id] != folds[source] for copy_id, (source, _, _) in truth.items())
    paths = {**sources, **{copy_id: tmp_path / "table" / f"{copy_id}.wav" for copy_id in truth}}
    result = leak_audit.evaluate("tiny table", paths, truth, workers=1, cache=None, folds=folds)
    sizes = np.bincount(list(folds.values()))
    assert result["pairs"] == len(folds) * (len(folds) - 1) // 2 - int((sizes * (sizes - 1) // 2).sum())
    assert result["recall"]["polarity"] == [True] and result["recall"]["mp3"] == [True]
