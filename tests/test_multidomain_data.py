"""MultiDomainDataModule: folder-per-domain and CelebA-style attribute layouts, saved domain order, errors, demos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from translation_zoo.data import DataError
from translation_zoo.data.multidomain import (
    DemoMultiDomainDataModule,
    MultiDomainDataModule,
    MultiDomainTransform,
    digit_attributes,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _png(path: Path, value: int, size: tuple[int, int] = (40, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size[::-1] + (3,), value, np.uint8)).save(path)


def _folders(root: Path, domains=("cat", "dog", "wild"), splits=("train", "val")) -> Path:
    for split in splits:
        for d, name in enumerate(domains):
            for i in range(2):
                _png(root / split / name / f"{i}.png", 40 * d)
    return root


def _attributes(root: Path, header="Bald Black_Hair Male Young", rows=None) -> Path:
    rows = rows or [f"{i:03d}.jpg {' '.join('1' if (i + j) % 2 else '-1' for j in range(4))}" for i in range(6)]
    for row in rows:
        _png(root / "images" / row.split()[0], 100)
    (root / "list_attr_celeba.txt").write_text(f"{len(rows)}\n{header}\n" + "\n".join(rows) + "\n")
    return root


def _module(root: Path, **kw) -> MultiDomainDataModule:
    return MultiDomainDataModule(root=str(root), image_size=16, batch_size=3, num_workers=0, **kw)


def test_folder_layout_batches_domains_in_sorted_order(tmp_path):
    data = _module(_folders(tmp_path))
    data.setup("fit")
    assert data.domain_names == ["cat", "dog", "wild"] and len(data.train_set) == 6 and len(data.val_set) == 6
    items = [data.val_set[i] for i in range(6)]
    assert [it["domain"].item() for it in items] == [0, 0, 1, 1, 2, 2]
    assert items[2]["path"] == "dog/0.png" and items[2]["domain"].dtype == torch.int64
    assert items[0]["image"].shape == (3, 16, 16) and items[0]["image"].min() >= -1
    assert items[4]["image"].max() == pytest.approx(80 / 127.5 - 1)  # "wild" images are grey 80
    batch = next(iter(data.val_dataloader()))
    assert set(batch) == {"image", "domain", "path"} and batch["image"].shape == (3, 3, 16, 16)


def test_folder_layout_domains_option_orders_and_selects(tmp_path):
    data = _module(_folders(tmp_path), domains=["wild", "cat"])
    data.setup("fit")
    assert data.domain_names == ["wild", "cat"] and len(data.train_set) == 4
    assert {data.train_set[i]["path"].split("/")[0]: data.train_set[i]["domain"].item() for i in range(4)} == {
        "wild": 0,
        "cat": 1,
    }


def test_references_are_two_images_of_one_drawn_domain_and_repeat_under_a_seed(tmp_path):
    data = _module(_folders(tmp_path), references=True)
    data.setup("fit")
    assert "reference" not in data.val_set[0]  # evaluation items carry no references
    grey = {round((40 * d) / 127.5 - 1, 4): d for d in range(3)}  # domain d's images are grey 40*d
    drawn = set()
    for seed in range(20):
        torch.manual_seed(seed)
        item = data.train_set[seed % 6]
        d = item["reference_domain"].item()
        drawn.add(d)
        assert item["reference"].shape == item["reference2"].shape == (3, 16, 16)
        assert grey[round(item["reference"][0, 0, 0].item(), 4)] == d
        assert grey[round(item["reference2"][0, 0, 0].item(), 4)] == d
        torch.manual_seed(seed)
        again = data.train_set[seed % 6]
        assert again["reference_domain"].item() == d and torch.equal(again["reference"], item["reference"])
    assert drawn == {0, 1, 2}
    batch = next(iter(data.train_dataloader()))
    assert {"reference", "reference2", "reference_domain"} <= set(batch) and batch["reference"].shape[0] == 3
    with pytest.raises(DataError, match="references=True needs layout='folders'"):
        _module(tmp_path, layout="attributes", selected_attrs=["Male"], references=True)


def test_rafd_style_root_of_domain_folders(tmp_path):
    for d, name in enumerate(("angry", "happy")):
        _png(tmp_path / name / "a.png", 10 * d)
    data = _module(tmp_path)
    data.setup("fit")
    assert data.domain_names == ["angry", "happy"] and len(data.train_set) == 2 and data.val_set is None


def test_saved_domain_order_is_restored_and_a_changed_set_is_an_error(tmp_path):
    data = _module(_folders(tmp_path), domains=["dog", "cat", "wild"])
    data.setup("fit")
    state = data.state_dict()
    assert state["domain_names"] == ["dog", "cat", "wild"]
    resumed = _module(tmp_path)  # the default order would be sorted
    resumed.setup("fit")
    resumed.load_state_dict(state)  # Lightning restores after setup: the built datasets follow
    assert resumed.domain_names == ["dog", "cat", "wild"]
    assert resumed.train_set[0]["path"].startswith("cat/") and resumed.train_set[0]["domain"].item() == 1
    (tmp_path / "train" / "new").mkdir()
    _png(tmp_path / "train" / "new" / "x.png", 0)
    changed = _module(tmp_path)
    changed.setup("fit")
    with pytest.raises(DataError, match=r"trained on domains \['dog', 'cat', 'wild'\].*new"):
        changed.load_state_dict(state)


def test_folder_errors_name_the_folder_or_option(tmp_path):
    _folders(tmp_path)
    (tmp_path / "train" / "empty").mkdir()
    with pytest.raises(DataError, match="domain 'empty': no images in .*empty"):
        _module(tmp_path).setup("fit")
    with pytest.raises(DataError, match=r"domains \['zebra'\] have no folder"):
        _module(tmp_path, domains=["cat", "zebra"]).setup("fit")
    with pytest.raises(DataError, match=r"holds 0 domain folder\(s\).*needs 2 or more"):
        _module(tmp_path / "train" / "cat").setup("fit")  # a folder of images, not of domain folders
    with pytest.raises(DataError, match="layout must be"):
        _module(tmp_path, layout="csv")
    with pytest.raises(DataError, match="needs selected_attrs"):
        _module(tmp_path, layout="attributes")


def test_attribute_layout_official_split_and_labels(tmp_path):
    import random

    root = _attributes(tmp_path)
    data = _module(root, layout="attributes", selected_attrs=["Male", "Bald"], test_size=2)
    data.setup("fit")
    lines = (root / "list_attr_celeba.txt").read_text().splitlines()[2:]
    random.seed(1234)  # the official data_loader.py
    random.shuffle(lines)
    assert [data.test_set.samples[i][0] for i in range(2)] == [ln.split()[0] for ln in lines[:2]]
    assert len(data.train_set) == 4 and data.val_set is data.test_set
    item = data.train_set[0]
    values = dict(zip("Bald Black_Hair Male Young".split(), lines[2].split()[1:]))
    assert item["path"] == lines[2].split()[0]
    assert item["attrs"].tolist() == [float(values["Male"] == "1"), float(values["Bald"] == "1")]
    assert item["attrs"].dtype == torch.float32 and data.domain_names == ["Male", "Bald"]


def test_attribute_errors_name_the_attribute_line_or_image(tmp_path):
    root = _attributes(tmp_path)
    with pytest.raises(DataError, match=r"selected_attrs \['Blond_Hair'\] are not in the header.*Bald, Black_Hair"):
        _module(root, layout="attributes", selected_attrs=["Male", "Blond_Hair"]).setup("fit")
    (root / "images" / "003.jpg").unlink()
    with pytest.raises(DataError, match="1 images listed in .*list_attr_celeba.txt are missing .*003.jpg"):
        _module(root, layout="attributes", selected_attrs=["Male"]).setup("fit")
    bad = _attributes(tmp_path / "bad", rows=["a.jpg 1 -1 0 1"])
    with pytest.raises(DataError, match="line 3: attribute values must be 1 or -1, got '0'"):
        _module(bad, layout="attributes", selected_attrs=["Male"]).setup("fit")
    with pytest.raises(DataError, match="attribute file .*nope.txt does not exist"):
        _module(root, layout="attributes", selected_attrs=["Male"], attr_file="nope.txt").setup("fit")


def test_transform_is_the_official_center_crop_then_resize():
    img = Image.fromarray(np.arange(218 * 178, dtype=np.uint32).reshape(218, 178).astype(np.uint8))
    x = MultiDomainTransform(image_size=64, crop_size=178, flip=False).image(img.convert("L"))
    assert x.shape == (1, 64, 64)
    crop = img.crop((0, 20, 178, 198)).resize((64, 64), Image.BILINEAR)  # CelebA 178x218: 20 rows off the top
    torch.testing.assert_close(x[0], torch.from_numpy(np.asarray(crop, np.float32) / 127.5 - 1))


def test_digit_attributes_measure_thickness_slant_and_width():
    img = np.zeros((3, 32, 32), np.uint8)
    img[0, 6:26, 15:17] = 255  # thin upright bar
    img[1, 6:26, 13:19] = 255  # thick upright bar
    for r in range(6, 26):  # a bar leaning right (top to the right)
        img[2, r, 24 - (r - 6) // 2 : 26 - (r - 6) // 2] = 255
    thick, slant, wide = digit_attributes(img).T
    assert thick[1] > 2 * thick[0] and abs(slant[0]) < 1e-6 and slant[2] > 0.3 and wide[2] > wide[0]


@pytest.mark.parametrize("name", ["digits3", "digits_attrs"])
def test_embedded_demos(name):
    data = DemoMultiDomainDataModule(name, batch_size=4, max_dataset_size=8)
    data.prepare_data()
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    assert batch["image"].shape == (4, 1, 32, 32)
    if name == "digits3":
        assert data.domain_names == ["mnist", "mnist_edges", "uci"] and batch["domain"].dtype == torch.int64
        assert len(data.train_set) == 24
    else:
        assert data.domain_names == ["Thick", "Slanted", "Wide"] and batch["attrs"].shape == (4, 3)
        assert len(data.train_set) == 8 and len(data.test_set) == 8
