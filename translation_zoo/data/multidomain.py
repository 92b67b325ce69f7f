"""Multi-domain data: one folder per domain, or a CelebA-style attribute file (StarGAN and its family).

Layouts users already have:

* ``layout="folders"``: one folder per domain below each split, the AFHQ / CelebA-HQ layout of StarGAN v2 and the
  RaFD layout of StarGAN (``ImageFolder``)::

      root/train/<domain>/*.png    root/val/<domain>/*.png  (or test/)

  Without a ``train/`` folder, ``root`` itself holds the domain folders (RaFD as the official StarGAN reads it).
  Batches ``{"image": (N, C, H, W) in [-1, 1], "domain": (N,) int64, "path": list[str]}``. With
  ``references=True`` (reference-guided models: StarGAN v2), each training item also carries two reference images
  of one target domain, as the official StarGAN v2 reference loader draws them: ``"reference"``, ``"reference2"``
  (N, C, H, W) and ``"reference_domain"`` (N,) int64 — the domain drawn uniformly (the official loader balances
  the domains), the two images drawn uniformly within it, independently of the item's own image.
* ``layout="attributes"``: an image folder and an attribute file in the CelebA format (``list_attr_celeba.txt``:
  a count line, a header line of attribute names, then ``<file> <±1> <±1> ...`` per image), of which
  ``selected_attrs`` are used, as the official StarGAN's CelebA loader does: lines shuffled with Python's
  ``random.seed(1234)``, the first ``test_size`` (1,999) are the test split, the rest train; images flipped
  (training), centre-cropped to ``crop_size`` (178) and resized to ``image_size`` (128). Batches
  ``{"image", "attrs": (N, K) float32 in {0, 1}, "path"}`` — the official ``label_org`` of CelebA (a multi-label
  target vector; the official RaFD labels are class indices, our ``"domain"``).

Domain names map to indices in a fixed order (sorted folder names, or the order of ``domains`` /
``selected_attrs``), kept in checkpoints (``state_dict``): a resumed run uses the saved mapping, and a change in
the folders is an error rather than a silent relabelling.

Embedded demos (real digits, no download; ``DemoMultiDomainDataModule``):

* ``digits3`` (folders): three domains of 32x32 grey digits — ``mnist`` (MNIST), ``mnist_edges`` (Canny edge maps
  of other MNIST digits) and ``uci`` (the UCI digits of scikit-learn). The test digits of ``mnist`` and ``uci`` are
  the held-out split of the shipped digit classifiers (:mod:`translation_zoo.metrics.digits`).
* ``digits_attrs`` (attributes): 5,000 MNIST digits with a ``list_attr_celeba.txt`` whose attributes are measured
  from the pixels — ``Thick`` (stroke width above the median), ``Slanted`` (right slant above the median),
  ``Wide`` (ink bounding box wider than the median) — so attribute edits can be checked by measuring them
  (:func:`digit_attributes`).

File names of the demos carry the digit (``_label<d>``), read back by :func:`~translation_zoo.data.label_from_path`.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from translation_zoo.data.base import (
    DataError,
    TranslationDataModule,
    check_bool,
    check_choice,
    check_int,
    list_images,
    load_image,
    missing_names,
)

LAYOUTS = ("folders", "attributes")
SPLITS = {"train": ("train",), "val": ("val", "test"), "test": ("test", "val")}
OFFICIAL_CELEBA_SEED = 1234  # data_loader.py: random.seed(1234) before shuffling the attribute lines


# ------------------------------------------------------------------------------------------ transform
class MultiDomainTransform:
    """PIL image -> (C, S, S) float tensor in [-1, 1], as the official StarGAN loader: flip (training), centre
    crop to ``crop_size`` (if set), resize the shorter side to ``image_size`` (bilinear) and centre-crop to a square.

    Called as the predict transform too (``transform({"A": img}, source=...)``).
    """

    def __init__(self, image_size: int, crop_size: int | None, flip: bool) -> None:
        self.image_size, self.crop_size, self.flip = image_size, crop_size, flip

    def image(self, img: Image.Image) -> torch.Tensor:
        # torch's global RNG: the training loader seeds it per sample (data.resumable), so runs and resumes repeat.
        if self.flip and torch.rand(()) < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        if self.crop_size is not None:
            img = _center_crop(img, self.crop_size)
        s = self.image_size
        if img.size != (s, s):
            w, h = img.size
            scale = s / min(w, h)
            img = img.resize((max(s, round(w * scale)), max(s, round(h * scale))), Image.BILINEAR)
            img = _center_crop(img, s)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 127.5 - 1.0)
        return (x[None] if x.dim() == 2 else x.permute(2, 0, 1)).contiguous()

    def __call__(self, images: dict[str, Image.Image], seed: int | None = None, source: str = "") -> dict[str, Any]:
        return {k: self.image(v) for k, v in images.items()}


def _center_crop(img: Image.Image, size: int) -> Image.Image:
    """The central ``size`` x ``size`` window (torchvision's CenterCrop rounding; pads nothing)."""
    w, h = img.size
    left, top = int(round((w - size) / 2.0)), int(round((h - size) / 2.0))
    return img.crop((left, top, left + size, top + size))


# ------------------------------------------------------------------------------------------- datasets
class DomainFolderDataset(Dataset):
    """Items ``{"image", "domain": int64, "path"}`` of ``(file, domain name)`` samples.

    ``index`` (domain name -> index) is shared with the data module, so a resumed run's saved mapping applies to
    datasets built before the checkpoint was read.
    """

    def __init__(
        self,
        samples: list[tuple[Path, str]],
        root: Path,
        index: dict[str, int],
        channels: int,
        transform,
        references: bool = False,
    ) -> None:
        self.samples, self.root, self.index, self.channels, self.transform = samples, root, index, channels, transform
        self.references = references
        self.by_domain: dict[str, list[Path]] = {}
        for path, name in samples:
            self.by_domain.setdefault(name, []).append(path)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        path, name = self.samples[i]
        item = {
            "image": self.transform.image(load_image(path, self.channels)),
            "domain": torch.tensor(self.index[name], dtype=torch.int64),
            "path": path.relative_to(self.root).as_posix(),
        }
        if self.references:
            # torch's global RNG, seeded per sample by data.resumable: runs and resumes draw the same references.
            names = sorted(self.by_domain, key=self.index.__getitem__)
            ref_name = names[int(torch.randint(len(names), ()))]
            pool = self.by_domain[ref_name]
            first, second = (pool[int(j)] for j in torch.randint(len(pool), (2,)))
            item["reference"] = self.transform.image(load_image(first, self.channels))
            item["reference2"] = self.transform.image(load_image(second, self.channels))
            item["reference_domain"] = torch.tensor(self.index[ref_name], dtype=torch.int64)
        return item


class AttributeDataset(Dataset):
    """Items ``{"image", "attrs": (K,) float32 in {0, 1}, "path"}`` (the official CelebA ``label``)."""

    def __init__(self, samples: list[tuple[str, list[bool]]], image_dir: Path, channels: int, transform) -> None:
        self.samples, self.image_dir, self.channels, self.transform = samples, image_dir, channels, transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        name, label = self.samples[i]
        return {
            "image": self.transform.image(load_image(self.image_dir / name, self.channels)),
            "attrs": torch.tensor(label, dtype=torch.float32),
            "path": name,
        }


def read_attribute_file(path: Path, selected: Sequence[str]) -> list[tuple[str, list[bool]]]:
    """``(file name, [value == 1 for each selected attribute])`` per line of a CelebA-format attribute file, in
    file order.

    Raises:
        DataError: a missing file, a header without a selected attribute (the message lists the header), a line
            with the wrong number of values or a value other than 1 / -1 (naming the line).
    """
    if not path.is_file():
        raise DataError(f"attribute file {path} does not exist (attr_file: a CelebA-style list_attr_celeba.txt)")
    lines = path.read_text().splitlines()
    if len(lines) < 2:
        raise DataError(f"{path}: expected a count line and a header line of attribute names, got {len(lines)} lines")
    header = lines[1].split()
    position = {name: i for i, name in enumerate(header)}
    absent = [a for a in selected if a not in position]
    if absent:
        raise DataError(
            f"selected_attrs {absent} are not in the header of {path} (line 2); its attributes: {', '.join(header)}"
        )
    out = []
    for number, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if not fields:
            continue
        values = fields[1:]
        if len(values) != len(header):
            raise DataError(f"{path}, line {number}: {len(values)} values for {len(header)} attributes: {line!r}")
        picked = [values[position[a]] for a in selected]
        bad = [v for v in picked if v not in ("1", "-1")]
        if bad:
            raise DataError(f"{path}, line {number}: attribute values must be 1 or -1, got {bad[0]!r}")
        out.append((fields[0], [v == "1" for v in picked]))
    return out


# -------------------------------------------------------------------------------------------- module
class MultiDomainDataModule(TranslationDataModule):
    """Images labelled with a domain (folder per domain) or an attribute vector (CelebA-style file).

    Args:
        root: the dataset folder (see the module docstring for the layouts).
        layout: ``folders`` (domain = sub-folder) or ``attributes`` (``attr_file`` + ``image_dir``).
        domains: ``folders``: the domains to use, in index order (default: every sub-folder, sorted by name).
        attr_file: ``attributes``: the attribute file, relative to ``root`` (official ``--attr_path``).
        image_dir: ``attributes``: the image folder, relative to ``root`` (official ``--celeba_image_dir``).
        selected_attrs: ``attributes``: the attributes used, in label order (official default: Black_Hair,
            Blond_Hair, Brown_Hair, Male, Young).
        test_size: ``attributes``: images of the test split, the first of the shuffled lines (official: 1,999).
        channels: 1 (grayscale) or 3 (RGB).
        image_size: side of the square images (official ``--image_size``: 128).
        crop_size: centre crop before resizing (official CelebA 178, RaFD 256; ``None``: none).
        flip: random horizontal flips in training (official: on).
        max_dataset_size: use at most this many images of each split (the first, in file order).
        references: ``folders``: training items also carry two reference images of a random domain
            (``reference``, ``reference2``, ``reference_domain``; StarGAN v2's reference-guided training).
        batch_size: official 16; also ``num_workers``, ``pin_memory``, ``persistent_workers``, ``predict_dir``.
    """

    def __init__(
        self,
        root: str | None = None,
        layout: Literal["folders", "attributes"] = "folders",
        domains: list[str] | None = None,
        attr_file: str = "list_attr_celeba.txt",
        image_dir: str = "images",
        selected_attrs: list[str] | None = None,
        test_size: int = 1999,
        channels: int = 3,
        image_size: int = 128,
        crop_size: int | None = None,
        flip: bool = True,
        max_dataset_size: int | None = None,
        references: bool = False,
        batch_size: int = 16,
        num_workers: int = 4,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
        predict_dir: str | None = None,
    ) -> None:
        super().__init__(batch_size, num_workers, pin_memory, persistent_workers, predict_dir)
        check_choice("layout", layout, LAYOUTS)
        check_choice("channels", channels, (1, 3))
        check_int("image_size", image_size, 1)
        check_int("crop_size", crop_size, 1, optional=True)
        check_int("test_size", test_size, 0)
        check_bool("flip", flip)
        check_int("max_dataset_size", max_dataset_size, 1, optional=True)
        check_bool("references", references)
        if references and layout != "folders":
            raise DataError("references=True needs layout='folders' (reference images of a target domain folder)")
        if layout == "attributes" and not selected_attrs:
            raise DataError("layout='attributes' needs selected_attrs (e.g. [Black_Hair, Blond_Hair, Male])")
        if layout == "folders" and selected_attrs:
            raise DataError("selected_attrs is for layout='attributes'; with 'folders' choose domains instead")
        for option, names in (("domains", domains), ("selected_attrs", selected_attrs)):
            if names is not None and len(set(names)) != len(names):
                raise DataError(f"{option} lists a name twice: {names}")
        self.data_dir: Path | None = None
        # Not from hparams: a subclass's own (None) value of the same name wins there (see TranslationDataModule).
        self.selected_attrs = list(selected_attrs or [])
        #: domain (or attribute) name -> index; fixed at setup, restored from checkpoints.
        self.domain_index: dict[str, int] = {}

    # ------------------------------------------------------------------------------- names and state
    @property
    def domain_names(self) -> list[str]:
        """Domain (folders) or attribute (attributes) names in index order, once known (after ``setup``)."""
        if self.hparams.layout == "attributes":
            return list(self.selected_attrs)
        return sorted(self.domain_index, key=self.domain_index.__getitem__)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self.domain_index:
            state["domain_names"] = self.domain_names
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        saved = state_dict.get("domain_names")
        if saved is None or self.hparams.layout == "attributes":
            return
        if self.domain_index and set(saved) != set(self.domain_index):
            raise DataError(
                f"the checkpoint was trained on domains {saved}, but {self.data_dir} now has "
                f"{self.domain_names}: restore the folders or pass domains={saved}"
            )
        # In place: datasets built before the checkpoint was read share this dict.
        self.domain_index.clear()
        self.domain_index.update({name: i for i, name in enumerate(saved)})

    @property
    def n_domains(self) -> int:
        return len(self.domain_names)

    # ------------------------------------------------------------------------------------------ data
    def resolve_data_dir(self, download: bool) -> Path:
        if self.hparams.root is None:
            raise DataError(f"{type(self).__name__} needs root: the dataset folder")
        return Path(self.hparams.root).expanduser()

    @property
    def predict_channels(self) -> int:
        return self.hparams.channels

    def predict_transform(self) -> MultiDomainTransform:
        return self._transform(train=False)

    def _transform(self, train: bool) -> MultiDomainTransform:
        hp = self.hparams
        return MultiDomainTransform(hp.image_size, hp.crop_size, hp.flip and train)

    def prepare_data(self) -> None:
        self.data_dir = self.resolve_data_dir(download=True)

    def setup(self, stage: str) -> None:
        super().setup(stage)
        if stage == "predict":
            return
        if self.data_dir is None:
            self.data_dir = self.resolve_data_dir(download=True)
        if self.hparams.layout == "attributes":
            self._setup_attributes(stage)
        else:
            self._setup_folders(stage)

    def _split_folder(self, split: str) -> Path | None:
        root = self.data_dir
        for name in SPLITS[split]:
            if (root / name).is_dir():
                return root / name
        if split == "train" and not any((root / s).is_dir() for s in ("train", "val", "test")):
            return root  # RaFD as the official code reads it: root/<domain>/
        return None

    def _setup_folders(self, stage: str) -> None:
        train = self._split_folder("train")
        if train is None:
            raise DataError(f"{self.data_dir} has no train/ folder (expected train/<domain>/ folders of images)")
        if not self.domain_index:
            found = sorted(p.name for p in train.iterdir() if p.is_dir() and not p.name.startswith("."))
            names = self.hparams.domains or found
            absent = [d for d in names if d not in found]
            if absent:
                raise DataError(f"domains {absent} have no folder in {train} (found: {found})")
            if len(names) < 2:
                raise DataError(f"{train} holds {len(names)} domain folder(s) {names}: multi-domain needs 2 or more")
            self.domain_index.update({name: i for i, name in enumerate(names)})
        wanted = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}.get(stage, ())
        for split in wanted:
            attr = f"{split}_set"
            if getattr(self, attr) is not None:
                continue
            folder = train if split == "train" else self._split_folder(split)
            if folder is None:
                if split == "test":
                    raise DataError(f"{self.data_dir} has no test/ or val/ folder")
                continue
            setattr(self, attr, self._folder_dataset(folder, split == "train"))

    def _folder_dataset(self, folder: Path, train: bool) -> DomainFolderDataset:
        samples: list[tuple[Path, str]] = []
        present = {p.name for p in folder.iterdir() if p.is_dir()}
        if not train and not present & set(self.domain_index):
            raise DataError(f"{folder} has none of the domain folders {self.domain_names}")
        for name in self.domain_names:
            if not train and name not in present:
                continue  # an evaluation split may leave out a domain
            try:
                paths = list_images(folder / name)
            except DataError as e:
                raise DataError(f"domain {name!r}: {e}") from e
            samples += [(p, name) for p in paths[: self.hparams.max_dataset_size]]
        return DomainFolderDataset(
            samples,
            folder,
            self.domain_index,
            self.hparams.channels,
            self._transform(train),
            references=self.hparams.references and train,
        )

    def _setup_attributes(self, stage: str) -> None:
        hp = self.hparams
        image_dir = self.data_dir / hp.image_dir
        if not image_dir.is_dir():
            raise DataError(f"image_dir {image_dir} does not exist (the images named in {hp.attr_file})")
        lines = read_attribute_file(self.data_dir / hp.attr_file, self.selected_attrs)
        present = set(os.listdir(image_dir))
        missing = [name for name, _ in lines if name not in present]
        if missing:
            raise DataError(
                f"{len(missing)} images listed in {self.data_dir / hp.attr_file} are missing from {image_dir}: "
                f"{missing_names(missing, present)}"
            )
        random.Random(OFFICIAL_CELEBA_SEED).shuffle(lines)  # the official split (same as random.seed(1234))
        test, train = lines[: hp.test_size], lines[hp.test_size :]
        if not train:
            raise DataError(
                f"{hp.attr_file} lists {len(lines)} images, all in the test split (test_size={hp.test_size})"
            )
        n = hp.max_dataset_size
        if stage == "fit" and self.train_set is None:
            self.train_set = AttributeDataset(train[:n], image_dir, hp.channels, self._transform(True))
        if stage in ("fit", "validate", "test") and test:
            evaluation = AttributeDataset(test[:n], image_dir, hp.channels, self._transform(False))
            self.val_set = self.val_set or evaluation
            self.test_set = self.test_set or evaluation
        elif stage == "test":
            raise DataError("test_size=0: the attribute layout has no test split")


# --------------------------------------------------------------------------------------------- demos
DEMOS = ("digits3", "digits_attrs")
DEMO_ATTRIBUTES = ("Thick", "Slanted", "Wide")


def digit_attributes(images: np.ndarray) -> np.ndarray:
    """Measured attributes of white-on-black digits (N, H, W) uint8 (or floats in [-1, 1]): float (N, 3) columns
    stroke width (ink pixels / skeleton pixels), slant (shear of the ink, mu11 / mu02; > 0 leans right) and width
    (columns spanned by ink)."""
    from skimage.morphology import skeletonize

    x = np.asarray(images)
    ink = x > (0 if x.dtype != np.uint8 else 127)
    out = np.zeros((len(ink), 3))
    rows, cols = np.mgrid[: ink.shape[1], : ink.shape[2]]
    for i, mask in enumerate(ink):
        area = mask.sum()
        if area == 0:
            continue
        out[i, 0] = area / max(1, skeletonize(mask).sum())
        r, c = rows[mask], cols[mask]
        dr, dc = r - r.mean(), c - c.mean()
        out[i, 1] = -(dr * dc).sum() / max(1e-6, (dr * dr).sum())  # rows grow downwards: a right lean is negative
        out[i, 2] = c.max() - c.min() + 1
    return out


def _build_digits3(out: Path) -> None:
    from translation_zoo.data import demo, demo_sources
    from translation_zoo.metrics.digits import split_indices

    mnist, mnist_labels = demo_sources.mnist_digits()
    uci, uci_labels = demo_sources.uci_digits()
    edges = np.stack([demo_sources.edge_map(d) for d in mnist])
    m_train, m_test = split_indices(mnist_labels)  # held out from the shipped digits_mnist classifier
    u_train, u_test = split_indices(uci_labels)
    half, test_half = len(m_train) // 2, len(m_test) // 2
    # mnist and mnist_edges use disjoint digits: the domains are unpaired.
    demo._write_split(out / "train" / "mnist", mnist, mnist_labels, m_train[:half])
    demo._write_split(out / "train" / "mnist_edges", edges, mnist_labels, m_train[half:])
    demo._write_split(out / "train" / "uci", uci, uci_labels, u_train)
    demo._write_split(out / "test" / "mnist", mnist, mnist_labels, m_test[:test_half])
    demo._write_split(out / "test" / "mnist_edges", edges, mnist_labels, m_test[test_half:])
    demo._write_split(out / "test" / "uci", uci, uci_labels, u_test)


def _build_digits_attrs(out: Path) -> None:
    from translation_zoo.data import demo_sources

    digits, labels = demo_sources.mnist_digits()
    measured = digit_attributes(digits)
    flags = measured > np.median(measured, axis=0)
    (out / "images").mkdir(parents=True)
    lines = [str(len(digits)), " ".join(DEMO_ATTRIBUTES)]
    for i, (image, label) in enumerate(zip(digits, labels)):
        name = f"{i:06d}_label{label}.png"
        Image.fromarray(image).save(out / "images" / name)
        lines.append(name + " " + " ".join("1" if f else "-1" for f in flags[i]))
    (out / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")


_BUILDERS = {"digits3": _build_digits3, "digits_attrs": _build_digits_attrs}


def ensure_multidomain_demo(name: str, root: str | Path | None = None) -> Path:
    """Generate the multi-domain demo ``name`` into ``root`` (default ``$TRANSLATION_ZOO_DATA/demo/<name>``) unless
    it is there already; atomic like the other demos. Returns the folder."""
    from translation_zoo.data import demo

    check_choice("name", name, DEMOS)
    root = Path(root).expanduser() if root is not None else demo.demo_root(name)
    if demo._is_complete(root, name):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        _BUILDERS[name](tmp)
        (tmp / demo.MARKER).write_text(f"{name} v{demo.DEMO_VERSION}\n")
        demo._install(tmp, root, name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


class DemoMultiDomainDataModule(MultiDomainDataModule):
    """:class:`MultiDomainDataModule` over an embedded demo (generated on first use, no download).

    ``digits3``: domains ``mnist``, ``mnist_edges``, ``uci`` (indices 0, 1, 2: sorted names); ``digits_attrs``:
    attributes ``Thick``, ``Slanted``, ``Wide`` of MNIST digits. 1-channel 32x32, no crop, no flips (digits are not
    mirror-symmetric), ``num_workers=0`` (a 32x32 PNG decodes faster than a worker ships it).

    Args:
        name: ``digits3`` (folders) or ``digits_attrs`` (attributes).
        root: cache folder (default ``$TRANSLATION_ZOO_DATA/demo/<name>``).
        selected_attrs: ``digits_attrs``: the attributes used (default all three).
        test_size: ``digits_attrs``: test images (500).
        The others: as :class:`MultiDomainDataModule`.
    """

    def __init__(
        self,
        name: Literal["digits3", "digits_attrs"] = "digits3",
        root: str | None = None,
        domains: list[str] | None = None,
        selected_attrs: list[str] | None = None,
        test_size: int = 500,
        image_size: int = 32,
        flip: bool = False,
        max_dataset_size: int | None = None,
        references: bool = False,
        batch_size: int = 16,
        num_workers: int = 0,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
        predict_dir: str | None = None,
    ) -> None:
        check_choice("name", name, DEMOS)
        attributes = name == "digits_attrs"
        super().__init__(
            root=root,
            layout="attributes" if attributes else "folders",
            domains=domains,
            selected_attrs=(selected_attrs or list(DEMO_ATTRIBUTES)) if attributes else selected_attrs,
            test_size=test_size,
            channels=1,
            image_size=image_size,
            crop_size=None,
            flip=flip,
            max_dataset_size=max_dataset_size,
            references=references,
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            persistent_workers=persistent_workers,
            predict_dir=predict_dir,
        )

    def resolve_data_dir(self, download: bool) -> Path:
        return ensure_multidomain_demo(self.hparams.name, self.hparams.root)


__all__ = [
    "DEMOS",
    "DEMO_ATTRIBUTES",
    "AttributeDataset",
    "DemoMultiDomainDataModule",
    "DomainFolderDataset",
    "MultiDomainDataModule",
    "MultiDomainTransform",
    "digit_attributes",
    "ensure_multidomain_demo",
    "read_attribute_file",
]
