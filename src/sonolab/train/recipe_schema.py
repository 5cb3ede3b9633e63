"""The typed schema of a recipe's fixed sections (pydantic, torch-free): types, ranges and choices.

`sonolab.train.config` merges a recipe over its defaults and checks unknown keys; this schema then checks
every value's type and range, so `training.epochs: ten` or `split.val_fraction: 1.5` fail when the recipe is
read, with one line naming the key, never minutes into a run. Free-form sections (`model`, the feature settings,
task sections) are checked by their own dataclasses.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sonolab.errors import ConfigError
from sonolab.models.group_spreading import GRAPHS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FramingSection(_Strict):
    target_frames: int = Field(gt=0)
    crop: Literal["first", "middle", "random", "max_energy"]
    eval_crop: Literal["first", "middle", "random", "max_energy"]


class SplitSection(_Strict):
    strategy: Literal["official", "group-kfold", "loso", "holdout"]
    folds: int = Field(ge=2)
    seed: int
    val_fraction: float = Field(gt=0, lt=1)
    test_fraction: float = Field(gt=0, lt=1)
    max_folds: Optional[int] = Field(default=None, ge=1)


class TrainingSection(_Strict):
    epochs: int = Field(ge=1)
    min_epochs: int = Field(ge=0)
    batch_size: int = Field(ge=1)
    lr: float = Field(gt=0)
    backbone_lr_scale: float = Field(ge=0)
    weight_decay: float = Field(ge=0)
    patience: int = Field(ge=0)
    monitor: str
    monitor_mode: Optional[Literal["min", "max"]] = None
    restore: Literal["best", "last"]
    gradient_clip_norm: Optional[float] = Field(default=None, ge=0)
    scheduler: Literal["none", "cosine", "plateau"]
    class_weights: bool
    balanced_sampling: bool
    num_workers: Union[Literal["auto"], int]
    accelerator: str
    devices: Union[int, str, list[int]]
    num_nodes: int = Field(ge=1)
    strategy: str
    precision: Union[str, int]
    label_smoothing: float = Field(ge=0, lt=1)
    mixup_alpha: float = Field(ge=0)
    ema_decay: float = Field(ge=0, lt=1)
    deterministic: bool


class GroupSpreadingSection(_Strict):
    enabled: bool
    neighbours: int = Field(ge=1)
    alpha: float = Field(gt=0, lt=1)
    graph: Literal[GRAPHS]


class RecipeSchema(BaseModel):
    model_config = ConfigDict(extra="allow")  # feature, model, augment and task sections have their own checks

    task: str
    name: Optional[str] = None
    dataset: str
    root: Optional[str] = None
    cache_dir: Optional[str] = None
    framing: FramingSection
    split: SplitSection
    training: TrainingSection
    seeds: list[int] = Field(min_length=1)
    group_spreading: GroupSpreadingSection


def check_recipe_types(resolved: dict[str, Any], source: str) -> None:
    """Raise one ConfigError naming the first key whose value has the wrong type or range."""
    try:
        RecipeSchema.model_validate(resolved)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"{source}: recipe key '{key}': {first['msg']} (got {first.get('input')!r})") from None
