"""Checkpoints for long, interruptible runs: ``last.ckpt`` within epochs, crash-safe writes, nothing after divergence.

Resume with ``lightning fit --config <recipe> --ckpt_path last`` (the CLI finds the newest ``last.ckpt`` of the
recipe's earlier runs) or ``Trainer.fit(model, datamodule, ckpt_path=...)``. With the zoo's data modules and
models, a run resumed from a checkpoint written in the middle of an epoch continues exactly as the uninterrupted
run would have, down to every value it logs: step values, validation metrics and the epoch means of the interrupted
epoch, whose running sums travel in the checkpoint (see ``translation_zoo.data.resumable``,
``TranslationGAN.on_save_checkpoint`` and ``translation_zoo.utils.checkpoint.epoch_sums``).
"""

from __future__ import annotations

import re
import time
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
    """``ModelCheckpoint`` that also refreshes ``last.ckpt`` within epochs, crash-safely, and never after divergence.

    On top of ``ModelCheckpoint`` (whose arguments it takes, with ``save_last=True``):

    * ``last.ckpt`` is written after every ``every_n_batches``-th batch of an epoch, and/or at the first batch or
      epoch end ``every_n_minutes`` after the previous write, at epoch ends (after the LR schedulers stepped; with
      ``every_n_minutes`` only when that much time has passed) and when training ends. Batches, not
      ``trainer.global_step``: that counts optimiser steps, 2 per batch for pix2pix and CycleGAN. An epoch's last
      batch is left to the end-of-epoch save that follows it: a checkpoint written between the last batch and the
      epoch end makes Lightning 2.6 skip that epoch's end on resume (its scheduler step and validation).
    * Writes are crash-safe: unless the strategy already has a custom ``CheckpointIO``, it installs
      :class:`AtomicCheckpointIO`; leftovers of a write killed midway are removed at the next start.
    * Nothing is written once training diverged (a ``FloatingPointError``), even with ``save_on_exception``.

    Use ``every_n_minutes`` when a save is expensive next to an epoch (large models on small datasets, e.g. pix2pix
    on facades on a GPU: an epoch takes seconds, a checkpoint ~0.7 GB): it bounds both the work lost to a crash and
    the time spent writing, whatever the hardware.

    Args:
        every_n_batches: training batches between ``last.ckpt`` writes within an epoch (0: not by batch count).
        every_n_minutes: minimum time between ``last.ckpt`` writes, checked at batch and epoch ends (None: not by
            time; then every epoch end writes).
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
        every_n_minutes: float | None = None,
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
        if every_n_minutes is not None and (isinstance(every_n_minutes, bool) or not every_n_minutes >= 0):
            raise ValueError(f"every_n_minutes must be a number >= 0 or None, got {every_n_minutes!r}")
        if save_last not in (True, False):
            # "link" would point last.ckpt at the newest top-k file, which is older than an intra-epoch save.
            raise ValueError(f"save_last must be true or false, got {save_last!r}")
        if (every_n_batches or every_n_minutes is not None) and not save_last:
            raise ValueError("every_n_batches and every_n_minutes write last.ckpt: they need save_last=True")
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
        self.every_n_minutes = every_n_minutes
        self._last_write = time.monotonic()

    @property
    def state_key(self) -> str:
        return self._generate_state_key(
            monitor=self.monitor,
            mode=self.mode,
            every_n_epochs=self._every_n_epochs,
            every_n_batches=self.every_n_batches,
            every_n_minutes=self.every_n_minutes,
        )

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        if trainer.is_global_zero and self.dirpath is not None and _is_local(self.dirpath):
            for leftover in stale_temp_files(Path(str(self.dirpath).removeprefix("file://"))):
                leftover.unlink(missing_ok=True)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._last_write = time.monotonic()

    def _time_is_up(self, trainer: L.Trainer) -> bool:
        if self.every_n_minutes is None:
            return False
        up = time.monotonic() - self._last_write >= 60 * self.every_n_minutes
        # Clocks differ between ranks: rank 0 decides, or the ranks would disagree on when to save and deadlock.
        return bool(trainer.strategy.broadcast(up)) if trainer.world_size > 1 else up

    def _write_last(self, trainer: L.Trainer) -> None:
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        self._last_write = time.monotonic()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        # Replaces ModelCheckpoint's step-based saving (every_n_train_steps is not offered here).
        due = self._time_is_up(trainer)  # first: every rank must take part in the broadcast
        due |= self.every_n_batches > 0 and (batch_idx + 1) % self.every_n_batches == 0
        if not due or trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            return
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._write_last(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Runs after the LightningModule's on_train_epoch_end (checkpoint callbacks come last), so the saved
        # schedulers have stepped. ModelCheckpoint refreshes last.ckpt only with a top-k save; do it every epoch.
        super().on_train_epoch_end(trainer, pl_module)
        due = self.every_n_minutes is None or self._time_is_up(trainer)
        if due and self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._write_last(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # The final state, whatever the intervals (ModelCheckpoint only ensures that some last.ckpt exists).
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._write_last(trainer)

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
