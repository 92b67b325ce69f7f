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

    Args:
        output_dir: where to write; default ``<log_dir>/predictions``.
        extension: force a file extension, e.g. ``.png``.
        overwrite: replace existing files.
    """

    def __init__(self, output_dir: str | None = None, extension: str | None = None, overwrite: bool = False):
        super().__init__(write_interval="batch")
        self.output_dir = output_dir
        self.extension = extension
        self.overwrite = overwrite

    def _root(self, trainer: L.Trainer) -> Path:
        return (
            Path(self.output_dir)
            if self.output_dir
            else Path(trainer.log_dir or trainer.default_root_dir) / "predictions"
        )

    def _target(self, trainer: L.Trainer, rel: str) -> Path:
        target = self._root(trainer) / rel
        return target.with_suffix(self.extension) if self.extension else target

    def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if self.overwrite:
            return
        for rel in batch.get("path") or []:
            if self._target(trainer, rel).exists():
                raise FileExistsError(
                    f"{self._target(trainer, rel)} already exists; choose another output_dir or set overwrite=True"
                )

    def write_on_batch_end(self, trainer, pl_module, prediction: Any, batch_indices, batch, batch_idx, dataloader_idx):
        paths = prediction.get("path") or [f"{batch_idx:06d}_{i:03d}.png" for i in range(len(prediction["fake"]))]
        images = to_unit(prediction["fake"])
        if prediction["fake"].shape[1] == 1:
            images = images[:, :1]
        for image, rel in zip(images, paths):
            target = self._target(trainer, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            save_image(image, target)
