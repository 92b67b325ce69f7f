"""Image grids for people: input | output | target rows, logged to whichever logger is active."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from torchvision.utils import make_grid, save_image


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] images -> [0, 1], 3 channels (grayscale repeated) so mixed-channel rows tile."""
    x = (x.detach().float().clamp(-1, 1) + 1) / 2
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x[:, :3]


def compose_grid(rows: list[list[torch.Tensor]], max_images: int) -> torch.Tensor:
    """One (3, H', W') grid: for each sample, each row of the model's visuals side by side."""
    n = min(max_images, rows[0][0].shape[0])
    lines = []
    for i in range(n):
        for row in rows:
            lines.append(torch.cat([to_unit(col[i : i + 1]) for col in row], dim=-1))
    width = max(line.shape[-1] for line in lines)
    lines = [torch.nn.functional.pad(line, (0, width - line.shape[-1])) for line in lines]
    return make_grid(torch.cat(lines), nrow=1, padding=2, pad_value=1.0)


class ImageGridCallback(L.Callback):
    """Log grids of the model's :meth:`visuals` (e.g. A | G(A) | B) every ``every_n_batches`` training batches
    and after each validation epoch.

    The grid is computed on a fixed batch (the first validation batch if there is one, else the first training
    batch) so that grids from different steps are comparable. It goes to W&B (``log_image``), TensorBoard
    (``add_image``) and, always unless ``save_png=False``, to PNG files under ``<log_dir>/images/``.
    Only rank 0 logs.

    Args:
        every_n_batches: training batches between grids (0: only after validation).
        max_images: samples per grid.
        save_png: also write PNG files.
    """

    def __init__(self, every_n_batches: int = 500, max_images: int = 4, save_png: bool = True) -> None:
        self.every_n_batches = every_n_batches
        self.max_images = max_images
        self.save_png = save_png
        self._batch: dict[str, Any] | None = None
        self._seen = 0

    @staticmethod
    def _head(batch: dict[str, Any], n: int) -> dict[str, Any]:
        return {k: v[:n].detach().clone() if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx == 0 and dataloader_idx == 0 and not trainer.sanity_checking:
            self._batch = self._head(batch, self.max_images)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking and self._batch is not None:
            self._log(trainer, pl_module, "val/images")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._seen += 1
        if self._batch is None:
            self._batch = self._head(batch, self.max_images)
        if self.every_n_batches and self._seen % self.every_n_batches == 0:
            self._log(trainer, pl_module, "train/images")

    def _log(self, trainer: L.Trainer, pl_module: L.LightningModule, tag: str) -> None:
        # trainer.log_dir is a broadcast from rank 0: ask for it on every rank before rank 0 goes on alone.
        root = Path(trainer.log_dir or trainer.default_root_dir)
        if not trainer.is_global_zero:
            return
        batch = {k: v.to(pl_module.device) if isinstance(v, torch.Tensor) else v for k, v in self._batch.items()}
        was_training = pl_module.training
        pl_module.eval()
        # Fork the RNG so that logging images does not change the training run's random stream.
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            grid = compose_grid(pl_module.visuals(batch), self.max_images).cpu()
        pl_module.train(was_training)
        # The step Lightning logs metrics at (batches), not global_step (which counts each player's optimiser
        # step), so that grids and losses share the x-axis in W&B/TensorBoard.
        step = getattr(trainer.fit_loop.epoch_loop, "_batches_that_stepped", trainer.global_step)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(key=tag, images=[grid], step=step)
            elif isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(tag, grid, global_step=step)
        if self.save_png:
            out = root / "images" / f"{tag.replace('/', '_')}_step{step:07d}_epoch{trainer.current_epoch:03d}.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            save_image(grid, out)


__all__ = ["ImageGridCallback", "compose_grid", "to_unit"]
