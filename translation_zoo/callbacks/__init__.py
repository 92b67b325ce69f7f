"""Callbacks: image grids for any logger, prediction writer, resumable checkpoints."""

from .checkpointing import AtomicCheckpointIO, ResumableCheckpoint
from .images import ImageGridCallback, compose_grid
from .prediction import TranslationWriter
from .wandb import WandbConfigCallback

__all__ = [
    "AtomicCheckpointIO",
    "ImageGridCallback",
    "ResumableCheckpoint",
    "TranslationWriter",
    "WandbConfigCallback",
    "compose_grid",
]
