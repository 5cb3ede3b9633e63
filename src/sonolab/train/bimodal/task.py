"""The bimodal model: building it from a recipe, quadrants from its outputs, saving it and predicting with it.
Training runs through the one runner with the `bimodal` plugin (`sonolab.train.bimodal.plugin`).

A run folder holds: recipe.yaml, failures.json (every song left out, with its reason), splits.json,
fold-*/seed_*/ (checkpoints, logs, metrics.json, predictions.csv, figures, model.safetensors + model.json
+ text/ for `predict`), and summary.json (mean and std of every metric over folds and seeds).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from sonolab.atomic import atomic_path
from sonolab.audio.features import FeatureSettings
from sonolab.errors import ConfigError
from sonolab.models.bimodal import QUADRANT_CLASSES, TARGET_NAMES, BimodalModel
from sonolab.models.text import TextEncoder, TextSettings

def run_bimodal(recipe: dict[str, Any], root: str | Path | None, out_dir: str | Path, resume: bool = False,
                progress: bool = True) -> Path:
    """Run a bimodal recipe with the one runner (`sonolab.train.runner.run`); returns the run folder."""
    from sonolab.train.runner import run

    return run({**recipe, "task": "bimodal"}, root=root, out_dir=out_dir, resume=resume, progress=progress)


def choose_midpoint(arousal: np.ndarray, valence: np.ndarray, labels: list[str]) -> tuple[float, float]:
    """The single threshold on both scales whose sign quadrants best reproduce the labels (training data only)."""
    from sonolab.evaluate.regression import quadrants_from_av

    values = np.concatenate([arousal, valence])
    candidates = np.unique(np.round(np.linspace(np.quantile(values, 0.05), np.quantile(values, 0.95), 181), 6))
    best = (float(np.median(values)), -1.0)
    truth = np.asarray(labels)
    for candidate in candidates:
        agreement = float(np.mean(np.asarray(quadrants_from_av(arousal, valence, float(candidate))) == truth))
        if agreement > best[1] + 1e-12:
            best = (float(candidate), agreement)
    return best


def _quadrant_predictions(predictions: dict[str, np.ndarray], source: str, midpoint: float) -> list[str]:
    from sonolab.evaluate.regression import quadrants_from_av

    if source == "classifier":
        return [QUADRANT_CLASSES[i] for i in predictions["probabilities"].argmax(axis=1)]
    av = predictions["av"]
    return quadrants_from_av(av[:, TARGET_NAMES.index("arousal")], av[:, TARGET_NAMES.index("valence")], midpoint)


def build_bimodal_model(recipe: dict[str, Any], section: dict[str, Any], text_model_dir: Path | None,
                        text_config: Any | None = None) -> BimodalModel:
    """The model a recipe describes. `text_config` builds an empty text tower (weights loaded after)."""
    from sonolab.models.registry import build_model

    audio = build_model(dict(recipe["model"]), num_classes=None) if "audio" in section["modalities"] else None
    text = None
    if "lyrics" in section["modalities"]:
        text = TextEncoder.from_config(text_config) if text_config is not None else TextEncoder.from_pretrained(text_model_dir)
    return BimodalModel(
        audio, text, fusion=section["fusion"], hidden_dim=int(section["hidden_dim"]), dropout=float(section["dropout"]),
        regression=bool(section["heads"].get("regression")), classification=bool(section["heads"].get("classification")),
    )


def _write_predictions(path: Path, ids: list[str], true_av: np.ndarray, true_q: list[str],
                       predicted: dict[str, np.ndarray], predicted_q: list[str]) -> None:
    with atomic_path(path) as temporary, temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        header = ["id", *(f"true_{n}" for n in TARGET_NAMES), "true_quadrant", "predicted_quadrant"]
        if "av" in predicted:
            header += [f"predicted_{n}" for n in TARGET_NAMES]
        if "probabilities" in predicted:
            header += [f"p_{q}" for q in QUADRANT_CLASSES]
        writer.writerow(header)
        for row, item_id in enumerate(ids):
            line = [item_id, *(f"{v:.6f}" for v in true_av[row]), true_q[row], predicted_q[row]]
            if "av" in predicted:
                line += [f"{v:.6f}" for v in predicted["av"][row]]
            if "probabilities" in predicted:
                line += [f"{v:.6f}" for v in predicted["probabilities"][row]]
            writer.writerow(line)


def save_bimodal_model(folder: Path, model: BimodalModel, recipe: dict[str, Any], section: dict[str, Any],
                       settings: FeatureSettings, midpoint: float, tokenizer: Any | None) -> Path:
    """`model.safetensors` + `model.json` (task bimodal: audio tower config, bimodal section, frozen feature
    settings, framing, midpoint) via the engine's exporter, plus the text tower's config and tokenizer in `text/`."""
    from sonolab.train.export import save_model

    save_model(folder, model, dict(recipe["model"]), list(QUADRANT_CLASSES), settings, dict(recipe["framing"]), task="bimodal",
               extra={"bimodal": section, "av_midpoint": midpoint, "target_names": list(TARGET_NAMES)})
    if model.text_encoder is not None and tokenizer is not None:
        model.text_encoder.encoder.config.save_pretrained(str(folder / "text"))
        tokenizer.save_pretrained(str(folder / "text"))
    return folder


def find_model_dirs(run_dir: str | Path) -> list[Path]:
    """Folders with a bimodal model.json: `run_dir` itself, or every fold/seed folder of the run."""
    run_dir = Path(run_dir)
    candidates = [run_dir] if (run_dir / "model.json").is_file() else sorted(p.parent for p in run_dir.glob("*/seed_*/model.json"))
    found = [c for c in candidates if json.loads((c / "model.json").read_text(encoding="utf-8")).get("task") == "bimodal"]
    if not found:
        raise ConfigError(f"{run_dir}: no bimodal model here (fix: pass the RUN_DIR that `sonolab train` wrote for a bimodal recipe)")
    return found


def _predict_with(folder: Path, audio_paths: list[str | Path] | None, lyrics_paths: list[str | Path] | None,
                  count: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Raw outputs (`av`, `probabilities`) of one saved model for `count` songs, and its model.json."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig

    from sonolab.audio.features import apply_reference_and_floor
    from sonolab.audio.framing import fit_frames
    from sonolab.data.merge import read_lyrics
    from sonolab.models.text import load_tokenizer, tokenize_texts
    from sonolab.train.bimodal.data import song_log_mel_re_unity

    payload = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    section = payload["bimodal"]
    modalities = section["modalities"]
    if "audio" in modalities and len(audio_paths or []) != count:
        raise ConfigError("this model needs one audio file per song")
    if "lyrics" in modalities and len(lyrics_paths or []) != count:
        raise ConfigError("this model needs lyrics: pass --lyrics FILE once per audio file, in the same order")
    text_config = AutoConfig.from_pretrained(str(folder / "text"), local_files_only=True) if "lyrics" in modalities else None
    model = build_bimodal_model({"model": payload["model"]}, section, None, text_config=text_config)
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    model.eval()
    settings = FeatureSettings.from_dict(payload["feature_settings"])
    text_settings = TextSettings.from_dict(section["text"])
    batch: dict[str, torch.Tensor] = {}
    if "audio" in modalities:
        target = int(payload["framing"]["target_frames"])
        mels = [fit_frames(apply_reference_and_floor(song_log_mel_re_unity(p, settings), settings), target, settings.floor_db,
                           payload["framing"]["eval_crop"]).features for p in audio_paths]
        batch["mel"] = torch.from_numpy(np.stack(mels)[:, None].astype(np.float32))
    if "lyrics" in modalities:
        texts = {str(i): read_lyrics(p) for i, p in enumerate(lyrics_paths)}
        tokens = tokenize_texts(texts, load_tokenizer(folder / "text"), text_settings.max_length_tokens, text_settings.truncation)
        batch["input_ids"], batch["attention_mask"] = tokens.input_ids, tokens.attention_mask
    with torch.no_grad():
        outputs = model(batch)
    predictions: dict[str, np.ndarray] = {}
    if "av" in outputs:
        predictions["av"] = outputs["av"].numpy()
    if "logits" in outputs:
        predictions["probabilities"] = torch.softmax(outputs["logits"], dim=1).numpy()
    return predictions, payload


def predict_bimodal(run_dir: str | Path, audio_paths: list[str | Path] | None,
                    lyrics_paths: list[str | Path] | None = None) -> list[dict[str, Any]]:
    """Arousal, valence and quadrant for each song, averaged over every fold/seed model of the run.

    `audio_paths[i]` and `lyrics_paths[i]` are one song; a model trained on one modality needs only that one.
    """
    count = len(audio_paths) if audio_paths else len(lyrics_paths or [])
    if count == 0:
        raise ConfigError("no songs given: pass audio files (and --lyrics files for a lyrics model)")
    outputs = [_predict_with(folder, audio_paths, lyrics_paths, count) for folder in find_model_dirs(run_dir)]
    averaged = {key: np.mean([o[key] for o, _ in outputs], axis=0) for key in outputs[0][0]}
    section = outputs[0][1]["bimodal"]
    midpoint = float(np.mean([payload["av_midpoint"] for _, payload in outputs]))
    quadrants = _quadrant_predictions(averaged, section["quadrant_from"], midpoint)
    results = []
    for row in range(count):
        entry: dict[str, Any] = {
            "audio": str(audio_paths[row]) if audio_paths else None,
            "lyrics": str(lyrics_paths[row]) if lyrics_paths else None,
            "quadrant": quadrants[row],
            "models": len(outputs),
        }
        if "av" in averaged:
            entry.update({name: float(averaged["av"][row, c]) for c, name in enumerate(TARGET_NAMES)})
        if "probabilities" in averaged:
            entry["quadrant_probabilities"] = {q: float(p) for q, p in zip(QUADRANT_CLASSES, averaged["probabilities"][row])}
        results.append(entry)
    return results
