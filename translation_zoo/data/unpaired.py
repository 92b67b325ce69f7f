"""Unpaired data (CycleGAN family): two folders of images from two domains, no correspondence."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from torch.utils.data import Dataset

from translation_zoo.data.base import (
    DataError,
    TranslationDataModule,
    check_bool,
    check_choice,
    check_int,
    data_home,
    find_data,
    list_images,
    load_image,
    random_seed,
)
from translation_zoo.data.paired import DIRECTIONS
from translation_zoo.data.transforms import TranslationTransform, check_preprocess


class UnpairedDataset(Dataset):
    """Official ``UnalignedDataset``: items ``{"A", "B", "A_path", "B_path"}`` with A the model input.

    An epoch has ``max(len(A), len(B))`` items. Raw A is read in order (``index % len(A)``); raw B is
    drawn uniformly at random per item, or ``index % len(B)`` when ``serial``, so that the pairing of
    the two domains changes from epoch to epoch. The two images get independent random crops/flips.

    Args:
        paths_a: raw domain A files; ``paths_b`` likewise.
        channels_a: channels of raw A (1 or 3); ``channels_b`` likewise.
        transform_a: a one-key ``TranslationTransform`` for A; ``transform_b`` likewise.
        serial: pick B by index instead of at random.
        swap: return raw B as "A" and raw A as "B" (``direction="BtoA"``).
    """

    def __init__(
        self,
        paths_a: list[Path],
        paths_b: list[Path],
        channels_a: int,
        channels_b: int,
        transform_a: TranslationTransform,
        transform_b: TranslationTransform,
        serial: bool = False,
        swap: bool = False,
    ):
        self.paths_a, self.paths_b = paths_a, paths_b
        self.channels_a, self.channels_b = channels_a, channels_b
        self.transform_a, self.transform_b = transform_a, transform_b
        self.serial = serial
        self.swap = swap

    def __len__(self) -> int:
        return max(len(self.paths_a), len(self.paths_b))

    def __getitem__(self, index: int) -> dict[str, Any]:
        path_a = self.paths_a[index % len(self.paths_a)]
        if self.serial:
            index_b = index % len(self.paths_b)
        else:
            # torch's global RNG: seeded per worker and per epoch by DataLoader and by seed_everything,
            # so workers draw different B's and runs repeat (the official code uses python's random).
            index_b = int(torch.randint(len(self.paths_b), ()).item())
        path_b = self.paths_b[index_b]
        train = self.transform_a.train
        # Independent seeds: unpaired images must not share their crop and flip.
        out_a = self.transform_a(
            {"A": load_image(path_a, self.channels_a)}, seed=random_seed() if train else None, source=str(path_a)
        )
        out_b = self.transform_b(
            {"A": load_image(path_b, self.channels_b)}, seed=random_seed() if train else None, source=str(path_b)
        )
        item = {"A": out_a["A"], "B": out_b["A"], "A_path": str(path_a), "B_path": str(path_b)}
        if self.swap:
            item = {"A": item["B"], "B": item["A"], "A_path": item["B_path"], "B_path": item["A_path"]}
        return item


class UnpairedDataModule(TranslationDataModule):
    """Two unpaired image domains (CycleGAN, UNIT, CUT, ...).

    Layouts: official CycleGAN ``root/trainA``, ``root/trainB``, ``root/testA``, ``root/testB`` (and
    optionally ``valA``/``valB``; validation falls back to ``testA``/``testB``), or any two folders via
    ``dir_a`` and ``dir_b`` (training only). Validation and test read B serially, so they repeat exactly.

    Args:
        root: data folder. With ``dataset``: the folder to download into (default ``data_home()``),
            or the dataset folder itself (``data/facades``: the download goes to ``data/``).
        dataset: official CycleGAN dataset name (e.g. ``"horse2zebra"``), downloaded by ``prepare_data``
            into ``root/<dataset>`` when ``root`` holds no data.
        dir_a: folder of domain A training images (instead of ``root``); ``dir_b`` likewise.
        input_nc: channels of the model input (1 or 3); official ``--input_nc``.
        output_nc: channels of the model target (1 or 3); official ``--output_nc``.
        load_size: official ``--load_size`` (286).
        crop_size: official ``--crop_size`` (256).
        preprocess: official ``--preprocess``, see ``transforms``.
        flip: random horizontal flip (each domain independently); official ``not --no_flip``.
        serial_batches: official option: B by index instead of at random, and no shuffling.
        max_dataset_size: use at most this many images per domain and split (sorted order).
        direction: ``"AtoB"`` or ``"BtoA"``; batches always hold the model input in "A".
        train_split: split prefix of the training folders (``trainA``); ``val_split``, ``test_split``
            likewise.
        batch_size: see ``TranslationDataModule``; also ``num_workers``, ``pin_memory``,
            ``persistent_workers``, ``predict_dir``.
    """

    def __init__(
        self,
        root: str | None = None,
        dataset: str | None = None,
        dir_a: str | None = None,
        dir_b: str | None = None,
        input_nc: int = 3,
        output_nc: int = 3,
        load_size: int = 286,
        crop_size: int = 256,
        preprocess: Literal["resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"] = (
            "resize_and_crop"
        ),
        flip: bool = True,
        serial_batches: bool = False,
        max_dataset_size: int | None = None,
        direction: Literal["AtoB", "BtoA"] = "AtoB",
        train_split: str = "train",
        val_split: str = "val",
        test_split: str = "test",
        batch_size: int = 1,
        num_workers: int = 4,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
        predict_dir: str | None = None,
    ):
        super().__init__(batch_size, num_workers, pin_memory, persistent_workers, predict_dir)
        check_choice("direction", direction, DIRECTIONS)
        check_choice("input_nc", input_nc, (1, 3))
        check_choice("output_nc", output_nc, (1, 3))
        check_preprocess(preprocess, load_size, crop_size, flip)
        check_bool("serial_batches", serial_batches)
        check_int("max_dataset_size", max_dataset_size, 1, optional=True)
        if (dir_a is None) != (dir_b is None):
            raise DataError(f"dir_a and dir_b must be given together, got dir_a={dir_a!r}, dir_b={dir_b!r}")
        if dir_a is not None and (root is not None or dataset is not None):
            raise DataError("give either dir_a and dir_b, or root/dataset, not both")
        self.shuffle_train = not serial_batches
        self.data_dir: Path | None = None

    # --- where the data is --------------------------------------------------------------------------
    def has_data(self, folder: Path) -> bool:
        """Whether ``folder`` has the official CycleGAN layout (any ``<split>A`` folder)."""
        hp = self.hparams
        return any((folder / f"{s}A").is_dir() for s in (hp.train_split, hp.val_split, hp.test_split))

    def resolve_data_dir(self, download: bool) -> Path:
        """The folder holding ``trainA`` etc., downloading the official dataset first if allowed."""
        hp = self.hparams
        if hp.root is None and hp.dataset is None:
            raise DataError(
                f"{type(self).__name__} needs root (a data folder), dataset (an official name) or dir_a and dir_b"
            )
        found = find_data(hp.root, hp.dataset, "cyclegan", self.has_data, download)
        if found is not None:
            return found
        root = Path(hp.root).expanduser() if hp.root is not None else data_home()
        raise DataError(
            f"no unpaired data in {root}: expected {root}/{hp.train_split}A and {root}/{hp.train_split}B "
            f"(and optionally {hp.test_split}A/{hp.test_split}B), or give dir_a and dir_b"
        )

    def split_folders(self, split: str) -> tuple[Path, Path] | None:
        """(folder A, folder B) of ``split``; None if neither exists (or, with dir_a/dir_b, not training)."""
        hp = self.hparams
        if hp.dir_a is not None:
            if split != hp.train_split:
                return None
            return Path(hp.dir_a).expanduser(), Path(hp.dir_b).expanduser()
        assert self.data_dir is not None
        folders = self.data_dir / f"{split}A", self.data_dir / f"{split}B"
        return folders if any(f.is_dir() for f in folders) else None

    # --- datasets -----------------------------------------------------------------------------------
    @property
    def raw_channels(self) -> tuple[int, int]:
        """Channels of raw domains A and B: input_nc/output_nc refer to the model's input/target."""
        hp = self.hparams
        if hp.direction == "AtoB":
            return hp.input_nc, hp.output_nc
        return hp.output_nc, hp.input_nc

    def make_transform(self, train: bool) -> TranslationTransform:
        hp = self.hparams
        return TranslationTransform(("A",), hp.preprocess, hp.load_size, hp.crop_size, hp.flip, train)

    def make_dataset(self, splits: tuple[str, ...], train: bool, required: bool) -> UnpairedDataset | None:
        """The dataset of the first existing split in ``splits``."""
        hp = self.hparams
        for split in splits:
            folders = self.split_folders(split)
            if folders is not None:
                break
        else:
            if required:
                where = self.data_dir if self.data_dir is not None else "dir_a/dir_b (training only)"
                raise DataError(f"split {splits[0]!r} not found: no {splits[0]}A/{splits[0]}B in {where}")
            return None
        paths_a = list_images(folders[0])[: hp.max_dataset_size]
        paths_b = list_images(folders[1])[: hp.max_dataset_size]
        return UnpairedDataset(
            paths_a,
            paths_b,
            *self.raw_channels,
            transform_a=self.make_transform(train),
            transform_b=self.make_transform(train),
            # Evaluation pairs A and B by index so every run sees the same items.
            serial=hp.serial_batches or not train,
            swap=hp.direction == "BtoA",
        )

    @property
    def predict_channels(self) -> int:
        return self.hparams.input_nc

    def predict_transform(self) -> TranslationTransform:
        return self.make_transform(train=False)

    # --- Lightning hooks ----------------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Download the official dataset if ``dataset`` is set and no data is found (rank 0 only)."""
        if self.hparams.dataset is not None:
            self.data_dir = self.resolve_data_dir(download=True)

    def setup(self, stage: str) -> None:
        if stage == "predict":
            return super().setup(stage)
        hp = self.hparams
        if self.data_dir is None and hp.dir_a is None:
            # On other ranks prepare_data did not run; download() returns the existing folder there.
            self.data_dir = self.resolve_data_dir(download=True)
        if stage == "fit" and self.train_set is None:
            self.train_set = self.make_dataset((hp.train_split,), train=True, required=True)
        if stage in ("fit", "validate") and self.val_set is None:
            self.val_set = self.make_dataset((hp.val_split, hp.test_split), train=False, required=stage == "validate")
        if stage == "test" and self.test_set is None:
            self.test_set = self.make_dataset((hp.test_split,), train=False, required=True)
