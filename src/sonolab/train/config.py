"""Recipes: YAML files that hold every experiment setting, with defaults, validation and overrides.

A recipe is a nested mapping. Unknown keys are errors that name the key and the file, so a typo never
silently falls back to a default. `--set key.sub=value` overrides are parsed as YAML values.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from sonolab.audio.augment import AugmentSettings
from sonolab.audio.features import FeatureSettings
from sonolab.errors import ConfigError

TRAINING_DEFAULTS: dict[str, Any] = {
    "epochs": 30,
    "min_epochs": 1,
    "batch_size": 32,
    "lr": 1e-3,
    "backbone_lr_scale": 0.1,  # a pretrained backbone (model.pretrained: true, e.g. aisfx_cnn9) trains at lr x this
    "weight_decay": 1e-2,
    "patience": 8,
    "monitor": "val_loss",  # any logged validation metric: val_loss, val_accuracy, val_balanced_accuracy, val_macro_f1
    "monitor_mode": None,  # None: min for *loss, max otherwise
    # best: restore the epoch with the best monitor (early stopping with `patience`); last: keep the final epoch
    # (needs patience 0; with a schedule that anneals the learning rate, validation then selects nothing and
    # its scores are unbiased estimates)
    "restore": "best",
    "gradient_clip_norm": 1.0,  # max L2 norm of all gradients (0 or null disables clipping)
    "scheduler": "none",  # none | cosine | plateau
    "class_weights": False,  # weight the loss by inverse class frequency of the training partition
    "balanced_sampling": False,  # draw training batches with inverse-frequency weights
    "num_workers": "auto",  # data-loader worker processes for training batches; auto: 0 for cached features
    # (in-process indexing is faster than any worker), CPU count - 1 (at most 4) for on-the-fly waveform augmentation
    "accelerator": "auto",
    "devices": 1,  # GPUs (or processes) per node; >1 with strategy ddp trains data-parallel (Lightning DDP)
    "num_nodes": 1,
    "strategy": "auto",  # auto | ddp | ddp_spawn | ... (Lightning strategies; multi-GPU is documented, not tested)
    "precision": "auto",  # auto: 16-mixed on a GPU, 32-true on CPU
    "label_smoothing": 0.0,
    "mixup_alpha": 0.0,  # > 0: train on Beta(alpha, alpha) mixes of example pairs and their targets; 0 disables
    "ema_decay": 0.0,  # in (0, 1): validate, checkpoint and restore an exponential moving average of the weights
    # (updated every step; 0.99 averages over ~100 steps); 0 disables
    "deterministic": True,
}

RECIPE_DEFAULTS: dict[str, Any] = {
    "task": "classification",
    "name": None,
    "dataset": None,
    "root": None,
    "cache_dir": None,  # default: <run>/cache
    "features": {},  # FeatureSettings fields
    "framing": {"target_frames": 128, "crop": "random", "eval_crop": "middle"},
    "split": {"strategy": "group-kfold", "folds": 5, "seed": 0, "val_fraction": 0.15, "test_fraction": 0.15, "max_folds": None},
    "model": {"name": "vgg_cnn"},
    "training": TRAINING_DEFAULTS,
    "seeds": [0],
    "augment": {
        "spec_augment": {
            "enabled": False,
            "time_masks": 2,
            "max_time_mask_frames": 12,
            "frequency_masks": 2,
            "max_frequency_mask_bins": 8,
        },
        # On-the-fly waveform augmentation (audiomentations) of the training partition, per item and epoch;
        # the log-mel is recomputed from the augmented audio in data-loader workers. Fields: AugmentSettings.
        "waveform": {"enabled": False, **AugmentSettings().to_dict()},
        # Feature-domain warps drawn per item and epoch (sonolab.audio.augment.spectrogram_warp), before cropping.
        "spectrogram_warp": {
            "enabled": False,
            "max_frequency_scale": 0.1,  # mel axis scaled by 1 +/- this fraction (another speaker's vocal tract)
            "max_time_stretch": 0.15,  # time axis stretched by 1 +/- this fraction
            "max_gain_db": 6.0,  # level change in dB, +/- (the floor stays the floor)
        },
    },
    "sweep": {},
    # A classical baseline scored on the same folds and shown beside the model (bimodal: on the quadrants).
    "baseline": {"enabled": True, "features": {"kind": "functionals"}, "head": {"name": "linear_svm"}},
    # The leakage audit before training: groups and augmented parents always; audio content (identical audio and
    # re-cut / re-encoded / noisy / pitch-shifted / stretched copies) `always`, `never`, or `auto`: when the dataset
    # holds at most `max_audio_minutes` of audio (the content index costs ~8 min for FSDD's 20 min of audio on 2 cores).
    "audit": {"content": "auto", "max_audio_minutes": 30.0},
    # Transductive smoothing of each test group's predictions over a nearest-neighbour graph of the group's own
    # clips (sonolab.models.group_spreading; no labels, no other group). Off by default; a report that used it says so.
    "group_spreading": {"enabled": False, "neighbours": 5, "alpha": 0.8, "graph": "inputs"},
}
BASELINE_KEYS = ("enabled", "features", "head")

# Sections whose keys are free-form (validated elsewhere): model options depend on the model name.
_FREE_SECTIONS = {"model", "sweep", "baseline"}


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key not in _FREE_SECTIONS - {"sweep"}:
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _check_keys(recipe: dict[str, Any], defaults: dict[str, Any], source: str, prefix: str = "") -> None:
    for key, value in recipe.items():
        dotted = f"{prefix}{key}"
        if key not in defaults:
            raise ConfigError(f"{source}: unknown recipe key '{dotted}' (known here: {', '.join(sorted(defaults))})")
        if prefix == "" and key in _FREE_SECTIONS:
            continue
        if dotted == "features":
            from sonolab.train.feature_section import SECTION_KEYS, feature_kind

            if feature_kind(value) == "logmel":
                known = {field.name for field in fields(FeatureSettings)} | set(SECTION_KEYS)
                unknown = sorted(set(value or {}) - known)
                if unknown:
                    raise ConfigError(f"{source}: unknown recipe key 'features.{unknown[0]}' (known: {', '.join(sorted(known))})")
            continue  # other kinds: their settings class names any unknown key (check_feature_section)
        if isinstance(defaults[key], dict) and defaults[key] and isinstance(value, dict):
            _check_keys(value, defaults[key], source, dotted + ".")


def validate_recipe(recipe: dict[str, Any], source: str = "recipe") -> dict[str, Any]:
    """Merge `recipe` over the defaults and check every key; returns the resolved recipe."""
    if not isinstance(recipe, dict):
        raise ConfigError(f"{source}: a recipe must be a mapping of sections, got {type(recipe).__name__}")
    from sonolab.train.tasks import get_task, section_defaults, section_task

    task_sections = section_defaults()
    defaults = {**RECIPE_DEFAULTS, **task_sections}
    _check_keys(recipe, defaults, source)
    task_name = recipe.get("task") or "classification"
    for section in task_sections:
        if section in recipe and section_task(section) != task_name:
            raise ConfigError(f"{source}: the '{section}' section applies to task {section_task(section)}, not {task_name} (fix: remove it or set task: {section_task(section)})")
    resolved = _deep_merge(RECIPE_DEFAULTS, recipe)
    resolved["baseline"] = {**RECIPE_DEFAULTS["baseline"], **(recipe.get("baseline") or {})}
    unknown = sorted(set(resolved["baseline"]) - set(BASELINE_KEYS))
    if unknown:
        raise ConfigError(f"{source}: unknown recipe key 'baseline.{unknown[0]}' (known: {', '.join(BASELINE_KEYS)})")
    for section, section_values in task_sections.items():
        if section_task(section) == task_name:
            resolved[section] = _deep_merge(section_values, recipe.get(section) or {})
    if not resolved.get("dataset"):
        raise ConfigError(f"{source}: the recipe needs 'dataset' (e.g. fsdd, emodb, esc50, folder)")
    for key in ("lr", "backbone_lr_scale", "weight_decay", "gradient_clip_norm", "label_smoothing", "mixup_alpha", "ema_decay"):
        value = _number_or_text(resolved["training"].get(key))
        if value is not None and not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: training.{key} must be a number, got {value!r}")
        resolved["training"][key] = value
    if resolved["audit"]["content"] not in ("auto", "always", "never"):
        raise ConfigError(f"{source}: audit.content must be auto, always or never, got {resolved['audit']['content']!r}")
    if not 0 <= (resolved["training"].get("ema_decay") or 0) < 1:
        raise ConfigError(f"{source}: training.ema_decay must be in [0, 1) (0 disables the average), got {resolved['training']['ema_decay']!r}")
    if (resolved["training"].get("mixup_alpha") or 0) < 0:
        raise ConfigError(f"{source}: training.mixup_alpha must be >= 0 (0 disables mixup), got {resolved['training']['mixup_alpha']!r}")
    seeds = resolved["seeds"]
    if isinstance(seeds, int):
        resolved["seeds"] = [seeds]
    if not resolved["seeds"] or not all(isinstance(seed, int) for seed in resolved["seeds"]):
        raise ConfigError(f"{source}: 'seeds' must be a non-empty list of integers, got {seeds!r}")
    if resolved["training"]["scheduler"] not in ("none", "cosine", "plateau"):
        raise ConfigError(f"{source}: training.scheduler must be none, cosine or plateau, got {resolved['training']['scheduler']!r}")
    try:
        restore_choice(resolved["training"])
        monitor_mode(resolved["training"])
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None
    from sonolab.train.feature_section import check_feature_section
    from sonolab.train.recipe_schema import check_recipe_types

    try:
        check_feature_section(resolved["features"])  # raises ConfigError on a bad value
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None

    check_recipe_types(resolved, source)
    for dotted, values in (resolved.get("sweep") or {}).items():
        if dotted == "split" or dotted.startswith("split.") or dotted in ("dataset", "root", "task", "seeds"):
            raise ConfigError(f"{source}: sweep.{dotted}: sweeping '{dotted}' would change the data or the test partitions "
                              "between trials, so trials could not be compared (fix: run separate recipes)")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{source}: sweep.{dotted} must be a non-empty list of values")
        get_dotted(resolved, dotted, source)
    plugin = get_task(task_name)
    if "monitor" not in (recipe.get("training") or {}):
        resolved["training"]["monitor"] = plugin.default_monitor(resolved)
    for _, _, trial in expand_sweep(resolved):
        try:
            plugin.check(trial)
            check_recipe_types(trial, source)
            check_feature_section(trial["features"])
            restore_choice(trial["training"])
        except ConfigError as error:
            raise ConfigError(f"{source}: {error}") from None
        monitor = trial["training"]["monitor"]
        logged = plugin.validation_metrics(trial)
        if monitor not in logged:
            raise ConfigError(f"{source}: training.monitor {monitor!r} is not logged by the {task_name} task with these "
                              f"settings (it logs: {', '.join(logged)})")
    return resolved


def monitor_mode(training: dict[str, Any]) -> str:
    """`min` or `max` for the monitor (None: min for a loss, max otherwise)."""
    mode = training.get("monitor_mode")
    if mode is None:
        return "min" if str(training["monitor"]).endswith("loss") else "max"
    if mode not in ("min", "max"):
        raise ConfigError(f"training.monitor_mode must be min or max, got {mode!r}")
    return mode


def restore_choice(training: dict[str, Any]) -> str:
    """`best` (the epoch with the best validation monitor) or `last` (the final epoch; no early stopping)."""
    choice = training.get("restore", "best")
    if choice not in ("best", "last"):
        raise ConfigError(f"training.restore must be best or last, got {choice!r}")
    if choice == "last" and training.get("patience"):
        raise ConfigError("training.restore=last keeps the final epoch, so early stopping cannot end the run (fix: set training.patience=0)")
    return choice


def get_dotted(recipe: dict[str, Any], dotted: str, source: str = "recipe") -> Any:
    node: Any = recipe
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"{source}: unknown recipe key '{dotted}'")
        node = node[part]
    return node


def set_dotted(recipe: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `a.b.c` in a nested mapping, creating intermediate mappings."""
    node = recipe
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"cannot set '{dotted}': '{part}' is not a section")
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """`key.sub=value` -> (key.sub, YAML-parsed value)."""
    if "=" not in text:
        raise ConfigError(f"--set expects key.sub=value, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set expects key.sub=value, got {text!r}")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {key}: value {raw!r} is not valid YAML ({error})") from error
    return key, _number_or_text(value)


def _number_or_text(value: Any) -> Any:
    """YAML 1.1 reads `1e-4` (no dot) as text; read such values as the numbers they are."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """Read a recipe YAML, apply `--set` overrides, validate, and return the resolved recipe."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: recipe not found (fix: give a YAML file, e.g. recipes/fsdd_cnn.yaml)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from error
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a recipe must be a mapping of sections")
    for override in overrides or []:
        key, value = parse_override(override)
        set_dotted(raw, key, value)
    return validate_recipe(raw, str(path))


def expand_sweep(recipe: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """The grid of `sweep:` as (trial name, the values set, the recipe with them applied)."""
    sweep = recipe.get("sweep") or {}
    if not sweep:
        return [("", {}, recipe)]
    keys = sorted(sweep)
    trials = []
    for index, combination in enumerate(itertools.product(*(sweep[key] for key in keys))):
        trial = copy.deepcopy(recipe)
        trial["sweep"] = {}
        values = dict(zip(keys, combination))
        for key, value in values.items():
            set_dotted(trial, key, value)
        trials.append((f"trial_{index:02d}", values, trial))
    return trials


def dump_recipe(recipe: dict[str, Any]) -> str:
    return yaml.safe_dump(recipe, sort_keys=False)
