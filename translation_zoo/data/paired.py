"""Paired data (pix2pix family): aligned A|B images or matching files in A/ and B/ folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from torch.utils.data import Dataset

from translation_zoo.data.base import (
    DataError,
    TranslationDataModule,
    check_choice,
    check_int,
    data_home,
    find_data,
    list_images,
    load_image,
    missing_names,
    random_seed,
)
from translation_zoo.data.transforms import TranslationTransform, check_preprocess

DIRECTIONS = ("AtoB", "BtoA")


class PairedDataset(Dataset):
    """Image pairs from one split; items ``{"A", "B", "A_path", "B_path"}`` with A the model input.

    Args:
        pairs: (A file, B file) per item; for the aligned layout both are the same A|B file.
        aligned: the files hold A (left half) and B (right half) side by side.
        channels_a: channels of raw domain A (1 or 3); ``channels_b`` likewise.
        transform: a ``TranslationTransform`` with keys ("A", "B"), so both get the same crop and flip.
        swap: return raw B as "A" and raw A as "B" (``direction="BtoA"``).
    """

    def __init__(
        self,
        pairs: list[tuple[Path, Path]],
        aligned: bool,
        channels_a: int,
        channels_b: int,
        transform: TranslationTransform,
        swap: bool = False,
    ):
        self.pairs = pairs
        self.aligned = aligned
        self.channels_a, self.channels_b = channels_a, channels_b
        self.transform = transform
        self.swap = swap

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path_a, path_b = self.pairs[index]
        if self.aligned:
            # Load once with enough channels for both halves, as the official AlignedDataset does.
            ab = load_image(path_a, max(self.channels_a, self.channels_b))
            w, h = ab.size
            if w % 2:
                raise DataError(f"{path_a}: expected an even width: A and B side by side (aligned layout), got {w}x{h}")
            img_a, img_b = ab.crop((0, 0, w // 2, h)), ab.crop((w // 2, 0, w, h))
            img_a = img_a.convert("L" if self.channels_a == 1 else "RGB")
            img_b = img_b.convert("L" if self.channels_b == 1 else "RGB")
            source = str(path_a)
        else:
            img_a, img_b = load_image(path_a, self.channels_a), load_image(path_b, self.channels_b)
            source = f"{path_a} and {path_b}"
        seed = random_seed() if self.transform.train else None
        out = self.transform({"A": img_a, "B": img_b}, seed=seed, source=source)
        item = {"A": out["A"], "B": out["B"], "A_path": str(path_a), "B_path": str(path_b)}
        if self.swap:
            item = {"A": item["B"], "B": item["A"], "A_path": item["B_path"], "B_path": item["A_path"]}
        return item


def aligned_pairs(folder: Path, max_size: int | None) -> list[tuple[Path, Path]]:
    """Official pix2pix layout: every image in ``folder`` is A|B side by side."""
    return [(p, p) for p in list_images(folder)[:max_size]]


def separate_pairs(folder_a: Path, folder_b: Path, max_size: int | None) -> list[tuple[Path, Path]]:
    """Official ``combine_A_and_B`` layout: files with the same relative path in both folders."""
    files_a = {p.relative_to(folder_a).as_posix(): p for p in list_images(folder_a)}
    files_b = {p.relative_to(folder_b).as_posix(): p for p in list_images(folder_b)}
    if files_a.keys() != files_b.keys():
        raise DataError(
            f"A and B files must have matching names in {folder_a} and {folder_b}; "
            f"only in A: [{missing_names(files_a, files_b)}]; only in B: [{missing_names(files_b, files_a)}]"
        )
    return [(files_a[name], files_b[name]) for name in sorted(files_a)][:max_size]


class PairedDataModule(TranslationDataModule):
    """Paired images for supervised translation (pix2pix, pix2pixHD, ...).

    Layouts:
        ``"aligned"``: official pix2pix datasets, ``root/<split>/*.jpg`` with A|B side by side.
        ``"separate"``: ``root/A/<split>/name`` and ``root/B/<split>/name`` with matching names (the
        input of the official ``combine_A_and_B.py``).

    A missing val/test split just means no such loader; a missing train split fails when fitting.

    Args:
        root: data folder. With ``dataset``: the folder to download into (default ``data_home()``),
            or the dataset folder itself (``data/facades``: the download goes to ``data/``).
        dataset: official pix2pix dataset name (e.g. ``"facades"``), downloaded by ``prepare_data``
            into ``root/<dataset>`` when ``root`` holds no data.
        layout: ``"aligned"`` or ``"separate"``.
        direction: ``"AtoB"`` or ``"BtoA"``; batches always hold the model input in "A".
        input_nc: channels of the model input (1 or 3); official ``--input_nc``.
        output_nc: channels of the model target (1 or 3); official ``--output_nc``.
        load_size: official ``--load_size`` (286).
        crop_size: official ``--crop_size`` (256).
        preprocess: official ``--preprocess``, see ``transforms``.
        flip: random horizontal flip of training pairs; official ``not --no_flip``.
        max_dataset_size: use at most this many images per split (sorted order); official option.
        train_split: folder name of the training split; ``val_split``, ``test_split`` likewise.
        batch_size: see ``TranslationDataModule``; also ``num_workers``, ``pin_memory``,
            ``persistent_workers``, ``predict_dir``.
    """

    def __init__(
        self,
        root: str | None = None,
        dataset: str | None = None,
        layout: Literal["aligned", "separate"] = "aligned",
        direction: Literal["AtoB", "BtoA"] = "AtoB",
        input_nc: int = 3,
        output_nc: int = 3,
        load_size: int = 286,
        crop_size: int = 256,
        preprocess: Literal["resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"] = (
            "resize_and_crop"
        ),
        flip: bool = True,
        max_dataset_size: int | None = None,
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
        check_choice("layout", layout, ("aligned", "separate"))
        check_choice("direction", direction, DIRECTIONS)
        check_choice("input_nc", input_nc, (1, 3))
        check_choice("output_nc", output_nc, (1, 3))
        check_preprocess(preprocess, load_size, crop_size, flip)
        check_int("max_dataset_size", max_dataset_size, 1, optional=True)
        self.data_dir: Path | None = None

    # --- where the data is --------------------------------------------------------------------------
    def has_data(self, folder: Path) -> bool:
        """Whether ``folder`` looks like data in this module's layout (cheap: no listing)."""
        hp = self.hparams
        if hp.layout == "separate":
            return (folder / "A").is_dir() and (folder / "B").is_dir()
        return any((folder / s).is_dir() for s in (hp.train_split, hp.val_split, hp.test_split))

    def resolve_data_dir(self, download: bool) -> Path:
        """The folder holding the splits, downloading the official dataset first if allowed and needed."""
        hp = self.hparams
        if hp.root is None and hp.dataset is None:
            raise DataError(f"{type(self).__name__} needs root (a data folder) or dataset (an official name)")
        found = find_data(hp.root, hp.dataset, "pix2pix", self.has_data, download)
        if found is not None:
            return found
        root = Path(hp.root).expanduser() if hp.root is not None else data_home()
        if hp.layout == "separate":
            expected = f"{root}/A/<split>/ and {root}/B/<split>/ with matching file names"
        else:
            expected = f"{root}/<split>/ with A|B images side by side"
        raise DataError(
            f"no {hp.layout} paired data in {root}: expected {expected} "
            f"(splits {hp.train_split!r}, {hp.val_split!r}, {hp.test_split!r})"
        )

    def split_pairs(self, split: str) -> list[tuple[Path, Path]] | None:
        """The pairs of ``split``, or None if its folder does not exist."""
        assert self.data_dir is not None
        hp = self.hparams
        if hp.layout == "separate":
            folder_a, folder_b = self.data_dir / "A" / split, self.data_dir / "B" / split
            if not folder_a.is_dir() and not folder_b.is_dir():
                return None
            return separate_pairs(folder_a, folder_b, hp.max_dataset_size)
        folder = self.data_dir / split
        return aligned_pairs(folder, hp.max_dataset_size) if folder.is_dir() else None

    def split_folder(self, split: str) -> str:
        """How a split's folder is named in messages."""
        if self.hparams.layout == "separate":
            return f"{self.data_dir}/A/{split} and {self.data_dir}/B/{split}"
        return str(self.data_dir / split)

    # --- datasets -----------------------------------------------------------------------------------
    @property
    def raw_channels(self) -> tuple[int, int]:
        """Channels of raw domains A and B: input_nc/output_nc refer to the model's input/target."""
        hp = self.hparams
        if hp.direction == "AtoB":
            return hp.input_nc, hp.output_nc
        return hp.output_nc, hp.input_nc

    def make_transform(self, train: bool, keys: tuple[str, ...] = ("A", "B")) -> TranslationTransform:
        hp = self.hparams
        return TranslationTransform(keys, hp.preprocess, hp.load_size, hp.crop_size, hp.flip, train)

    def make_dataset(self, split: str, train: bool, required: bool) -> PairedDataset | None:
        pairs = self.split_pairs(split)
        if pairs is None:
            if required:
                raise DataError(f"split {split!r} not found: {self.split_folder(split)} does not exist")
            return None
        return PairedDataset(
            pairs,
            aligned=self.hparams.layout == "aligned",
            channels_a=self.raw_channels[0],
            channels_b=self.raw_channels[1],
            transform=self.make_transform(train),
            swap=self.hparams.direction == "BtoA",
        )

    @property
    def predict_channels(self) -> int:
        return self.hparams.input_nc

    def predict_transform(self) -> TranslationTransform:
        return self.make_transform(train=False, keys=("A",))

    # --- Lightning hooks ----------------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Download the official dataset if ``dataset`` is set and no data is found (rank 0 only)."""
        if self.hparams.dataset is not None:
            self.data_dir = self.resolve_data_dir(download=True)

    def setup(self, stage: str) -> None:
        if stage == "predict":
            return super().setup(stage)
        if self.data_dir is None:
            # On other ranks prepare_data did not run; download() returns the existing folder there.
            self.data_dir = self.resolve_data_dir(download=True)
        hp = self.hparams
        if stage == "fit" and self.train_set is None:
            self.train_set = self.make_dataset(hp.train_split, train=True, required=True)
        if stage in ("fit", "validate") and self.val_set is None:
            self.val_set = self.make_dataset(hp.val_split, train=False, required=stage == "validate")
        if stage == "test" and self.test_set is None:
            self.test_set = self.make_dataset(hp.test_split, train=False, required=True)
