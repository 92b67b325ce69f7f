"""The official pix2pix/CycleGAN preprocessing (``data/base_dataset.py::get_transform``) in albumentations.

Training (``train=True``), as the official ``--preprocess`` option:

=======================  ==============================================================================
``resize_and_crop``      bicubic resize to ``load_size`` x ``load_size``, random ``crop_size`` crop
``crop``                 random ``crop_size`` crop of the unresized image
``scale_width``          bicubic resize to width ``load_size`` (height keeps the aspect, at least crop_size)
``scale_width_and_crop`` ``scale_width`` then a random ``crop_size`` crop
``none``                 bicubic resize to the nearest multiple of 4 (official ``__make_power_2``, base 4)
=======================  ==============================================================================

then a horizontal flip with p = 0.5 when ``flip``, then ``x / 127.5 - 1`` (ToTensor + Normalize(0.5, 0.5)).

Evaluation (``train=False``) is deterministic. The official test script sets ``load_size = crop_size``
and turns flipping off; random crops stay random there, here they become centre crops.

Every image given in one call receives the same random crop and flip (albumentations
``additional_targets``): paired data passes A and B together, unpaired data calls two transforms.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import albumentations as A
import numpy as np
import torch
from PIL import Image

from translation_zoo.data.base import DataError, check_bool, check_choice, check_int

PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")


def check_preprocess(preprocess: str, load_size: int, crop_size: int, flip: bool) -> None:
    """Validate the preprocessing options; raise DataError naming the option at fault."""
    check_choice("preprocess", preprocess, PREPROCESS_MODES)
    check_int("load_size", load_size, 1)
    check_int("crop_size", crop_size, 1)
    check_bool("flip", flip)
    if preprocess in ("resize_and_crop", "scale_width_and_crop") and crop_size > load_size:
        raise DataError(
            f"crop_size ({crop_size}) must be <= load_size ({load_size}) with preprocess={preprocess!r}: "
            "the crop is taken from the resized image"
        )


def scale_width_size(width: int, height: int, target_width: int, min_height: int) -> tuple[int, int]:
    """Official ``__scale_width``: width to ``target_width``, height by aspect but at least ``min_height``."""
    if width == target_width and height >= min_height:
        return width, height
    return target_width, int(max(target_width * height / width, min_height))


def multiple_of_size(width: int, height: int, base: int = 4) -> tuple[int, int]:
    """Official ``__make_power_2``: each side rounded to the nearest multiple of ``base`` (>= base)."""
    # max(base, ...) guards tiny images that would round to zero (the official code would crash).
    return max(base, int(round(width / base) * base)), max(base, int(round(height / base) * base))


class PILResize(A.DualTransform):
    """Resize with PIL bicubic, the official interpolation, to a size computed from the input size.

    PIL (not OpenCV) because it antialiases when downscaling and matches the official code exactly, so
    imported official checkpoints see the same pixels they were trained on.

    Args:
        mode: "fixed" (``size`` = (w, h)), "scale_width" (``size`` = (target width, min height)) or
            "multiple_of" (``size`` = (base, base)).
        size: see ``mode``.
    """

    def __init__(self, mode: str, size: tuple[int, int], p: float = 1.0):
        super().__init__(p=p)
        self.mode = mode
        self.size = size

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """(w, h) after resizing an image of (width, height)."""
        if self.mode == "fixed":
            return self.size
        if self.mode == "scale_width":
            return scale_width_size(width, height, *self.size)
        return multiple_of_size(width, height, self.size[0])

    def apply(self, img: np.ndarray, **params: Any) -> np.ndarray:
        height, width = img.shape[:2]
        size = self.output_size(width, height)
        if size == (width, height):
            return img
        squeeze = img.ndim == 3 and img.shape[2] == 1  # PIL has no (H, W, 1) mode
        pil = Image.fromarray(img[..., 0] if squeeze else img)
        out = np.asarray(pil.resize(size, Image.BICUBIC))
        return out[..., None] if squeeze else out

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("mode", "size")


class TranslationTransform:
    """Preprocess one image, or several that must stay aligned, into tensors in [-1, 1].

    Args:
        keys: names of the images passed per call, e.g. ``("A", "B")`` for a pair. All get the same
            random crop and flip.
        preprocess: one of ``PREPROCESS_MODES``.
        load_size: official ``--load_size`` (resize target).
        crop_size: official ``--crop_size``.
        flip: random horizontal flip (p = 0.5) when training; official ``not --no_flip``.
        train: random augmentation if True, the deterministic evaluation transform otherwise.
    """

    def __init__(
        self,
        keys: tuple[str, ...] = ("A",),
        preprocess: str = "resize_and_crop",
        load_size: int = 286,
        crop_size: int = 256,
        flip: bool = True,
        train: bool = True,
    ):
        check_preprocess(preprocess, load_size, crop_size, flip)
        self.keys = tuple(keys)
        self.preprocess = preprocess
        self.crop_size = crop_size
        self.train = train
        crop = A.RandomCrop if train else A.CenterCrop
        # The official test phase resizes to crop_size where training resizes to load_size.
        size = load_size if train else crop_size
        ops: list[A.BasicTransform] = []
        if preprocess == "resize_and_crop":
            ops += [PILResize("fixed", (size, size)), crop(crop_size, crop_size)]
        elif preprocess == "crop":
            ops += [crop(crop_size, crop_size)]
        elif preprocess == "scale_width":
            ops += [PILResize("scale_width", (size, crop_size))]
        elif preprocess == "scale_width_and_crop":
            ops += [PILResize("scale_width", (size, crop_size)), crop(crop_size, crop_size)]
        else:  # "none"
            ops += [PILResize("multiple_of", (4, 4))]
        if flip and train:
            ops.append(A.HorizontalFlip(p=0.5))
        # albumentations needs one target called "image"; the others are declared as images too, so
        # they receive the same sampled crop and flip parameters.
        self.compose = A.Compose(ops, additional_targets={k: "image" for k in self.keys[1:]})

    def __call__(
        self,
        images: Mapping[str, Image.Image | np.ndarray],
        seed: int | None = None,
        source: str = "",
    ) -> dict[str, torch.Tensor]:
        """Transform ``images`` (one per key; uint8 HxW or HxWxC) into float32 (C, H, W) tensors in [-1, 1].

        Args:
            images: the images, keyed by ``self.keys``; all must have the same size.
            seed: seeds the random crop/flip of this call (see ``base.random_seed``).
            source: file name(s) for error messages.
        """
        arrays = {k: np.asarray(images[k]) for k in self.keys}
        arrays = {k: a[..., None] if a.ndim == 2 else a for k, a in arrays.items()}
        sizes = {k: a.shape[:2] for k, a in arrays.items()}
        if len(set(sizes.values())) > 1:
            described = ", ".join(f"{k} is {w}x{h}" for k, (h, w) in sizes.items())
            raise DataError(f"{source}: aligned images must have the same size, but {described}")
        height, width = sizes[self.keys[0]]
        if self.preprocess == "crop" and (height < self.crop_size or width < self.crop_size):
            raise DataError(
                f"{source}: image is {width}x{height}, smaller than crop_size={self.crop_size}; "
                "preprocess='crop' does not resize (use 'resize_and_crop' or a smaller crop_size)"
            )
        if seed is not None:
            self.compose.set_random_seed(seed)
        names = {k: ("image" if i == 0 else k) for i, k in enumerate(self.keys)}
        out = self.compose(**{names[k]: a for k, a in arrays.items()})
        return {k: to_tensor(out[names[k]]) for k in self.keys}


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, C) -> float32 (C, H, W) in [-1, 1], i.e. official ToTensor + Normalize((0.5,), (0.5,))."""
    if image.ndim == 2:
        image = image[..., None]
    # astype copies, which also gives torch a writable array (PIL-backed arrays are read-only).
    return torch.from_numpy(image.transpose(2, 0, 1).astype(np.float32)).div_(127.5).sub_(1.0)
