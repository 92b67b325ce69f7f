"""Single-image data (SinGAN): one image file, delivered again and again.

Training batches ``{"image": (1, C, H, W) in [-1, 1], "path": [name]}``: the one image at its own size (the model
derives its pyramid from that size). An "epoch" is ``steps_per_epoch`` batches of that same image (single-image
models count their training in iterations; the model stops by itself after its last scale). ``predict`` generates
``num_samples`` images from batches ``{"index": (N,) int64, "path": list[str]}``, as for the unconditional models.

Pixels are read as the official SinGAN code reads them: uint8 → ``x / 255`` (float64) → float32 → ``(x - 0.5) · 2``;
an alpha channel is dropped (the official ``x[:, :, 0:3]``), grayscale files are repeated to RGB when ``channels=3``.
With ``channels=1`` colour files become grey with PIL's ITU-R 601 weights (the official ``rgb2gray`` uses the 709
ones; the official code does not train on 1-channel images anyway, see ``models/singan.py``).

The image is delivered at its own size; the model resizes it (longer side to its ``max_size``, then the pyramid)
with the official resizer, so the sizes of every scale are the official ones for that file.

The embedded demo (:class:`DemoSingleImageDataModule`) is a photo that scikit-image ships, resized (PIL bicubic,
longer side ``size``), so the quickstart and the tests need no download.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from translation_zoo.data import datasets as _datasets
from translation_zoo.data.base import DataError, TranslationDataModule, check_choice, check_int, load_image
from translation_zoo.data.unconditional import SampleIndices

#: skimage.data photos offered by the demo (all ship inside the scikit-image wheel).
DEMO_IMAGES = ("hubble_deep_field", "immunohistochemistry", "rocket", "coffee", "chelsea", "astronaut")


def image_to_tensor(img: Image.Image) -> torch.Tensor:
    """A PIL image ("L" or "RGB") -> (C, H, W) float32 in [-1, 1], as the official ``np2torch``."""
    x = np.asarray(img)
    x = x[:, :, None] if x.ndim == 2 else x
    t = torch.from_numpy(x.transpose(2, 0, 1) / 255).float()  # float64 / 255, then float32, as official
    return ((t - 0.5) * 2).clamp(-1, 1).contiguous()


class SingleImageDataset(Dataset):
    """``length`` items ``{"image": (C, H, W), "path": name}``, all the same image."""

    def __init__(self, image: torch.Tensor, name: str, length: int) -> None:
        self.image, self.name, self.length = image, name, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"image": self.image, "path": self.name}


class SingleImageDataModule(TranslationDataModule):
    """One image file for single-image models (SinGAN).

    Args:
        path: the image file (any format PIL reads). Not touched before ``prepare_data``/``setup``.
        url: where to download ``path`` from when it is missing (``prepare_data``; e.g. an image of the official
            repository). ``None``: the file must exist.
        sha256: the SHA-256 the download must have (``None``: not checked).
        channels: 3 (RGB, SinGAN's default) or 1 (grayscale).
        steps_per_epoch: batches per "epoch" (each one the same image).
        num_samples: images ``lightning predict`` generates.
        num_workers: loader processes (0: the image is already in memory).
        pin_memory: see :class:`~translation_zoo.data.base.TranslationDataModule`.

    Raises:
        DataError: a bad option here; at ``setup``, a missing, unreadable or empty file (the message names it).
    """

    def __init__(
        self,
        path: str | None = None,
        url: str | None = None,
        sha256: str | None = None,
        channels: int = 3,
        steps_per_epoch: int = 100,
        num_samples: int = 16,
        num_workers: int = 0,
        pin_memory: bool | None = None,
    ) -> None:
        super().__init__(batch_size=1, num_workers=num_workers, pin_memory=pin_memory, persistent_workers=False)
        check_choice("channels", channels, (1, 3))
        check_int("steps_per_epoch", steps_per_epoch, 1)
        check_int("num_samples", num_samples, 1)
        for option, value in (("path", path), ("url", url), ("sha256", sha256)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise DataError(f"{option} must be a non-empty string or None, got {value!r}")
        if url is not None and path is None:
            raise DataError(f"url={url!r} needs path: the file to download it to")
        self.image: torch.Tensor | None = None
        self._name = ""

    @property
    def predict_channels(self) -> int:
        return self.hparams.channels

    def prepare_data(self) -> None:
        """Download ``url`` to ``path`` if the file is missing."""
        hp = self.hparams
        if hp.get("url") is not None and not Path(hp.path).expanduser().is_file():
            try:
                _datasets.download_file(hp.url, hp.path, sha256=hp.sha256)
            except (ValueError, _datasets.DatasetDownloadError) as e:
                raise DataError(
                    f"could not download {hp.url} to {hp.path} (SingleImageDataModule url/path): {e}. Download it "
                    f"by hand to {hp.path}"
                ) from e

    def load(self) -> tuple[torch.Tensor, str]:
        """The image (C, H, W) in [-1, 1] and its name.

        Raises:
            DataError: no ``path``, a missing file, a folder, or a file PIL cannot decode.
        """
        path = self.hparams.path
        if path is None:
            raise DataError(f"{type(self).__name__} needs path: the image file to learn from")
        file = Path(path).expanduser()
        if file.is_dir():
            raise DataError(f"path={path!r} is a folder: SingleImageDataModule learns from one image file")
        if not file.is_file():
            hint = f" (and url={self.hparams.url!r} was not downloaded yet)" if self.hparams.get("url") else ""
            raise DataError(f"image file {file} does not exist (SingleImageDataModule path){hint}")
        image = image_to_tensor(load_image(file, self.hparams.channels))
        if min(image.shape[-2:]) < 2:
            raise DataError(f"{file} is {image.shape[-1]}x{image.shape[-2]} pixels: too small to learn from")
        return image, file.name

    def _loaded(self) -> torch.Tensor:
        if self.image is None:
            self.image, self._name = self.load()
        return self.image

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the image (loads it): the model's ``image_size``."""
        return tuple(self._loaded().shape[-2:])

    def setup(self, stage: str) -> None:
        if stage == "predict":
            self.predict_set = SampleIndices(self.hparams.num_samples)
            return
        if stage in ("validate", "test"):
            raise DataError(
                f"{type(self).__name__} has no {stage} set: a single-image model is judged on its samples "
                "(lightning predict, or the SIFID benchmark)"
            )
        if stage == "fit" and self.train_set is None:
            self.train_set = SingleImageDataset(self._loaded(), self._name, self.hparams.steps_per_epoch)


def demo_image(name: str = "immunohistochemistry", size: int = 64) -> Image.Image:
    """The embedded photo ``name`` (``skimage.data``), RGB, longer side resized to ``size`` (PIL bicubic).

    Raises:
        DataError: an unknown name or a size below 8.
    """
    check_choice("name", name, DEMO_IMAGES)
    check_int("size", size, 8)
    try:
        import skimage.data
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("the single-image demo needs scikit-image: pip install scikit-image") from e
    img = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
    w, h = img.size
    scale = size / max(w, h)
    return img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BICUBIC)


class DemoSingleImageDataModule(SingleImageDataModule):
    """:class:`SingleImageDataModule` on a photo that scikit-image ships (no file, no download).

    Args:
        name: the ``skimage.data`` photo: ``immunohistochemistry`` (stained tissue, a texture-like natural image),
            ``hubble_deep_field`` (galaxies), ``rocket``, ``coffee``, ``chelsea``, ``astronaut``.
        size: its longer side after resizing (PIL bicubic).
        The others: as :class:`SingleImageDataModule` (RGB).
    """

    def __init__(
        self,
        name: Literal[
            "hubble_deep_field", "immunohistochemistry", "rocket", "coffee", "chelsea", "astronaut"
        ] = "immunohistochemistry",
        size: int = 64,
        steps_per_epoch: int = 100,
        num_samples: int = 16,
        num_workers: int = 0,
        pin_memory: bool | None = None,
    ) -> None:
        check_choice("name", name, DEMO_IMAGES)
        check_int("size", size, 8)
        super().__init__(
            path=None,
            url=None,
            sha256=None,
            channels=3,
            steps_per_epoch=steps_per_epoch,
            num_samples=num_samples,
            num_workers=num_workers,
            pin_memory=pin_memory,
        )

    def load(self) -> tuple[torch.Tensor, str]:
        return image_to_tensor(demo_image(self.hparams.name, self.hparams.size)), f"{self.hparams.name}.png"


__all__ = ["DEMO_IMAGES", "DemoSingleImageDataModule", "SingleImageDataModule", "demo_image", "image_to_tensor"]
