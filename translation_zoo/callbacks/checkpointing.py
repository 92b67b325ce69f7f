"""Checkpoints for long, interruptible runs: ``last.ckpt`` within epochs, crash-safe writes, nothing after divergence.

Resume with ``lightning fit --config <recipe> --ckpt_path last`` (the CLI finds the newest ``last.ckpt`` of the
recipe's earlier runs) or ``Trainer.fit(model, datamodule, ckpt_path=...)``. With the zoo's data modules and
models, a run resumed from a checkpoint written in the middle of an epoch continues exactly as the uninterrupted
run would have (see ``translation_zoo.data.resumable`` and ``TranslationGAN.on_save_checkpoint``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ..utils.checkpoint import atomic_torch_save, stale_temp_files


def _is_local(path: Any) -> bool:
    text = str(path)
    return "://" not in text or text.startswith("file://")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file beside the target, fsyncs it and renames it into place.

    A process killed mid-write (or a full disk, or a power cut) leaves the previous checkpoint intact and
    loadable. Lightning's own writer stages the file in the system temp directory and moves it: that is a copy,
    not an atomic rename, when the temp directory is on another file system, and nothing is fsynced. Remote
    paths (``s3://`` ...) are left to Lightning.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None or not _is_local(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        atomic_torch_save(checkpoint, str(path).removeprefix("file://"))


class ResumableCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that also refreshes ``last.ckpt`` every ``every_n_batches`` training batches.

    On top of ``ModelCheckpoint`` (whose arguments it takes, with ``save_last=True``):

    * ``last.ckpt`` is written after every ``every_n_batches``-th batch of an epoch and at every epoch end (after
      the LR schedulers stepped), so an interrupted run loses at most ``every_n_batches`` batches. Batches, not
      ``trainer.global_step``: that counts optimiser steps, 2 per batch for pix2pix and CycleGAN. An epoch's last
      batch is left to the end-of-epoch save that follows it (a checkpoint written between the last batch and
      the epoch end would, on resume, make Lightning skip that epoch's end: the scheduler step and validation).
    * Writes are crash-safe: unless the strategy already has a custom ``CheckpointIO``, it installs
      :class:`AtomicCheckpointIO`; leftovers of a write killed midway are removed at the next start.
    * Nothing is written once training diverged (a ``FloatingPointError``), even with ``save_on_exception``.

    Args:
        every_n_batches: training batches between ``last.ckpt`` writes within an epoch (0: epoch ends only).
        dirpath: folder of the checkpoints (default: ``<log dir>/checkpoints``).
        filename: name pattern of the top-k checkpoints, e.g. ``"best-{epoch}"``.
        monitor: metric ranking the top-k checkpoints (None: the most recent ones).
        mode: ``"min"`` or ``"max"`` for ``monitor``.
        save_top_k: top-k checkpoints to keep besides ``last.ckpt`` (-1: all, 0: none).
        every_n_epochs: epochs between top-k checkpoints.
        save_last: keep ``last.ckpt``.
        save_on_exception: also save when training raises (never after divergence).
        verbose: log each save.
    """

    def __init__(
        self,
        every_n_batches: int = 0,
        dirpath: str | None = None,
        filename: str | None = None,
        monitor: str | None = None,
        mode: Literal["min", "max"] = "min",
        save_top_k: int = 1,
        every_n_epochs: int | None = None,
        save_last: bool = True,
        save_on_exception: bool = False,
        verbose: bool = False,
    ) -> None:
        if isinstance(every_n_batches, bool) or not isinstance(every_n_batches, int) or every_n_batches < 0:
            raise ValueError(f"every_n_batches must be an integer >= 0, got {every_n_batches!r}")
        if save_last not in (True, False):
            # "link" would point last.ckpt at the newest top-k file, which is older than an intra-epoch save.
            raise ValueError(f"save_last must be true or false, got {save_last!r}")
        if every_n_batches and not save_last:
            raise ValueError("every_n_batches writes last.ckpt: it needs save_last=True")
        super().__init__(
            dirpath=dirpath,
            filename=filename,
            monitor=monitor,
            mode=mode,
            save_top_k=save_top_k,
            every_n_epochs=every_n_epochs,
            save_last=save_last,
            save_on_exception=save_on_exception,
            verbose=verbose,
        )
        self.every_n_batches = every_n_batches

    @property
    def state_key(self) -> str:
        return self._generate_state_key(
            monitor=self.monitor,
            mode=self.mode,
            every_n_epochs=self._every_n_epochs,
            every_n_batches=self.every_n_batches,
        )

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        if trainer.is_global_zero and self.dirpath is not None and _is_local(self.dirpath):
            for leftover in stale_temp_files(Path(str(self.dirpath).removeprefix("file://"))):
                leftover.unlink(missing_ok=True)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        # Replaces ModelCheckpoint's step-based saving (every_n_train_steps is not offered here).
        if self.every_n_batches < 1 or (batch_idx + 1) % self.every_n_batches:
            return
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch or self._should_skip_saving_checkpoint(trainer):
            return
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Runs after the LightningModule's on_train_epoch_end (checkpoint callbacks come last), so the saved
        # schedulers have stepped. ModelCheckpoint refreshes last.ckpt only with a top-k save; do it every epoch.
        super().on_train_epoch_end(trainer, pl_module)
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, FloatingPointError) or getattr(pl_module, "_diverged", None):
            return  # the parameters or the optimiser state may be poisoned: keep the last good checkpoint
        super().on_exception(trainer, pl_module, exception)


def find_last_checkpoint(trainer: L.Trainer) -> Path | None:
    """The newest ``last.ckpt`` (or ``last-v<n>.ckpt``) that an earlier run with this trainer's settings wrote.

    Looks in the ``dirpath`` of every ``ModelCheckpoint`` that has one, and in ``<save_dir>/<name>/*/checkpoints``
    of the first logger (every version: a resumed run logs to a new version folder), or in
    ``<default_root_dir>/checkpoints`` without a logger. Lightning's own ``ckpt_path="last"`` looks only in the
    new run's folder, where there is nothing yet.
    """
    folders = [Path(cb.dirpath) for cb in trainer.checkpoint_callbacks if getattr(cb, "dirpath", None)]
    if trainer.loggers:
        logger = trainer.loggers[0]
        root = Path(logger.save_dir or trainer.default_root_dir) / str(logger.name)
        folders += sorted(root.glob("*/checkpoints"))
    else:
        folders.append(Path(trainer.default_root_dir) / "checkpoints")
    found = [p for f in folders if f.is_dir() for p in f.iterdir() if _LAST.fullmatch(p.name) and p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime, default=None)


_LAST = re.compile(r"last(-v\d+)?\.ckpt")

__all__ = ["AtomicCheckpointIO", "ResumableCheckpoint", "find_last_checkpoint"]
