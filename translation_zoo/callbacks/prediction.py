"""Write translated images of ``lightning predict`` to a folder, keeping the input file names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import BasePredictionWriter
from torchvision.utils import save_image

from .images import to_unit


class TranslationWriter(BasePredictionWriter):
    """Save each prediction ``{"fake": (N, C, H, W), "path": list[str]}`` as ``<output_dir>/<path>``.

    Relative paths (and sub-folders) of the inputs are kept; the extension is kept too unless
    ``extension`` is set (e.g. ``.png`` to avoid JPEG re-compression). Existing files are not overwritten unless
    ``overwrite=True``: a second run into the same folder fails before writing anything.

    It also carries the predict-time options of the model (set on it when prediction starts), e.g.
    ``--predict_writer.conditions '{direction: b2a}' --predict_writer.num_samples 5``: with several samples per
    input, ``<stem>.png`` becomes ``<stem>_0.png`` ... ``<stem>_4.png``.

    Args:
        output_dir: where to write; default ``<log_dir>/predictions``.
        extension: force a file extension, e.g. ``.png``.
        overwrite: replace existing files.
        conditions: the model's inference conditions for every input (``model.inference_conditions()``), e.g.
            ``{"direction": "b2a"}``, ``{"target": 2}``, ``{"style": "style.png"}``.
        num_samples: outputs per input (multimodal models draw a new code for each).
    """

    def __init__(
        self,
        output_dir: str | None = None,
        extension: str | None = None,
        overwrite: bool = False,
        conditions: dict[str, Any] | None = None,
        num_samples: int = 1,
    ):
        super().__init__(write_interval="batch")
        if num_samples < 1:
            raise ValueError(f"predict_writer.num_samples must be >= 1, got {num_samples}")
        self.output_dir = output_dir
        self.extension = extension
        self.overwrite = overwrite
        self.conditions = dict(conditions or {})
        self.num_samples = num_samples

    def on_predict_start(self, trainer, pl_module) -> None:
        # Checked here, before the first batch: an unknown condition names the model's conditions.
        pl_module.check_conditions(self.conditions, names_only=True)
        pl_module.predict_conditions = self.conditions
        pl_module.predict_num_samples = self.num_samples

    def _root(self, trainer: L.Trainer) -> Path:
        return (
            Path(self.output_dir)
            if self.output_dir
            else Path(trainer.log_dir or trainer.default_root_dir) / "predictions"
        )

    def _targets(self, trainer: L.Trainer, rel: str) -> list[Path]:
        """Where the outputs of input ``rel`` go: one file, or one per sample."""
        target = self._root(trainer) / rel
        target = target.with_suffix(self.extension) if self.extension else target
        if self.num_samples == 1:
            return [target]
        return [target.with_name(f"{target.stem}_{k}{target.suffix}") for k in range(self.num_samples)]

    def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if self.overwrite:
            return
        for rel in batch.get("path") or []:
            for target in self._targets(trainer, rel):
                if target.exists():
                    raise FileExistsError(f"{target} already exists; choose another output_dir or set overwrite=True")

    def write_on_batch_end(self, trainer, pl_module, prediction: Any, batch_indices, batch, batch_idx, dataloader_idx):
        paths = prediction.get("path") or [f"{batch_idx:06d}_{i:03d}.png" for i in range(len(prediction["fake"]))]
        samples = prediction.get("samples") or [prediction["fake"]]
        for k, fake in enumerate(samples):
            images = to_unit(fake)
            if fake.shape[1] == 1:
                images = images[:, :1]
            for image, rel in zip(images, paths):
                target = self._targets(trainer, rel)[k]
                target.parent.mkdir(parents=True, exist_ok=True)
                save_image(image, target)
