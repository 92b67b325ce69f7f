"""What the attribute-editing benchmarks share (fader_digits, cvaegan_digits, icgan_digits): the digits with their
measured attribute flags as a dataset, and the pixel measurement of an edit's attributes.

Imported by those scripts as a sibling module (``python benchmarks/<name>.py`` puts this folder on ``sys.path``; the
slow tests insert it).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from translation_zoo.data.multidomain import DEMO_ATTRIBUTES, digit_attributes

THICK = DEMO_ATTRIBUTES.index("Thick")


class Digits(Dataset):
    """``{"image", "attrs"}`` items: digits (N, 1, 32, 32) in [-1, 1] with measured attribute flags (N, 3)."""

    def __init__(self, x: torch.Tensor, attrs: torch.Tensor) -> None:
        self.x, self.attrs = x, attrs

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.x[i], "attrs": self.attrs[i]}


def measured(x: torch.Tensor) -> np.ndarray:
    """Stroke width, slant, ink width of digits (N, 1, S, S) in [-1, 1]."""
    return digit_attributes(x[:, 0].clamp(-1, 1).numpy())
