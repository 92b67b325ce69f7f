"""Embedded real datasets for the quickstart, the tests and the benchmarks (no download needed).

Generated on first use from the digits in ``demo_sources`` into ``$TRANSLATION_ZOO_DATA/demo/<name>``
(default ``~/.cache/translation_zoo/demo/<name>``), then reused:

* ``mnist_edges`` (paired, official aligned layout): A = Canny edges of an MNIST digit, B = the digit,
  as 64x32 grayscale A|B PNGs in ``train/`` (4000), ``val/`` (500) and ``test/`` (500). An "edges2X"
  task in miniature.
* ``mnist_uci`` (unpaired, official CycleGAN layout): ``trainA/`` (4500) and ``testA/`` (500) MNIST
  digits, ``trainB/`` (1597) and ``testB/`` (200) UCI digits: the same classes written by different
  people and digitised differently (the UCI digits are 8x8 with 17 grey levels, upsampled), 32x32.

Every file is named ``<index>_label<digit>.png``; ``label_from_path`` reads the digit back so that
evaluation can score translated digits with a classifier.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from translation_zoo.data import demo_sources
from translation_zoo.data.base import DataError, check_choice, data_home
from translation_zoo.data.paired import PairedDataModule
from translation_zoo.data.unpaired import UnpairedDataModule

# Bump when the generated content changes, so stale caches are rebuilt.
DEMO_VERSION = 2  # 2: files named by shuffled position (v1 listed them sorted by class)
MARKER = "DEMO_COMPLETE"
PAIRED_DEMOS = ("mnist_edges",)
UNPAIRED_DEMOS = ("mnist_uci",)
_LABEL = re.compile(r"_label(\d+)")


def label_from_path(path: str | Path) -> int:
    """The class label in a demo file name, e.g. ``.../00042_label7.png`` -> 7.

    Raises:
        DataError: if the file name carries no ``_label<digit>`` part.
    """
    match = _LABEL.search(Path(path).name)
    if match is None:
        raise DataError(f"{path}: no '_label<digit>' in the file name (only demo dataset files have one)")
    return int(match.group(1))


def demo_root(name: str) -> Path:
    """Default cache folder of demo dataset ``name``."""
    return data_home() / "demo" / name


def _write_split(folder: Path, images: np.ndarray, labels: np.ndarray, indices: np.ndarray) -> None:
    folder.mkdir(parents=True)
    # Name files by their position in the shuffled split, not by source index: the sources are sorted by
    # class, and readers take the first N sorted names (``max_dataset_size``), which must be a random subset.
    for position, i in enumerate(indices):
        Image.fromarray(images[i]).save(folder / f"{position:05d}_label{labels[i]}.png")


def _split(n: int, sizes: tuple[int, ...], seed: int) -> list[np.ndarray]:
    """Disjoint random index sets of the given sizes (the sources are sorted by class)."""
    order = np.random.default_rng(seed).permutation(n)
    bounds = np.cumsum((0, *sizes))
    return [order[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _build_mnist_edges(out: Path) -> None:
    digits, labels = demo_sources.mnist_digits()
    edges = np.stack([demo_sources.edge_map(d) for d in digits])
    aligned = np.concatenate([edges, digits], axis=2)  # (N, 32, 64): A = edges left, B = digit right
    for split, idx in zip(("train", "val", "test"), _split(len(digits), (4000, 500, 500), seed=0)):
        _write_split(out / split, aligned, labels, idx)


def _build_mnist_uci(out: Path) -> None:
    mnist, mnist_labels = demo_sources.mnist_digits()
    uci, uci_labels = demo_sources.uci_digits()
    train_a, test_a = _split(len(mnist), (len(mnist) - 500, 500), seed=1)
    train_b, test_b = _split(len(uci), (len(uci) - 200, 200), seed=2)
    _write_split(out / "trainA", mnist, mnist_labels, train_a)
    _write_split(out / "testA", mnist, mnist_labels, test_a)
    _write_split(out / "trainB", uci, uci_labels, train_b)
    _write_split(out / "testB", uci, uci_labels, test_b)


BUILDERS: dict[str, Callable[[Path], None]] = {"mnist_edges": _build_mnist_edges, "mnist_uci": _build_mnist_uci}


def _is_complete(folder: Path, name: str) -> bool:
    marker = folder / MARKER
    return marker.is_file() and marker.read_text().strip() == f"{name} v{DEMO_VERSION}"


def ensure_demo(name: str, root: str | Path | None = None) -> Path:
    """Generate demo dataset ``name`` into ``root`` unless it is already there; return ``root``.

    The data is built in a temporary sibling folder and renamed into place, so readers never see a
    half-written dataset and concurrent callers (e.g. DDP ranks, parallel test workers) are safe: the
    first rename wins and the others discard their copy.
    """
    check_choice("name", name, PAIRED_DEMOS + UNPAIRED_DEMOS)
    root = Path(root).expanduser() if root is not None else demo_root(name)
    if _is_complete(root, name):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        BUILDERS[name](tmp)
        (tmp / MARKER).write_text(f"{name} v{DEMO_VERSION}\n")
        _install(tmp, root, name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already if the rename succeeded
    return root


def _install(tmp: Path, root: Path, name: str) -> None:
    """Atomically move the finished ``tmp`` to ``root``, replacing only an empty or stale demo folder."""
    if root.is_dir() and not _is_complete(root, name):
        if (root / MARKER).is_file() and (root / MARKER).read_text().startswith(f"{name} v"):
            # An older version of this demo: move it aside first (rename is atomic), then delete it.
            trash = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
            os.replace(root, trash / root.name)
            shutil.rmtree(trash, ignore_errors=True)
        elif any(root.iterdir()):
            raise DataError(f"{root} exists but is not a demo dataset: remove it or choose another root")
        else:
            root.rmdir()
    try:
        os.rename(tmp, root)
    except OSError:
        # Another process renamed its copy into place first: use it.
        if not _is_complete(root, name):
            raise


class DemoPairedDataModule(PairedDataModule):
    """``PairedDataModule`` over an embedded demo dataset (``"mnist_edges"``), generated on first use.

    Defaults differ from the pix2pix ones where the data asks for it: 1-channel 32x32 images, no resize
    jitter, no flipping (digits are not mirror-symmetric) and ``num_workers=0`` (decoding a 64x32 PNG
    is cheaper than shipping it from a worker process).

    Args:
        name: demo dataset name.
        root: cache folder (default ``$TRANSLATION_ZOO_DATA/demo/<name>``).
        The others: as ``PairedDataModule``.
    """

    def __init__(
        self,
        name: Literal["mnist_edges"] = "mnist_edges",
        root: str | None = None,
        direction: Literal["AtoB", "BtoA"] = "AtoB",
        input_nc: int = 1,
        output_nc: int = 1,
        load_size: int = 32,
        crop_size: int = 32,
        preprocess: Literal["resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"] = (
            "resize_and_crop"
        ),
        flip: bool = False,
        max_dataset_size: int | None = None,
        batch_size: int = 1,
        num_workers: int = 0,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
        predict_dir: str | None = None,
    ):
        check_choice("name", name, PAIRED_DEMOS)
        super().__init__(
            root=root,
            dataset=None,
            layout="aligned",
            direction=direction,
            input_nc=input_nc,
            output_nc=output_nc,
            load_size=load_size,
            crop_size=crop_size,
            preprocess=preprocess,
            flip=flip,
            max_dataset_size=max_dataset_size,
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            persistent_workers=persistent_workers,
            predict_dir=predict_dir,
        )

    def resolve_data_dir(self, download: bool) -> Path:
        return ensure_demo(self.hparams.name, self.hparams.root)

    def prepare_data(self) -> None:
        self.data_dir = ensure_demo(self.hparams.name, self.hparams.root)


class DemoUnpairedDataModule(UnpairedDataModule):
    """``UnpairedDataModule`` over an embedded demo dataset (``"mnist_uci"``), generated on first use.

    Defaults: 1-channel 32x32 images, no resize jitter, no flipping, ``num_workers=0`` (see
    ``DemoPairedDataModule``).

    Args:
        name: demo dataset name.
        root: cache folder (default ``$TRANSLATION_ZOO_DATA/demo/<name>``).
        The others: as ``UnpairedDataModule``.
    """

    def __init__(
        self,
        name: Literal["mnist_uci"] = "mnist_uci",
        root: str | None = None,
        input_nc: int = 1,
        output_nc: int = 1,
        load_size: int = 32,
        crop_size: int = 32,
        preprocess: Literal["resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"] = (
            "resize_and_crop"
        ),
        flip: bool = False,
        serial_batches: bool = False,
        max_dataset_size: int | None = None,
        direction: Literal["AtoB", "BtoA"] = "AtoB",
        batch_size: int = 1,
        num_workers: int = 0,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
        predict_dir: str | None = None,
    ):
        check_choice("name", name, UNPAIRED_DEMOS)
        super().__init__(
            root=root,
            dataset=None,
            input_nc=input_nc,
            output_nc=output_nc,
            load_size=load_size,
            crop_size=crop_size,
            preprocess=preprocess,
            flip=flip,
            serial_batches=serial_batches,
            max_dataset_size=max_dataset_size,
            direction=direction,
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            persistent_workers=persistent_workers,
            predict_dir=predict_dir,
        )

    def resolve_data_dir(self, download: bool) -> Path:
        return ensure_demo(self.hparams.name, self.hparams.root)

    def prepare_data(self) -> None:
        self.data_dir = ensure_demo(self.hparams.name, self.hparams.root)
