"""Tests of the data layer: layouts, direction, aligned augmentation, unpaired sampling, errors, demos."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from translation_zoo.data import (
    DataError,
    DemoPairedDataModule,
    DemoUnpairedDataModule,
    PairedDataModule,
    UnpairedDataModule,
    label_from_path,
    list_images,
    load_image,
)
from translation_zoo.data import demo as demo_mod
from translation_zoo.data.base import collate
from translation_zoo.data.transforms import TranslationTransform

# Small images and no workers keep every test fast; resize_and_crop with load_size == crop_size is the
# identity, so pixel values can be checked exactly.
SMALL = dict(load_size=8, crop_size=8, batch_size=4, num_workers=0)


def save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)
    return path


def solid(h: int, w: int, value: int | tuple[int, int, int]) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, dtype=np.uint8), (h, w, 3) if isinstance(value, tuple) else (h, w))


def noise(h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    shape = (h, w, channels) if channels == 3 else (h, w)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def make_aligned(root: Path, split: str = "train", n: int = 3, a=(10, 10, 10), b=(200, 200, 200)) -> None:
    """n aligned RGB images of 8x16: A half filled with ``a``, B half with ``b``."""
    for i in range(n):
        save(root / split / f"{i}.png", np.concatenate([solid(8, 8, a), solid(8, 8, b)], axis=1))


def value(v: int) -> float:
    return v / 127.5 - 1


def one_batch(dm, stage: str = "fit") -> dict:
    dm.setup(stage)
    loader = {"fit": dm.train_dataloader, "validate": dm.val_dataloader, "test": dm.test_dataloader}
    return next(iter(loader.get(stage, dm.predict_dataloader)()))


# ------------------------------------------------------------------------------------------ paired


def test_aligned_split_and_direction(tmp_path):
    make_aligned(tmp_path, n=3)
    batch = one_batch(PairedDataModule(root=str(tmp_path), flip=False, **SMALL))
    assert batch["A"].shape == (3, 3, 8, 8) and batch["B"].shape == (3, 3, 8, 8)
    assert torch.allclose(batch["A"], torch.full_like(batch["A"], value(10)))
    assert torch.allclose(batch["B"], torch.full_like(batch["B"], value(200)))
    assert sorted(Path(p).name for p in batch["A_path"]) == ["0.png", "1.png", "2.png"]

    swapped = one_batch(PairedDataModule(root=str(tmp_path), direction="BtoA", flip=False, **SMALL))
    assert torch.allclose(swapped["A"], torch.full_like(swapped["A"], value(200)))
    assert torch.allclose(swapped["B"], torch.full_like(swapped["B"], value(10)))


def test_paired_aug_is_identical_for_a_and_b(tmp_path):
    # Both halves carry the same noise: any crop or flip not shared by A and B makes them differ.
    half = noise(16, 16)
    save(tmp_path / "train" / "x.png", np.concatenate([half, half], axis=1))
    dm = PairedDataModule(root=str(tmp_path), load_size=16, crop_size=10, flip=True, num_workers=0)
    dm.setup("fit")
    outputs = []
    for seed in range(25):
        torch.manual_seed(seed)
        item = dm.train_set[0]
        assert item["A"].shape == (3, 10, 10)
        assert torch.equal(item["A"], item["B"]), f"A and B augmented differently (seed {seed})"
        outputs.append(item["A"])
    # ...and the augmentation is really random (otherwise the check above proves nothing).
    assert len({o.numpy().tobytes() for o in outputs}) > 5


def test_separate_layout_pairs_by_name(tmp_path):
    for name, a, b in [("x.png", 20, 220), ("sub/y.png", 40, 240)]:
        save(tmp_path / "A" / "train" / name, solid(8, 8, a))
        save(tmp_path / "B" / "train" / name, solid(8, 8, b))
    dm = PairedDataModule(root=str(tmp_path), layout="separate", input_nc=1, output_nc=1, flip=False, **SMALL)
    dm.setup("fit")
    items = [dm.train_set[i] for i in range(len(dm.train_set))]
    assert [Path(it["A_path"]).name for it in items] == ["y.png", "x.png"]  # sorted "sub/y.png" < "x.png"
    for it in items:
        # B = A + 200 for every pair: a wrong pairing would break it.
        assert torch.allclose(it["B"] + 1, it["A"] + 1 + 200 / 127.5, atol=1e-5)
        assert Path(it["A_path"]).relative_to(tmp_path / "A") == Path(it["B_path"]).relative_to(tmp_path / "B")


def test_separate_layout_name_mismatch(tmp_path):
    save(tmp_path / "A" / "train" / "same.png", solid(8, 8, 0))
    save(tmp_path / "B" / "train" / "same.png", solid(8, 8, 0))
    save(tmp_path / "A" / "train" / "only_a.png", solid(8, 8, 0))
    save(tmp_path / "B" / "train" / "only_b.png", solid(8, 8, 0))
    dm = PairedDataModule(root=str(tmp_path), layout="separate", **SMALL)
    with pytest.raises(DataError) as e:
        dm.setup("fit")
    msg = str(e.value)
    assert "only_a.png" in msg and "only_b.png" in msg and "same.png" not in msg
    assert str(tmp_path / "A" / "train") in msg and str(tmp_path / "B" / "train") in msg


@pytest.mark.parametrize(("input_nc", "output_nc", "direction"), [(1, 3, "AtoB"), (3, 1, "AtoB"), (1, 3, "BtoA")])
def test_channels_follow_model_input_and_target(tmp_path, input_nc, output_nc, direction):
    make_aligned(tmp_path, n=2, a=(30, 60, 90), b=(200, 100, 50))
    dm = PairedDataModule(
        root=str(tmp_path), input_nc=input_nc, output_nc=output_nc, direction=direction, flip=False, **SMALL
    )
    batch = one_batch(dm)
    assert batch["A"].shape[1] == input_nc and batch["B"].shape[1] == output_nc
    source_rgb = (30, 60, 90) if direction == "AtoB" else (200, 100, 50)
    if input_nc == 1:  # PIL's ITU-R 601 luma, as the official Grayscale transform
        luma = Image.new("RGB", (1, 1), source_rgb).convert("L").getpixel((0, 0))
        assert torch.allclose(batch["A"], torch.full_like(batch["A"], value(luma)))
    else:
        assert torch.allclose(batch["A"][:, :, 0, 0], torch.tensor([value(v) for v in source_rgb]).expand(2, 3))


def test_values_span_minus_one_to_one(tmp_path):
    make_aligned(tmp_path, n=1, a=(0, 0, 0), b=(255, 255, 255))
    item = one_batch(PairedDataModule(root=str(tmp_path), flip=False, **SMALL))
    assert item["A"].dtype == torch.float32
    assert item["A"].min() == -1 and item["B"].max() == 1
    # Official-size random aug with bicubic overshoot must stay in range too.
    save(tmp_path / "big" / "train" / "n.png", noise(20, 40))
    dm = PairedDataModule(root=str(tmp_path / "big"), load_size=30, crop_size=16, num_workers=0)
    for seed in range(5):
        torch.manual_seed(seed)
        it = one_batch(dm)
        assert it["A"].min() >= -1 and it["A"].max() <= 1 and it["A"].shape == (1, 3, 16, 16)


def test_missing_val_split_is_absent_but_missing_train_split_fails(tmp_path):
    make_aligned(tmp_path, split="train", n=2)
    dm = PairedDataModule(root=str(tmp_path), **SMALL)
    dm.setup("fit")
    assert dm.val_dataloader() == [] and len(dm.train_dataloader()) == 1

    only_val = tmp_path / "only_val"
    make_aligned(only_val, split="val", n=2)
    with pytest.raises(DataError, match=str(only_val / "train")):
        PairedDataModule(root=str(only_val), **SMALL).setup("fit")


@pytest.mark.filterwarnings("ignore:.*across ranks is zero")  # Lightning's note on an empty val loader
def test_fit_runs_without_a_val_split(tmp_path):
    make_aligned(tmp_path, n=4)

    class Tiny(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 1)

        def training_step(self, batch, _):
            return (self.conv(batch["A"]) - batch["B"]).abs().mean()

        def validation_step(self, batch, _):
            raise AssertionError("there is no validation data")

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    trainer = L.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False
    )
    trainer.fit(Tiny(), datamodule=PairedDataModule(root=str(tmp_path), **SMALL))
    assert trainer.global_step == 1


@pytest.mark.parametrize("root_is_dataset_folder", [False, True])
def test_prepare_data_downloads_named_dataset(tmp_path, monkeypatch, root_is_dataset_folder):
    from translation_zoo.data import datasets

    calls = []

    def fake_download(name, root, family):
        calls.append((name, Path(root), family))
        if family == "pix2pix":
            make_aligned(Path(root) / name, split="train", n=2)
        else:
            make_domains(Path(root) / name, n_a=2, n_b=3)
        return Path(root) / name

    monkeypatch.setattr(datasets, "download", fake_download)
    # Both conventions work: root = where datasets go, or root = the dataset folder itself.
    root = tmp_path / "facades" if root_is_dataset_folder else tmp_path
    dm = PairedDataModule(root=str(root), dataset="facades", **SMALL)
    dm.prepare_data()
    assert calls == [("facades", tmp_path, "pix2pix")]
    assert dm.data_dir == tmp_path / "facades"
    assert one_batch(dm)["A"].shape == (2, 3, 8, 8)
    # A second module finds the data without downloading again.
    PairedDataModule(root=str(root), dataset="facades", **SMALL).setup("fit")
    assert len(calls) == 1
    # The CycleGAN "facades" (trainA/trainB) is another download into the same folder.
    um = UnpairedDataModule(root=str(root), dataset="facades", **SMALL)
    um.prepare_data()
    assert calls[1:] == [("facades", tmp_path, "cyclegan")]
    assert one_batch(um)["A"].shape == (3, 3, 8, 8) and um.data_dir == tmp_path / "facades"


def test_init_touches_no_disk_and_saves_hyperparameters(tmp_path):
    missing = tmp_path / "nothing_here"
    dm = PairedDataModule(root=str(missing), dataset="facades", direction="BtoA", batch_size=2)
    um = UnpairedDataModule(root=str(missing), serial_batches=True)
    assert not missing.exists()
    assert dm.hparams.direction == "BtoA" and dm.hparams.root == str(missing) and dm.hparams.batch_size == 2
    assert um.hparams.serial_batches is True
    assert DemoPairedDataModule(root=str(missing)).hparams.name == "mnist_edges"
    assert not missing.exists()


# ------------------------------------------------------------------------------------------ unpaired


def make_domains(root: Path, n_a: int, n_b: int, size: int = 8) -> None:
    for i in range(n_a):
        save(root / "trainA" / f"a{i:02d}.png", solid(size, size, i))
    for i in range(n_b):
        save(root / "trainB" / f"b{i:02d}.png", solid(size, size, 100 + i))


def test_unpaired_length_and_b_sampling(tmp_path):
    make_domains(tmp_path, n_a=3, n_b=7)
    serial = UnpairedDataModule(root=str(tmp_path), serial_batches=True, flip=False, **SMALL)
    serial.setup("fit")
    ds = serial.train_set
    assert len(ds) == 7 == max(3, 7)
    items = [ds[i] for i in range(len(ds))]
    assert [Path(it["A_path"]).name for it in items] == [f"a{i % 3:02d}.png" for i in range(7)]
    assert [Path(it["B_path"]).name for it in items] == [f"b{i:02d}.png" for i in range(7)]
    assert not serial.shuffle_train  # official serial_batches also turns shuffling off

    rand = UnpairedDataModule(root=str(tmp_path), flip=False, **SMALL)
    rand.setup("fit")

    def b_names(seed):
        torch.manual_seed(seed)
        return [Path(rand.train_set[i % 7]["B_path"]).name for i in range(70)]

    names = b_names(0)
    assert len(set(names)) == 7  # uniform over B, not stuck
    assert names != [f"b{i % 7:02d}.png" for i in range(70)]  # not serial
    assert names == b_names(0) and names != b_names(1)  # reproducible under the torch seed


def test_unpaired_b_differs_across_workers_and_is_reproducible(tmp_path):
    make_domains(tmp_path, n_a=16, n_b=40, size=4)
    dm = UnpairedDataModule(root=str(tmp_path), flip=False, load_size=4, crop_size=4)
    dm.setup("fit")

    def run():
        L.seed_everything(0, verbose=False)
        loader = DataLoader(dm.train_set, batch_size=4, num_workers=2, collate_fn=collate)
        return [tuple(Path(p).name for p in b["B_path"]) for b in loader]

    batches = run()
    # Worker 0 yields batches 0, 2, ...; worker 1 yields 1, 3, ...: duplicated RNG states would repeat.
    assert batches[0] != batches[1] and batches[2] != batches[3]
    assert batches == run()


def test_unpaired_aug_is_independent(tmp_path):
    pattern = noise(16, 16, seed=3)
    save(tmp_path / "trainA" / "x.png", pattern)
    save(tmp_path / "trainB" / "x.png", pattern)
    dm = UnpairedDataModule(root=str(tmp_path), load_size=16, crop_size=10, num_workers=0)
    dm.setup("fit")
    differ = 0
    for seed in range(20):
        torch.manual_seed(seed)
        item = dm.train_set[0]
        differ += not torch.equal(item["A"], item["B"])
    assert differ >= 10  # same source image, different crops/flips most of the time


def test_unpaired_val_falls_back_to_test_and_direction_swaps(tmp_path):
    make_domains(tmp_path, n_a=2, n_b=2)
    save(tmp_path / "testA" / "ta.png", solid(8, 8, 50))
    save(tmp_path / "testB" / "tb.png", solid(8, 8, 150))
    dm = UnpairedDataModule(root=str(tmp_path), direction="BtoA", **SMALL)
    batch = one_batch(dm, "validate")
    assert [Path(p).name for p in batch["A_path"]] == ["tb.png"]
    assert torch.allclose(batch["A"], torch.full_like(batch["A"], value(150)))
    assert torch.allclose(batch["B"], torch.full_like(batch["B"], value(50)))


def test_unpaired_dir_a_dir_b(tmp_path):
    save(tmp_path / "photos" / "p.png", solid(8, 8, (1, 2, 3)))
    save(tmp_path / "paintings" / "q.png", solid(8, 8, (4, 5, 6)))
    dm = UnpairedDataModule(dir_a=str(tmp_path / "photos"), dir_b=str(tmp_path / "paintings"), **SMALL)
    batch = one_batch(dm)
    assert Path(batch["A_path"][0]).name == "p.png" and Path(batch["B_path"][0]).name == "q.png"
    assert dm.val_dataloader() == []
    with pytest.raises(DataError, match="dir_a and dir_b"):
        UnpairedDataModule(dir_a=str(tmp_path / "photos"))


# ------------------------------------------------------------------------------------------ predict


def test_predict_loader_returns_relative_paths(tmp_path):
    save(tmp_path / "in" / "b.jpg", noise(20, 12))
    save(tmp_path / "in" / "sub" / "a.PNG", noise(10, 30, channels=1))
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    dm = PairedDataModule(
        predict_dir=str(tmp_path / "in"), input_nc=1, load_size=16, crop_size=16, batch_size=2, num_workers=0
    )
    batch = one_batch(dm, "predict")
    assert batch["path"] == ["b.jpg", "sub/a.PNG"]
    assert batch["A"].shape == (2, 1, 16, 16) and set(batch) == {"A", "path"}


def test_predict_with_varying_sizes_needs_batch_size_one(tmp_path):
    save(tmp_path / "a.png", noise(8, 8))
    save(tmp_path / "b.png", noise(12, 8))
    dm = UnpairedDataModule(predict_dir=str(tmp_path), preprocess="none", batch_size=2, num_workers=0)
    with pytest.raises(DataError, match="different sizes"):
        one_batch(dm, "predict")


def test_eval_transform_is_deterministic():
    image = noise(20, 30)
    t = TranslationTransform(("A",), "scale_width_and_crop", load_size=24, crop_size=16, flip=True, train=False)
    first = t({"A": image})["A"]
    assert first.shape == (3, 16, 16)
    assert all(torch.equal(first, t({"A": image})["A"]) for _ in range(5))


# ------------------------------------------------------------------------------------------ bad input


def test_corrupt_image_names_the_file(tmp_path):
    bad = tmp_path / "train" / "broken.png"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(DataError, match="broken.png") as e:
        load_image(bad, 3)
    assert "RGB" in str(e.value)
    dm = PairedDataModule(root=str(tmp_path), **SMALL)
    dm.setup("fit")
    with pytest.raises(DataError, match=str(bad)):
        dm.train_set[0]


def test_odd_width_aligned_image_names_the_file(tmp_path):
    save(tmp_path / "train" / "odd.png", noise(8, 15))
    dm = PairedDataModule(root=str(tmp_path), **SMALL)
    dm.setup("fit")
    with pytest.raises(DataError, match="odd.png.*expected an even width: A and B side by side"):
        dm.train_set[0]


def test_empty_folder_names_the_folder(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "readme.txt").write_text("no images")
    with pytest.raises(DataError) as e:
        list_images(tmp_path / "train")
    assert str(tmp_path / "train") in str(e.value) and ".png" in str(e.value)
    with pytest.raises(DataError, match=str(tmp_path / "train")):
        PairedDataModule(root=str(tmp_path), **SMALL).setup("fit")
    with pytest.raises(DataError, match="does not exist"):
        list_images(tmp_path / "missing")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(direction="XtoY"), "direction must be 'AtoB' or 'BtoA', got 'XtoY'"),
        (dict(layout="sideways"), "layout must be 'aligned' or 'separate', got 'sideways'"),
        (dict(preprocess="zoom"), "preprocess must be one of 'resize_and_crop'"),
        (dict(input_nc=2), "input_nc must be 1 or 3, got 2"),
        (dict(load_size=100, crop_size=256), r"crop_size \(256\) must be <= load_size \(100\)"),
        (dict(batch_size=0), "batch_size must be an integer >= 1"),
        (dict(flip="no"), "flip must be true or false"),
    ],
)
def test_bad_options_name_the_option(kwargs, message):
    with pytest.raises(DataError, match=message):
        PairedDataModule(root="anywhere", **kwargs)


def test_crop_larger_than_image_names_the_file(tmp_path):
    save(tmp_path / "trainA" / "small.png", noise(8, 8))
    save(tmp_path / "trainB" / "small.png", noise(8, 8))
    dm = UnpairedDataModule(root=str(tmp_path), preprocess="crop", crop_size=16, num_workers=0)
    dm.setup("fit")
    with pytest.raises(DataError, match="small.png.*smaller than crop_size=16"):
        dm.train_set[0]


# ------------------------------------------------------------------------------------------ demo


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("demo")


def test_demo_paired(demo_root):
    dm = DemoPairedDataModule(root=str(demo_root / "edges"), batch_size=8)
    dm.prepare_data()
    batch = one_batch(dm)
    assert batch["A"].shape == (8, 1, 32, 32) and batch["B"].shape == (8, 1, 32, 32)
    assert set(batch["A"].unique().tolist()) <= {-1.0, 1.0}  # Canny edges are binary
    assert all(0 <= label_from_path(p) <= 9 for p in batch["A_path"])
    assert (len(dm.train_set), len(dm.val_set)) == (4000, 500)
    test = one_batch(dm, "test")
    assert test["B"].shape == (8, 1, 32, 32) and len(dm.test_set) == 500
    labels = [label_from_path(p) for p in list_images(demo_root / "edges" / "train")]
    assert set(labels) == set(range(10))

    # A second module reuses the cache instead of generating it again.
    marker = demo_root / "edges" / demo_mod.MARKER
    before = marker.stat().st_mtime_ns
    DemoPairedDataModule(root=str(demo_root / "edges")).prepare_data()
    assert marker.stat().st_mtime_ns == before


def test_demo_unpaired(demo_root):
    dm = DemoUnpairedDataModule(root=str(demo_root / "uci"), batch_size=8)
    dm.prepare_data()
    batch = one_batch(dm)
    assert batch["A"].shape == (8, 1, 32, 32) and batch["B"].shape == (8, 1, 32, 32)
    assert all("trainA" in p for p in batch["A_path"]) and all("trainB" in p for p in batch["B_path"])
    assert all(0 <= label_from_path(p) <= 9 for p in batch["A_path"] + batch["B_path"])
    assert len(dm.train_set) == 4500  # max(4500 MNIST, 1597 UCI)
    val = one_batch(dm, "validate")  # no valA/valB: testA/testB
    assert all("testA" in p for p in val["A_path"])


def test_demo_default_location(monkeypatch, tmp_path):
    monkeypatch.setenv("TRANSLATION_ZOO_DATA", str(tmp_path / "zoo"))
    assert demo_mod.demo_root("mnist_uci") == tmp_path / "zoo" / "demo" / "mnist_uci"


def test_demo_build_is_atomic_under_races(tmp_path, monkeypatch):
    builds = []

    def slow_builder(out: Path) -> None:
        builds.append(out)
        save(out / "train" / "00000_label3.png", solid(32, 64, 0))
        time.sleep(0.2)  # both threads are building at the same time

    monkeypatch.setitem(demo_mod.BUILDERS, "mnist_edges", slow_builder)
    root = tmp_path / "race" / "mnist_edges"
    results, errors = [], []

    def call():
        try:
            results.append(demo_mod.ensure_demo("mnist_edges", root))
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == [root, root] and len(builds) == 2
    assert sorted(p.name for p in root.parent.iterdir()) == ["mnist_edges"]  # no temp folders left
    assert (root / demo_mod.MARKER).is_file() and len(list_images(root / "train")) == 1
    demo_mod.ensure_demo("mnist_edges", root)
    assert len(builds) == 2  # reused


def test_label_from_path():
    assert label_from_path("some/dir/00042_label7.png") == 7
    with pytest.raises(DataError, match="label"):
        label_from_path("photo.png")


def test_demo_subsets_are_class_balanced(tmp_path):
    """The first N files of a demo split (what max_dataset_size keeps) cover every digit."""
    from translation_zoo.data import label_from_path, list_images
    from translation_zoo.data.demo import ensure_demo

    root = ensure_demo("mnist_uci", tmp_path / "uci")
    first = [label_from_path(p) for p in list_images(root / "trainA")[:100]]
    assert len(set(first)) == 10
