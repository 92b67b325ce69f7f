"""LabelMapDataModule: the official layouts on tiny synthetic files, aligned crop/flip, id checks, the embedded demo."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from translation_zoo.data.base import DataError
from translation_zoo.data.labelmaps import (
    DEMO_CLASSES,
    DEMO_LABEL_NC,
    DEMO_SPLITS,
    DEMO_TEXTURES,
    DemoLabelMapDataModule,
    LabelMapDataModule,
    LabelMapTransform,
    download_ade20k,
)

W, H = 48, 40


# ------------------------------------------------------------------------------------------ synthetic files
def _scene(seed: int, w: int = W, h: int = H, label_nc: int = 35) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(label uint8, instance int32, photo uint8 RGB): random ids per pixel; the photo and the instance map are
    functions of the label, so any misalignment between them shows up pixel by pixel."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, label_nc, (h, w)).astype(np.uint8)
    instance = (label.astype(np.int32) * 1000 + (np.arange(w)[None] // 8)).astype(np.int32)  # band = instance
    photo = np.stack([label * 7, (instance % 1000) * 40, np.full_like(label, 128)], -1).astype(np.uint8)
    return label, instance, photo


def _save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if array.dtype == np.int32:
        array = array.astype(np.uint16)  # 16-bit PNG, as Cityscapes' instanceIds
    Image.fromarray(array).save(path)
    return path


def _cityscapes(root: Path, split: str = "train", n: int = 3, label_nc: int = 35) -> Path:
    for i in range(n):
        city = "aachen" if i % 2 == 0 else "bremen"
        stem = f"{city}_{i:06d}_000019"
        label, instance, photo = _scene(i, label_nc=label_nc)
        _save(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", label)
        _save(root / "gtFine" / split / city / f"{stem}_gtFine_instanceIds.png", instance)
        _save(root / "gtFine" / split / city / f"{stem}_gtFine_color.png", photo)  # must be ignored
        _save(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", photo)
    return root


def _pix2pixhd(root: Path, split: str = "train", n: int = 3) -> Path:
    for i in range(n):
        label, instance, photo = _scene(10 + i)
        stem = f"frankfurt_{i:06d}_000019"
        _save(root / f"{split}_label" / f"{stem}_gtFine_labelIds.png", label)
        _save(root / f"{split}_inst" / f"{stem}_gtFine_instanceIds.png", instance)
        _save(root / f"{split}_img" / f"{stem}_leftImg8bit.png", photo)
    return root


def _blocky(seed: int, label_nc: int, block: int = 8, w: int = W, h: int = H) -> tuple[np.ndarray, np.ndarray]:
    """(label, photo) with constant 8x8 blocks: survives JPEG and bicubic resizing inside each block."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, label_nc, (h // block, w // block)).astype(np.uint8)
    label = np.kron(small, np.ones((block, block), dtype=np.uint8))
    photo = np.stack([label * (255 // max(1, label_nc - 1)), 255 - label * (255 // max(1, label_nc - 1)), label], -1)
    return label, photo.astype(np.uint8)


def _ade20k(root: Path, split: str = "training", n: int = 3) -> Path:
    base = root / "ADEChallengeData2016"
    for i in range(n):
        label, photo = _blocky(i, 151)
        stem = f"ADE_{'train' if split == 'training' else 'val'}_{i + 1:08d}"
        _save(base / "annotations" / split / f"{stem}.png", label)
        (base / "images" / split).mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo).save(base / "images" / split / f"{stem}.jpg", quality=95, subsampling=0)
    return root


def _coco(root: Path, split: str = "train", n: int = 3, portrait: int = 0) -> Path:
    for folder, count in (("", n), ("_portrait", portrait)):
        for i in range(count):
            label, instance, photo = _scene(20 + i, label_nc=182)
            label[0, 0] = 255  # COCO-Stuff's "unlabeled"
            stem = f"{i:012d}{folder}"
            _save(root / f"{split}_label{folder}" / f"{stem}.png", label)
            _save(root / f"{split}_inst{folder}" / f"{stem}.png", instance)
            (root / f"{split}_img{folder}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(photo).save(root / f"{split}_img{folder}" / f"{stem}.jpg", quality=95)
    return root


def _module(root: Path, layout: str, **kw) -> LabelMapDataModule:
    kw.setdefault("load_size", 32)
    kw.setdefault("crop_size", 32)
    kw.setdefault("preprocess", "crop")
    return LabelMapDataModule(root=str(root), layout=layout, num_workers=0, **kw)


def _expected_photo(label: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
    """The photo ``_scene`` draws for these ids, in [-1, 1]."""
    r = (label * 7).float()
    g = ((instance % 1000) * 40).float()
    b = torch.full_like(r, 128.0)
    return torch.cat([r, g, b], 0) / 127.5 - 1


# ------------------------------------------------------------------------------------------ tests
def test_init_touches_no_disk_and_checks_options(tmp_path):
    dm = LabelMapDataModule(root=str(tmp_path / "absent"), layout="cityscapes")
    assert dm.label_nc == 35 and dm.use_instance and not dm.contain_dontcare_label and dm.semantic_nc == 35
    ade = LabelMapDataModule(root=str(tmp_path / "absent"), layout="ade20k")
    assert (ade.label_nc, ade.use_instance, ade.contain_dontcare_label, ade.semantic_nc) == (150, False, True, 151)
    with pytest.raises(DataError, match="no cityscapes data in .*absent.*gtFine"):
        dm.setup("fit")
    with pytest.raises(DataError, match="use_instance"):
        LabelMapDataModule(layout="ade20k", use_instance=True)
    with pytest.raises(DataError, match="preprocess"):
        LabelMapDataModule(preprocess="scale_height")
    with pytest.raises(DataError, match="crop_size"):
        LabelMapDataModule(load_size=128, crop_size=256)
    with pytest.raises(DataError, match="label_nc"):
        LabelMapDataModule(label_nc=0)


@pytest.mark.parametrize("preprocess", ["crop", "resize_and_crop", "scale_width_and_crop", "none", "fixed"])
def test_cityscapes_batches_and_aligned_crop_flip(tmp_path, preprocess):
    root = _cityscapes(tmp_path, n=4)
    dm = _module(root, "cityscapes", preprocess=preprocess, load_size=40, crop_size=24, batch_size=4, flip=True)
    dm.setup("fit")
    assert dm.val_set is None  # no val split: no val loader
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"label", "instance", "image", "path"}
    size = {"crop": (24, 24), "resize_and_crop": (24, 24), "scale_width_and_crop": (24, 24), "none": (32, 64)}
    size["fixed"] = (24, 24)
    assert batch["label"].dtype == torch.int64 and batch["label"].shape == (4, 1, *size[preprocess])
    assert batch["instance"].dtype == torch.int64 and batch["instance"].shape == (4, 1, *size[preprocess])
    assert batch["image"].dtype == torch.float32 and batch["image"].shape == (4, 3, *size[preprocess])
    assert batch["image"].min() >= -1 and batch["image"].max() <= 1
    assert all(p.endswith("_gtFine_labelIds.png") for p in batch["path"])
    # Every instance id is its label's (class * 1000 + band): label and instance got the same crop and flip.
    assert torch.equal(batch["instance"] // 1000, batch["label"])
    if preprocess == "crop":  # no resampling: the photo must equal the function of the ids, pixel by pixel
        for i in range(4):
            assert torch.allclose(batch["image"][i], _expected_photo(batch["label"][i], batch["instance"][i]))


def test_crop_and_flip_are_random_and_shared(tmp_path):
    """Many draws of one item: crops and flips vary, and label, instance and photo always agree."""
    root = _cityscapes(tmp_path, n=1)
    dm = _module(root, "cityscapes", preprocess="crop", crop_size=16, flip=True)
    dm.setup("fit")
    seen = set()
    torch.manual_seed(0)
    full_label, _, _ = _scene(0)
    for _ in range(40):
        item = dm.train_set[0]
        label, instance = item["label"], item["instance"]
        assert torch.allclose(item["image"], _expected_photo(label, instance))
        seen.add(label.numpy().tobytes())
        # The crop is a window of the file (or of its mirror image).
        lab = label[0].numpy()
        found = False
        for full in (full_label, full_label[:, ::-1]):
            for y in range(H - 16 + 1):
                for x in range(W - 16 + 1):
                    if np.array_equal(full[y : y + 16, x : x + 16], lab):
                        found = True
        assert found
    assert len(seen) > 10  # random positions (and flips)


def test_misaligned_crop_would_be_caught(tmp_path):
    """The alignment check above is sensitive: a photo cropped one pixel off does not pass it."""
    label, instance, photo = _scene(0)
    t = LabelMapTransform("crop", 32, 16, flip=False, train=True)
    params = t.params(W, H, seed=3, source="x")
    shifted = dict(params, box=tuple(v + (1 if i % 2 == 0 else 0) for i, v in enumerate(params["box"])))
    lab, ins = t.ids(label.astype(np.int32), params), t.ids(instance, params)
    good, bad = t.photo(Image.fromarray(photo), params), t.photo(Image.fromarray(photo), shifted)
    assert torch.allclose(good, _expected_photo(lab, ins))
    assert not torch.allclose(bad, _expected_photo(lab, ins))


def test_nearest_resizing_keeps_ids():
    rng = np.random.default_rng(0)
    ids = rng.choice(np.array([3, 7, 20, 33001]), size=(37, 53)).astype(np.int32)
    for preprocess, load in (("resize_and_crop", 91), ("scale_width", 29), ("none", 32), ("fixed", 32)):
        t = LabelMapTransform(preprocess, load, 16 if preprocess != "fixed" else 40, flip=False, train=False)
        params = t.params(53, 37, None, "x")
        out = t.ids(ids, params)
        assert set(out.unique().tolist()) <= {3, 7, 20, 33001}
        reference = Image.fromarray(ids).resize(params["size"], Image.NEAREST)
        if params["box"] is not None:
            reference = reference.crop(params["box"])
        assert torch.equal(out[0], torch.from_numpy(np.array(reference, dtype=np.int64)))


def test_label_nc_error_names_file_and_id(tmp_path):
    root = _cityscapes(tmp_path, n=2)
    bad = next((root / "gtFine" / "train").rglob("*000001_000019_gtFine_labelIds.png"))
    label = np.array(Image.open(bad))
    label[3, 4] = 40
    Image.fromarray(label).save(bad)
    dm = _module(root, "cityscapes")
    dm.setup("fit")
    dm.train_set[0]
    with pytest.raises(DataError, match=rf"{bad.name}.*label id 40 .*label_nc=35"):
        dm.train_set[1]
    # A larger label_nc accepts it.
    dm = _module(root, "cityscapes", label_nc=41)
    dm.setup("fit")
    assert dm.train_set[1]["label"].max() <= 40


def test_dontcare_mapping(tmp_path):
    root = _cityscapes(tmp_path, n=1)
    path = next((root / "gtFine" / "train").rglob("*_labelIds.png"))
    label = np.array(Image.open(path))
    label[:, :5] = 255
    Image.fromarray(label).save(path)
    dm = _module(root, "cityscapes", preprocess="none", size_multiple=8, use_instance=False)
    dm.setup("fit")
    with pytest.raises(DataError, match=rf"{path.name}.*don't-care id 255.*contain_dontcare_label"):
        dm.train_set[0]
    dm = _module(root, "cityscapes", preprocess="none", size_multiple=8, contain_dontcare_label=True)
    dm.setup("fit")
    out = dm.train_set[0]["label"][0].numpy()
    expected = label.astype(np.int64)
    expected[expected == 255] = 35
    assert np.array_equal(out, expected) and dm.semantic_nc == 36


def test_ade20k_shift_and_dontcare(tmp_path):
    root = _ade20k(tmp_path, n=2)
    _ade20k(tmp_path, split="validation", n=1)
    dm = _module(tmp_path, "ade20k", preprocess="none", size_multiple=8, batch_size=2, flip=False)
    dm.setup("fit")
    assert len(dm.train_set) == 2 and len(dm.val_set) == 1
    assert set(next(iter(dm.train_dataloader()))) == {"label", "image", "path"}
    batch = next(iter(dm._loader(dm.train_set, shuffle=False)))  # file order
    assert "instance" not in batch
    raw = np.stack(
        [
            np.array(Image.open(p))
            for p in sorted((root / "ADEChallengeData2016" / "annotations" / "training").iterdir())
        ]
    )
    expected = raw.astype(np.int64) - 1
    expected[raw == 0] = 150  # stored 0 = unknown -> the don't-care id label_nc
    assert torch.equal(batch["label"][:, 0], torch.from_numpy(expected))
    # the photo (JPEG) matches the blocks of its label map
    assert (batch["image"][:, 2] * 127.5 + 127.5 - torch.from_numpy(raw).float()).abs().max() < 12
    # stored 151 is out of range for label_nc 150
    bad = sorted((root / "ADEChallengeData2016" / "annotations" / "training").iterdir())[1]
    label = np.array(Image.open(bad))
    label[0, 0] = 151
    Image.fromarray(label).save(bad)
    with pytest.raises(DataError, match=rf"{bad.name}.*label id 151"):
        dm.train_set[1]


def test_pix2pixhd_layout_pairs_by_position(tmp_path):
    root = _pix2pixhd(tmp_path, n=3)
    _pix2pixhd(tmp_path, split="test", n=2)
    dm = _module(root, "pix2pixhd", batch_size=3)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert torch.equal(batch["instance"] // 1000, batch["label"])
    for i in range(3):
        assert torch.allclose(batch["image"][i], _expected_photo(batch["label"][i], batch["instance"][i]))
    dm.setup("test")
    assert len(dm.test_set) == 2
    # Predict on the test split: labels (+ instances), no photo.
    (root / "test_img").rename(root / "elsewhere")
    dm = _module(root, "pix2pixhd", batch_size=2)
    dm.setup("predict")
    batch = next(iter(dm.predict_dataloader()))
    assert set(batch) == {"label", "instance", "path"}
    assert batch["path"][0] == "test_label/frankfurt_000000_000019_gtFine_labelIds.png"
    # A missing photo breaks the by-position pairing: a clear error.
    (root / "train_img" / "frankfurt_000001_000019_leftImg8bit.png").unlink()
    dm = _module(root, "pix2pixhd")
    with pytest.raises(DataError, match="differ in size.*train_label: 3.*train_img: 2"):
        dm.setup("fit")


def test_coco_stuff_layout(tmp_path):
    root = _coco(tmp_path, n=2, portrait=1)
    _coco(tmp_path, split="val", n=1)
    dm = _module(root, "coco_stuff", preprocess="none", size_multiple=8, batch_size=3, flip=False)
    dm.setup("fit")
    assert len(dm.train_set) == 3 and len(dm.val_set) == 1  # portraits join the training split
    batch = next(iter(dm.train_dataloader()))
    assert batch["label"][:, 0, 0, 0].tolist() == [182] * 3  # 255 = unlabeled -> label_nc
    assert set(batch) == {"label", "instance", "image", "path"}
    dm = _module(root, "coco_stuff", use_instance=False)
    dm.setup("fit")
    assert "instance" not in dm.train_set[0]
    (root / "train_img" / f"{1:012d}.jpg").unlink()
    with pytest.raises(DataError, match=r"label file without img file: \[000000000001\]"):
        _module(root, "coco_stuff").setup("fit")


def test_use_instance_false_drops_the_key(tmp_path):
    root = _cityscapes(tmp_path, n=2)
    dm = _module(root, "cityscapes", use_instance=False, batch_size=2)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"label", "image", "path"}


def test_cityscapes_missing_photo_is_named(tmp_path):
    root = _cityscapes(tmp_path, n=2)
    next((root / "leftImg8bit").rglob("bremen_000001*")).unlink()
    with pytest.raises(DataError, match=r"without photo.*\[bremen_000001_000019\]"):
        _module(root, "cityscapes").setup("fit")


def test_ade20k_download_checks_sha1(tmp_path, monkeypatch):
    """The download path, served from a local file (the real server is not reachable from the tests)."""
    from translation_zoo.data import datasets, labelmaps

    src = _ade20k(tmp_path / "src", n=1)
    mirror = tmp_path / "mirror" / "places" / "ADEchallenge"
    mirror.mkdir(parents=True)
    archive = mirror / "ADEChallengeData2016.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted((src / "ADEChallengeData2016").rglob("*")):
            zf.write(p, p.relative_to(src).as_posix())
    monkeypatch.setenv(datasets.MIRROR_ENV, (tmp_path / "mirror").as_uri())
    with pytest.raises(DataError, match="SHA-1 .* differs from the official"):
        download_ade20k(tmp_path / "data", progress=False)
    assert not (tmp_path / "data" / "ADEChallengeData2016.zip").exists()
    monkeypatch.setattr(labelmaps, "ADE20K_SHA1", hashlib.sha1(archive.read_bytes()).hexdigest())
    dm = LabelMapDataModule(
        root=str(tmp_path / "data"), layout="ade20k", download=True, preprocess="none", size_multiple=8, num_workers=0
    )
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.train_set) == 1 and dm.train_set[0]["label"].shape == (1, H, W)
    assert not (tmp_path / "data" / "ADEChallengeData2016.zip").exists()


# ------------------------------------------------------------------------------------------ the demo
@pytest.fixture(scope="module")
def demo():
    dm = DemoLabelMapDataModule(batch_size=8)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_demo_batches_and_classes(demo):
    assert len(demo.train_set) == DEMO_SPLITS["train"] and len(demo.val_set) == DEMO_SPLITS["val"]
    assert demo.label_nc == DEMO_LABEL_NC == len(DEMO_CLASSES) == 14 and demo.semantic_nc == 14
    batch = next(iter(demo.val_dataloader()))
    assert batch["label"].shape == (8, 1, 64, 64) and batch["label"].dtype == torch.int64
    assert batch["instance"].shape == (8, 1, 64, 64) and batch["instance"].dtype == torch.int64
    assert batch["image"].shape == (8, 3, 64, 64) and batch["image"].dtype == torch.float32
    labels = torch.stack([demo.val_set[i]["label"] for i in range(len(demo.val_set))])
    counts = torch.bincount(labels.flatten(), minlength=14)
    assert (counts > 0).all()  # every texture and every digit occurs in the val split
    assert counts[: len(DEMO_TEXTURES)].sum() > counts[len(DEMO_TEXTURES) :].sum()  # backgrounds cover more


def test_demo_touching_digits_have_their_own_instances(demo):
    n_touching = 0
    for i in range(len(demo.val_set)):
        item = demo.val_set[i]
        label, inst = item["label"][0], item["instance"][0]
        things = label >= len(DEMO_TEXTURES)
        assert torch.equal(inst[things] // 1000, label[things])  # Cityscapes encoding: class * 1000 + k
        assert torch.equal(inst[~things], label[~things])  # background pixels: their class id
        # neighbours of one digit class with different instance ids: touching objects of one class
        same = (label[:, 1:] == label[:, :-1]) & things[:, 1:] & (inst[:, 1:] != inst[:, :-1])
        same_v = (label[1:] == label[:-1]) & things[1:] & (inst[1:] != inst[:-1])
        n_touching += bool(same.any() or same_v.any())
    assert n_touching >= 0.9 * len(demo.val_set)


def test_demo_is_deterministic_and_split_disjoint(demo):
    from translation_zoo.data.labelmaps import _DigitScenes

    gen, root = _DigitScenes(), demo.data_dir
    rng = np.random.default_rng([0, 0])
    for index in range(3):
        photo, label, instance = gen.scene("train", rng)
        assert np.array_equal(photo, np.array(Image.open(root / "train_img" / f"{index:05d}.png")))
        assert np.array_equal(label, np.array(Image.open(root / "train_label" / f"{index:05d}.png")))
        assert np.array_equal(instance, np.array(Image.open(root / "train_inst" / f"{index:05d}.png")))
    assert not set(gen.pools["train"]) & set(gen.pools["val"])


def test_predict_dir_with_instance_maps(tmp_path):
    labels, insts = tmp_path / "labels", tmp_path / "insts"
    for i in range(2):
        label, instance, _ = _scene(i)
        _save(labels / "sub" / f"{i}.png", label)
        _save(insts / "sub" / f"{i}.png", instance)
    kw = {"preprocess": "none", "size_multiple": 8, "batch_size": 2}
    dm = _module(tmp_path / "nodata", "cityscapes", predict_dir=str(labels), **kw)
    with pytest.raises(DataError, match="predict_inst_dir"):
        dm.setup("predict")
    dm = _module(tmp_path / "nodata", "cityscapes", predict_dir=str(labels), predict_inst_dir=str(insts), **kw)
    dm.setup("predict")
    batch = next(iter(dm.predict_dataloader()))
    assert set(batch) == {"label", "instance", "path"} and batch["path"] == ["sub/0.png", "sub/1.png"]
    assert torch.equal(batch["instance"] // 1000, batch["label"])


def test_official_sizes():
    """Resize sizes of the official get_params/get_transform for a 2048x1024 Cityscapes frame."""
    cases = {
        ("scale_width", 1024, 512): (1024, 512),  # pix2pixHD label2city 512p
        ("none", 1024, 512): (2048, 1024),  # pix2pixHD 1024p
        ("fixed", 512, 512): (512, 256),  # SPADE Cityscapes, aspect_ratio 2
        ("resize_and_crop", 286, 256): (286, 286),  # SPADE ADE20K / COCO
        ("scale_shortside_and_crop", 286, 256): (572, 1024),  # SPADE's (sic): the short side is not resized
        ("scale_width_and_crop", 512, 256): (512, 256),
    }
    for (mode, load, crop), size in cases.items():
        t = LabelMapTransform(mode, load, crop, flip=False, train=True, aspect_ratio=2.0)
        assert t.resized(2048, 1024) == size, mode
    with pytest.raises(DataError, match="x.png: 286x143 .* smaller than crop_size=256"):
        LabelMapTransform("scale_width_and_crop", 286, 256, flip=False, train=True).params(2048, 1024, 0, "x.png")
