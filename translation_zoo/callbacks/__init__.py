"""Callbacks: image grids for any logger, prediction writer."""

from .images import ImageGridCallback, compose_grid
from .prediction import TranslationWriter

__all__ = ["ImageGridCallback", "TranslationWriter", "compose_grid"]
