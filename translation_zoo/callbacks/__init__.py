"""Callbacks: image grids for any logger, prediction writer, resumable checkpoints, training fast paths."""

from .checkpointing import AtomicCheckpointIO, ResumableCheckpoint
from .fastpaths import ChannelsLast, NativeSmallConv
from .images import ImageGridCallback, compose_grid
from .prediction import TranslationWriter
from .wandb import WandbConfigCallback

__all__ = [
    "AtomicCheckpointIO",
    "ChannelsLast",
    "ImageGridCallback",
    "NativeSmallConv",
    "ResumableCheckpoint",
    "TranslationWriter",
    "WandbConfigCallback",
    "compose_grid",
]
