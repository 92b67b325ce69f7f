"""Shared pieces of the data layer: errors, image listing and loading, and the data-module base class."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities.parsing import collect_init_args
from PIL import Image
from torch.utils.data import DataLoader, Dataset, default_collate

from translation_zoo.data.resumable import ResumableDataLoader

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm")


class DataError(ValueError):
    """Bad data or a bad data option; the message names the file, folder or option at fault."""


def data_home() -> Path:
    """Where downloaded and generated datasets live: ``$TRANSLATION_ZOO_DATA`` or ``~/.cache/translation_zoo``."""
    env = os.environ.get("TRANSLATION_ZOO_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "translation_zoo"


def load_image(path: str | Path, channels: int) -> Image.Image:
    """Decode an image file into a grayscale ("L") or RGB PIL image.

    Args:
        path: image file.
        channels: 1 for grayscale, 3 for RGB. Other modes (RGBA, palette, CMYK, 16-bit) are converted
            with PIL's rules, as the official pix2pix/CycleGAN code does.

    Raises:
        DataError: if ``channels`` is not 1 or 3, or the file cannot be decoded.
    """
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
    try:
        with Image.open(path) as img:
            # convert() forces a full decode, so a truncated file fails here and not inside a worker's
            # collate, where the error would no longer name the file.
            return img.convert("L" if channels == 1 else "RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(
            f"cannot read {path}: expected an image file ({', '.join(IMAGE_EXTENSIONS)}) that PIL can "
            f"decode as {'grayscale' if channels == 1 else 'RGB'}; {type(e).__name__}: {e}"
        ) from e


def list_images(folder: str | Path) -> list[Path]:
    """All images below ``folder`` (recursive, extensions case-insensitive), sorted by relative path.

    Hidden files and folders (names starting with ".") are skipped: archives made on macOS carry
    ``._name.jpg`` resource forks that look like images but are not.

    Raises:
        DataError: if the folder is missing or holds no image.
    """
    folder = Path(folder)
    accepted = ", ".join(IMAGE_EXTENSIONS)
    if not folder.is_dir():
        raise DataError(f"image folder {folder} does not exist (expected files with extensions {accepted})")
    found = [
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.is_file()
    ]
    if not found:
        raise DataError(f"no images in {folder} (looked recursively for extensions {accepted})")
    # Sort on the relative POSIX path so the order (and thus max_dataset_size and pairing) is the same
    # on every OS and file system.
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def check_choice(option: str, value: Any, allowed: Sequence[Any]) -> None:
    """Raise DataError naming ``option`` and its allowed values unless ``value`` is one of them."""
    if value not in allowed:
        if len(allowed) == 2:
            choices = f"{allowed[0]!r} or {allowed[1]!r}"
        else:
            choices = "one of " + ", ".join(repr(a) for a in allowed)
        raise DataError(f"{option} must be {choices}, got {value!r}")


def check_int(option: str, value: Any, minimum: int, optional: bool = False) -> None:
    """Raise DataError unless ``value`` is an int >= ``minimum`` (or None when ``optional``)."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        none = " or None" if optional else ""
        raise DataError(f"{option} must be an integer >= {minimum}{none}, got {value!r}")


def check_bool(option: str, value: Any) -> None:
    """Raise DataError unless ``value`` is a bool (a YAML typo like ``flip: 'no'`` would otherwise be truthy)."""
    if not isinstance(value, bool):
        raise DataError(f"{option} must be true or false, got {value!r}")


def random_seed() -> int:
    """A seed for one sample's augmentation, drawn from torch's global RNG.

    The training loader (``data.resumable``) seeds torch's RNG for every sample from the run seed, the epoch and
    the sample's position, so this is reproducible, differs across samples and workers, and repeats on resume.
    The albumentations RNG alone is not: each Compose owns a generator that forked workers would copy.
    """
    return int(torch.randint(0, 2**31 - 1, ()).item())


def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """``default_collate`` with a readable error for images of different sizes in one batch."""
    try:
        return default_collate(batch)
    except RuntimeError as e:
        if "stack expects each tensor to be equal size" not in str(e):
            raise
        shapes = {tuple(v.shape) for item in batch for v in item.values() if isinstance(v, torch.Tensor)}
        paths = [v for item in batch for k, v in item.items() if k.endswith("path")][:4]
        raise DataError(
            f"images of different sizes {sorted(shapes)} in one batch (e.g. {paths}); use batch_size=1 or a "
            "preprocess mode that makes every image the same size ('resize_and_crop', 'crop', "
            "'scale_width_and_crop')"
        ) from e


class ImageFolderDataset(Dataset):
    """Every image below a folder, for prediction: items ``{"A": (C, H, W), "path": str}``.

    ``path`` is relative to the folder (POSIX separators), so a writer can mirror names and sub-folders.
    """

    def __init__(self, folder: str | Path, channels: int, transform: Callable[..., dict[str, torch.Tensor]]):
        self.folder = Path(folder)
        self.paths = list_images(self.folder)
        self.channels = channels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.paths[index]
        out = self.transform({"A": load_image(path, self.channels)}, source=str(path))
        return {"A": out["A"], "path": path.relative_to(self.folder).as_posix()}


class TranslationDataModule(L.LightningDataModule):
    """Base of the image-translation data modules: loaders, worker options and the predict folder.

    Subclasses build ``self.train_set`` / ``val_set`` / ``test_set`` in ``setup`` and implement
    ``predict_transform`` and ``predict_channels``. ``__init__`` never touches the disk, so a recipe
    can be parsed and instantiated on a machine without the data.

    Args:
        batch_size: samples per batch for every loader.
        num_workers: DataLoader worker processes (0 loads in the main process).
        pin_memory: pin host memory for faster GPU transfer; ``None`` means "if CUDA is available".
        persistent_workers: keep workers alive between epochs (only used when ``num_workers > 0``).
        predict_dir: folder of single images for ``predict``; batches ``{"A", "path"}``.
    """

    def __init__(
        self,
        batch_size: int = 1,
        num_workers: int = 4,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
        predict_dir: str | None = None,
    ):
        super().__init__()
        check_int("batch_size", batch_size, 1)
        check_int("num_workers", num_workers, 0)
        if pin_memory is not None:
            check_bool("pin_memory", pin_memory)
        check_bool("persistent_workers", persistent_workers)
        # Collects the arguments of every __init__ in the subclass chain (the most derived wins), so
        # the full data config lands in checkpoints and logger hyper-parameters.
        self.save_hyperparameters()
        # Under LightningCLI, save_hyperparameters records only the keys of the user's config (the most derived
        # class's signature); add what the subclasses passed to their parents (e.g. a demo's fixed ``layout``).
        for args in collect_init_args(inspect.currentframe(), []):
            for key, value in args.items():
                if key not in self.hparams:
                    self.hparams[key] = value
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None
        self.predict_set: Dataset | None = None
        # Official option: serial_batches also turns off shuffling (UnpairedDataModule uses it).
        self.shuffle_train = True
        self._train_seed: int | None = None

    # --- to be provided by subclasses -------------------------------------------------------------
    @property
    def predict_channels(self) -> int:
        """Channels of the model input (what predict images are converted to)."""
        raise NotImplementedError

    def predict_transform(self) -> Callable[..., dict[str, torch.Tensor]]:
        """Deterministic transform for predict images (the one used for validation)."""
        raise NotImplementedError

    # --- Lightning hooks ----------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        """Build the predict set for ``stage == "predict"``; subclasses handle the other stages."""
        if stage == "predict" and self.predict_set is None:
            if self.hparams.predict_dir is None:
                raise DataError("predict_dir is not set: give the folder of images to translate")
            self.predict_set = ImageFolderDataset(
                self.hparams.predict_dir, self.predict_channels, self.predict_transform()
            )

    def _loader(self, dataset: Dataset | None, shuffle: bool, resumable: bool = False) -> DataLoader | list:
        if dataset is None:
            # Lightning treats an empty list as "no loader": the loop is skipped without an error.
            return []
        workers = self.hparams.num_workers
        pin = self.hparams.pin_memory
        options = {
            "batch_size": self.hparams.batch_size,
            "drop_last": False,
            "num_workers": workers,
            "pin_memory": torch.cuda.is_available() if pin is None else pin,
            "persistent_workers": self.hparams.persistent_workers and workers > 0,
            "collate_fn": collate,
        }
        if resumable:
            # Its position in the epoch goes into checkpoints, so a mid-epoch resume continues at the next batch.
            trainer = self.trainer
            return ResumableDataLoader(
                dataset,
                seed=self.train_seed(),
                shuffle=shuffle,
                num_replicas=trainer.world_size if trainer is not None else 1,
                rank=trainer.global_rank if trainer is not None else 0,
                **options,
            )
        # Own generator: DataLoader draws each iterator's worker base seed from it, else from the global RNG, and
        # Lightning creates evaluation iterators at moments that differ between a run and its resume (persistent
        # workers: once, first under the sanity check's isolated RNG, or at the first validation after a resume).
        return DataLoader(dataset, shuffle=shuffle, generator=torch.Generator(), **options)

    def train_seed(self) -> int:
        """Seed of the training order and augmentation: the ``seed_everything`` seed, else a random one.

        Chosen once and kept in checkpoints (``state_dict``), so a resumed run replays the same epochs.
        """
        if self._train_seed is None:
            env = os.environ.get("PL_GLOBAL_SEED")
            seed = int(env) if env is not None else int(torch.randint(0, 2**62, ()).item())
            if self.trainer is not None and self.trainer.world_size > 1:
                seed = self.trainer.strategy.broadcast(seed)  # every rank must shard the same permutation
            self._train_seed = seed
        return self._train_seed

    def state_dict(self) -> dict[str, Any]:
        return {} if self._train_seed is None else {"train_seed": self._train_seed}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._train_seed = state_dict.get("train_seed", self._train_seed)

    def train_dataloader(self) -> DataLoader:
        if self.train_set is None:
            raise DataError(f"{type(self).__name__} has no training set: call setup('fit') first")
        return self._loader(self.train_set, shuffle=self.shuffle_train, resumable=True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader | list:
        return self._loader(self.test_set, shuffle=False)

    def predict_dataloader(self) -> DataLoader | list:
        return self._loader(self.predict_set, shuffle=False)


def find_data(
    root: str | None,
    dataset: str | None,
    family: str,
    has_data: Callable[[Path], bool],
    download: bool,
) -> Path | None:
    """Find a dataset folder, downloading the official dataset ``dataset`` if allowed and needed.

    Looks at ``root``, then ``root/<dataset>``; otherwise downloads into ``root`` (``data_home()`` if
    None). ``root`` may also name the dataset folder itself (``root="data/facades", dataset="facades"``):
    the download then goes to its parent, so the data lands in ``root`` and not in ``root/facades``.

    Returns:
        The folder, or None if there is no data and nothing to download.
    """
    base = Path(root).expanduser() if root is not None else data_home()
    if has_data(base):
        return base
    if dataset is None:
        return None
    if has_data(base / dataset):
        return base / dataset
    if not download:
        return None
    # Imported here so the data modules (and recipe parsing) work without the download helpers.
    from translation_zoo.data import datasets

    target = base.parent if root is not None and base.name == dataset else base
    return Path(datasets.download(dataset, target, family))


def missing_names(left: Iterable[str], right: Iterable[str], limit: int = 5) -> str:
    """Up to ``limit`` names of ``left`` absent from ``right``, for error messages."""
    missing = sorted(set(left) - set(right))
    more = f" and {len(missing) - limit} more" if len(missing) > limit else ""
    return ", ".join(missing[:limit]) + more


# ------------------------------------------------------------------------------------------ generated demos
DEMO_MARKER = "DEMO_COMPLETE"


def demo_complete(folder: Path, stamp: str) -> bool:
    """Whether ``folder`` holds a finished build whose marker file reads ``stamp`` (e.g. ``"digit_scenes v1"``)."""
    marker = folder / DEMO_MARKER
    return marker.is_file() and marker.read_text().strip() == stamp


def build_demo_once(root: Path, name: str, version: int, build: Callable[[Path], None]) -> Path:
    """Make the generated demo ``name`` (version ``version``) exist in ``root``; return ``root``.

    ``build(folder)`` writes it into a temporary sibling folder that is then renamed into place, so a reader never
    sees half a demo and concurrent callers (pytest-xdist workers) agree: the first rename wins. An older version
    of the same demo is replaced; a non-empty folder that is not this demo is an error, never overwritten.
    """
    import shutil
    import tempfile

    stamp = f"{name} v{version}"
    if demo_complete(root, stamp):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        build(tmp)
        (tmp / DEMO_MARKER).write_text(stamp + "\n")
        if root.is_dir() and not demo_complete(root, stamp):
            marker = root / DEMO_MARKER
            if marker.is_file() and marker.read_text().startswith(f"{name} v"):  # an older version: replace it
                old = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
                os.replace(root, old / root.name)
                shutil.rmtree(old, ignore_errors=True)
            elif any(root.iterdir()):
                raise DataError(f"{root} exists but is not the {name} demo: remove it or choose another root")
            else:
                root.rmdir()
        try:
            os.rename(tmp, root)
        except OSError:
            if not demo_complete(root, stamp):  # another process won the race with a complete copy: use it
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root
