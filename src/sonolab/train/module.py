"""The Lightning module for classification: AdamW, optional scheduler, validation metrics per epoch."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import nn

from sonolab.evaluate.metrics import classification_metrics
from sonolab.train.data import reseed_torch_for_epoch
from sonolab.train.mixup import mix_batch




class ClassifierModule(L.LightningModule):
    """Wraps any `nn.Module` classifier. Logs `train_loss`, `train_accuracy`, `val_loss`, `val_accuracy`,
    `val_balanced_accuracy` and `val_macro_f1` once per epoch.

    No hyperparameters are pickled into checkpoints: the run folder stores the recipe as YAML, so
    checkpoints hold only tensors and plain values and load with `torch.load(weights_only=True)`.
    """

    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        lr: float = 1e-3,
        weight_decay: float = 1e-2,
        scheduler: str = "none",
        max_epochs: int = 30,
        class_weights: list[float] | None = None,
        label_smoothing: float = 0.0,
        seed: int = 0,
        monitor: str = "val_loss",
        monitor_mode: str = "min",
        mixup_alpha: float = 0.0,
        backbone_lr_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.model = model
        self.num_classes = num_classes
        self.lr = lr
        self.weight_decay = weight_decay
        self.scheduler_name = scheduler
        self.max_epochs_for_schedule = max_epochs
        self.seed = seed
        self.monitor = monitor
        self.monitor_mode = monitor_mode
        weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.register_buffer("class_weight", weight, persistent=False)
        self.label_smoothing = label_smoothing
        self.mixup_alpha = mixup_alpha
        self.backbone_lr_scale = float(backbone_lr_scale)
        self._val_outputs: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._train_correct = 0
        self._train_seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        weight = self.class_weight.to(logits.dtype) if self.class_weight is not None else None
        return nn.functional.cross_entropy(logits, labels, weight=weight, label_smoothing=self.label_smoothing)

    def on_train_epoch_start(self) -> None:
        # Dropout and any other torch randomness: reseeded per epoch so a resumed run matches an uninterrupted one.
        reseed_torch_for_epoch(self.seed, self.current_epoch)
        self._train_correct = 0
        self._train_seen = 0

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> torch.Tensor:
        features, labels = batch
        if self.mixup_alpha > 0:
            mixed = mix_batch(features, self.mixup_alpha)
            logits = self(mixed.features)
            loss = mixed.weight * self._loss(logits, labels) + (1.0 - mixed.weight) * self._loss(logits, labels[mixed.partner])
        else:
            logits = self(features)
            loss = self._loss(logits, labels)
        self._train_correct += int((logits.argmax(dim=1) == labels).sum())
        self._train_seen += int(labels.numel())
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=labels.numel())
        return loss

    def on_train_epoch_end(self) -> None:
        if self._train_seen:
            self.log("train_accuracy", self._train_correct / self._train_seen)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> None:
        features, labels = batch
        logits = self(features)
        self._val_outputs.append((logits.detach().float().cpu(), labels.detach().cpu()))

    def on_validation_epoch_end(self) -> None:
        if not self._val_outputs:
            return
        logits = torch.cat([item[0] for item in self._val_outputs])
        labels = torch.cat([item[1] for item in self._val_outputs])
        self._val_outputs.clear()
        loss = nn.functional.cross_entropy(logits, labels)  # unweighted: comparable across runs
        probabilities = torch.softmax(logits, dim=1).numpy()
        scores = classification_metrics(labels.numpy(), probabilities, [str(i) for i in range(self.num_classes)])
        self.log("val_loss", loss)
        self.log("val_accuracy", scores["accuracy"])
        self.log("val_balanced_accuracy", scores["balanced_accuracy"])
        self.log("val_macro_f1", scores["macro_f1"])

    def configure_optimizers(self) -> Any:
        from sonolab.train.schedules import optimiser_config

        if hasattr(self.model, "parameter_groups"):  # a pretrained backbone trains at lr x backbone_lr_scale
            groups = self.model.parameter_groups(self.lr, self.backbone_lr_scale)
            optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=self.lr, weight_decay=self.weight_decay)
        else:
            optimizer = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        return optimiser_config(optimizer, self.scheduler_name, self.max_epochs_for_schedule, self.monitor, self.monitor_mode)
