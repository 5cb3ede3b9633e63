"""Lightning module for the bimodal model: multi-task loss, per-tower learning rates, text freezing schedule."""

from __future__ import annotations

from dataclasses import dataclass

import lightning.pytorch as pl
import numpy as np
import torch
from torch import nn

from sonolab.evaluate.regression import concordance_correlation
from sonolab.models.bimodal import BimodalModel
from sonolab.models.text import TextSettings


@dataclass(frozen=True)
class OptimiserSettings:
    """Learning rates per tower (`audio`, `text`, `head`) and AdamW weight decay."""

    audio_lr: float = 1e-3
    text_lr: float = 2e-5
    head_lr: float = 1e-3
    weight_decay: float = 1e-2


class BimodalModule(pl.LightningModule):
    """Loss = regression_weight * MSE(arousal, valence) + classification_weight * CE(quadrant).

    The text tower trains per `TextSettings.mode`: never (`frozen`: its weights are not even handed to
    the optimiser), from the start (`finetune`), or after `frozen_epochs` (`finetune_after`).
    """

    def __init__(
        self,
        model: BimodalModel,
        optimiser: OptimiserSettings,
        text_settings: TextSettings | None = None,
        regression_weight: float = 1.0,
        classification_weight: float = 1.0,
        scheduler: str = "none",
        max_epochs: int = 30,
        monitor: str = "val_loss",
        monitor_mode: str = "min",
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.model = model
        self.optimiser_settings = optimiser
        self.text_settings = text_settings
        self.regression_weight = float(regression_weight)
        self.classification_weight = float(classification_weight)
        self._validation: list[dict[str, torch.Tensor]] = []
        self.scheduler_name, self.max_epochs_for_schedule = scheduler, int(max_epochs)
        self.monitor, self.monitor_mode = monitor, monitor_mode
        self.seed = int(seed)
        if model.text_encoder is not None:
            trainable_now = text_settings.trainable_at_epoch(0) if text_settings else True
            model.text_encoder.set_trainable(trainable_now)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.model(batch)

    def _loss(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        parts: dict[str, torch.Tensor] = {}
        total = torch.zeros((), device=batch["av"].device)
        if "av" in outputs and self.regression_weight > 0:
            parts["regression_loss"] = nn.functional.mse_loss(outputs["av"], batch["av"])
            total = total + self.regression_weight * parts["regression_loss"]
        if "logits" in outputs and self.classification_weight > 0:
            parts["classification_loss"] = nn.functional.cross_entropy(outputs["logits"], batch["label"])
            total = total + self.classification_weight * parts["classification_loss"]
        parts["loss"] = total
        return parts

    def on_train_epoch_start(self) -> None:
        from sonolab.train.data import reseed_torch_for_epoch

        reseed_torch_for_epoch(self.seed, self.current_epoch)  # dropout: a resumed run repeats the uninterrupted one
        encoder = self.model.text_encoder
        if encoder is not None and self.text_settings is not None:
            trainable = self.text_settings.trainable_at_epoch(self.current_epoch)
            if trainable != encoder.trainable:
                encoder.set_trainable(trainable)
                encoder.train(True)

    def training_step(self, batch: dict[str, torch.Tensor], batch_index: int) -> torch.Tensor:
        parts = self._loss(self(batch), batch)
        size = batch["av"].shape[0]
        for name, value in parts.items():
            self.log(f"train_{name}", value, on_step=False, on_epoch=True, batch_size=size, prog_bar=name == "loss")
        return parts["loss"]

    def validation_step(self, batch: dict[str, torch.Tensor], batch_index: int) -> None:
        outputs = self(batch)
        parts = self._loss(outputs, batch)
        size = batch["av"].shape[0]
        for name, value in parts.items():
            self.log(f"val_{name}", value, on_step=False, on_epoch=True, batch_size=size, prog_bar=name == "loss")
        record = {"true_av": batch["av"].detach().cpu(), "label": batch["label"].detach().cpu()}
        if "av" in outputs:
            record["pred_av"] = outputs["av"].detach().cpu()
        if "logits" in outputs:
            record["logits"] = outputs["logits"].detach().cpu()
        self._validation.append(record)

    def on_validation_epoch_end(self) -> None:
        if not self._validation:
            return
        joined = {key: torch.cat([step[key] for step in self._validation]) for key in self._validation[0]}
        self._validation.clear()
        if "logits" in joined:
            self.log("val_accuracy", (joined["logits"].argmax(dim=1) == joined["label"]).float().mean(), prog_bar=True)
        if "pred_av" in joined and joined["pred_av"].shape[0] > 1:
            self.log("val_mean_ccc", mean_ccc(joined["true_av"].numpy(), joined["pred_av"].numpy()), prog_bar=True)

    def configure_optimizers(self) -> object:
        from sonolab.train.schedules import optimiser_config

        return optimiser_config(self._optimiser(), self.scheduler_name, self.max_epochs_for_schedule, self.monitor, self.monitor_mode)

    def _optimiser(self) -> torch.optim.Optimizer:
        groups = self.model.parameter_groups()
        rates = {"audio": self.optimiser_settings.audio_lr, "text": self.optimiser_settings.text_lr,
                 "head": self.optimiser_settings.head_lr}
        frozen_for_good = self.text_settings is not None and self.text_settings.mode == "frozen"
        parameter_groups = []
        for name, parameters in groups.items():
            if name == "text" and frozen_for_good:
                continue  # a frozen tower is not handed to the optimiser at all
            parameter_groups.append({"params": parameters, "lr": rates[name], "name": name})
        return torch.optim.AdamW(parameter_groups, weight_decay=self.optimiser_settings.weight_decay)


def mean_ccc(true_av: np.ndarray, predicted_av: np.ndarray) -> float:
    return float(np.mean([concordance_correlation(true_av[:, c], predicted_av[:, c]) for c in range(true_av.shape[1])]))
