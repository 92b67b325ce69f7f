"""`translation-zoo translate` and `translation-zoo list` (translation_zoo.commands) with tiny official weights."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import MappingProxyType, SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from translation_zoo import commands, weights
from translation_zoo.data import datasets as ds
from translation_zoo.inference import load_model
from translation_zoo.models import CycleGAN, Pix2Pix

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """A private cache, and the authors' host mapped to a closed local port (no real network)."""
    monkeypatch.setenv("TRANSLATION_ZOO_DATA", str(tmp_path / "home"))
    monkeypatch.setenv(ds.MIRROR_ENV, "http://127.0.0.1:9")
    monkeypatch.delenv(weights.OFFLINE_ENV, raising=False)


def image(path: Path, size: tuple[int, int], seed: int = 0, mode: str = "RGB") -> Path:
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
    return path


@pytest.fixture(scope="module")
def cyclegan_pth(tmp_path_factory) -> Path:
    """Official-layout ``latest_net_G.pth`` of a tiny CycleGAN generator (resnet_9blocks, ngf 4)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("official") / "latest_net_G.pth"
    torch.save(CycleGAN(ngf=4, ndf=4).gen_a2b.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def pix2pix_pth(tmp_path_factory) -> Path:
    """Official-layout ``latest_net_G.pth`` of a tiny pix2pix generator: unet_6d (the smallest U-Net with a dropout
    block), batch norm."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("official") / "latest_net_G.pth"
    torch.save(Pix2Pix(ngf=4, ndf=4, netG="unet_6d").gen.state_dict(), path)
    return path


def run(*argv: str) -> None:
    commands.main(["translate", *argv, "--device", "cpu"])


# ------------------------------------------------------------------------------------------------- translate
@pytest.mark.filterwarnings("ignore:no weights for G_B")
def test_folder_keeps_names_subfolders_and_sizes(cyclegan_pth, tmp_path, capsys):
    src = tmp_path / "in"
    image(src / "a.png", (40, 28))
    image(src / "sub" / "b.jpg", (33, 50), seed=1)
    (src / "notes.txt").write_text("not an image")
    run("--weights", str(cyclegan_pth), "--model", "cyclegan", "--input", str(src), "--output", str(tmp_path / "out"))
    assert "wrote 2 images" in capsys.readouterr().out
    out = tmp_path / "out"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == ["a.png", "sub/b.jpg"]
    assert Image.open(out / "a.png").size == (40, 28) and Image.open(out / "sub" / "b.jpg").size == (33, 50)
    model = load_model(cyclegan_pth, "cyclegan")
    expected = np.asarray(model.translate(src / "a.png"))
    assert np.array_equal(np.asarray(Image.open(out / "a.png")), expected)  # png: lossless, CycleGAN: deterministic


def test_existing_outputs_are_refused_before_loading_anything(tmp_path, capsys):
    src = image(tmp_path / "x.png", (8, 8))
    image(tmp_path / "out" / "x.png", (8, 8))
    with pytest.raises(SystemExit) as exit_:
        run("--weights", "does/not/exist.pth", "--input", str(src), "--output", str(tmp_path / "out"))
    assert exit_.value.code == 2 and "--overwrite" in capsys.readouterr().err


def test_num_samples_writes_numbered_files_and_seed_repeats_them(pix2pix_pth, tmp_path):
    src = image(tmp_path / "in" / "x.png", (32, 32))
    args = ["--weights", str(pix2pix_pth), "--model", "pix2pix", "--input", str(src), "--num-samples", "3"]
    run(*args, "--output", str(tmp_path / "out"), "--seed", "0")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["x_0.png", "x_1.png", "x_2.png"]
    samples = [np.asarray(Image.open(tmp_path / "out" / n)) for n in names]
    assert not np.array_equal(samples[0], samples[1])  # pix2pix keeps dropout on at test time: samples differ
    run(*args, "--output", str(tmp_path / "out"), "--seed", "0", "--overwrite")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "x_0.png")), samples[0])


def test_conditions_reach_translate(tmp_path, monkeypatch):
    """--direction/--target/--style/--num-samples/--size become translate's keywords (whatever the model)."""
    calls = []

    def fake_translate(model, images, *, num_samples=1, size=None, **conditions):
        calls.append({"images": images, "num_samples": num_samples, "size": size, **conditions})
        return [Image.new("RGB", (4, 4))] * num_samples if num_samples > 1 else Image.new("RGB", (4, 4))

    declared = {"style": SimpleNamespace(kind="image")}
    monkeypatch.setattr(commands, "_load", lambda args, device: SimpleNamespace(inference_conditions=lambda: declared))
    monkeypatch.setattr(commands, "translate", fake_translate)
    src = image(tmp_path / "x.png", (4, 4))
    style = image(tmp_path / "style.jpg", (4, 4))
    common = ["--weights", "w", "--input", str(src), "--direction", "b2a", "--style", str(style)]
    run(*common, "--output", str(tmp_path / "o1"), "--target", "2", "--num-samples", "2", "--size", "64")
    run(*common, "--output", str(tmp_path / "o2"), "--target", "0,1,0.5", "--size", "input")
    assert calls == [
        {"images": src, "num_samples": 2, "size": 64, "direction": "b2a", "target": 2, "style": style},
        {
            "images": src,
            "num_samples": 1,
            "size": "input",
            "direction": "b2a",
            "target": [0.0, 1.0, 0.5],
            "style": style,
        },
    ]
    assert sorted(p.name for p in (tmp_path / "o1").iterdir()) == ["x_0.png", "x_1.png"]


def test_conditions_that_translate_does_not_take_are_a_clear_error(tmp_path, monkeypatch, capsys):
    def old_translate(model, images, *, direction=None, size=None):
        return Image.new("RGB", (4, 4))

    monkeypatch.setattr(commands, "_load", lambda args, device: SimpleNamespace())
    monkeypatch.setattr(commands, "translate", old_translate)
    src = image(tmp_path / "x.png", (4, 4))
    with pytest.raises(SystemExit) as exit_:
        run("--weights", "w", "--input", str(src), "--output", str(tmp_path / "o"), "--target", "1")
    assert exit_.value.code == 2 and "['target']" in capsys.readouterr().err


def test_catalogue_name_downloads_once_through_the_mirror(cyclegan_pth, tmp_path, monkeypatch, capsys):
    mirror = tmp_path / "mirror"
    (mirror / "cyclegan" / "pretrained_models").mkdir(parents=True)
    (mirror / "cyclegan" / "pretrained_models" / "horse2zebra.pth").write_bytes(cyclegan_pth.read_bytes())
    monkeypatch.setenv(ds.MIRROR_ENV, mirror.as_uri())  # file:// mirror with the authors' paths
    entry = weights.CATALOGUE["cyclegan/horse2zebra"]
    tiny = dataclasses.replace(entry, options=MappingProxyType({**entry.options, "ngf": 4}))
    monkeypatch.setitem(weights.CATALOGUE, entry.name, tiny)
    src = image(tmp_path / "horse.png", (48, 20))
    run("--weights", "cyclegan/horse2zebra", "--input", str(src), "--output", str(tmp_path / "out"), "--quiet")
    assert Image.open(tmp_path / "out" / "horse.png").size == (48, 20)
    assert weights.cached("cyclegan/horse2zebra")
    capsys.readouterr()

    with pytest.raises(SystemExit) as exit_:  # one-way release: b2a is refused and names the reverse entry
        run("--weights", "horse2zebra", "--input", str(src), "--output", str(tmp_path / "o2"), "--direction", "b2a")
    assert exit_.value.code == 2 and "cyclegan/zebra2horse" in capsys.readouterr().err


def test_download_failure_names_the_url_and_the_path(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    src = image(tmp_path / "x.png", (8, 8))
    with pytest.raises(SystemExit) as exit_:
        run("--weights", "pix2pix/day2night", "--input", str(src), "--output", str(tmp_path / "out"))
    err = capsys.readouterr().err
    assert exit_.value.code == 1
    assert "/pix2pix/models-pytorch/day2night.pth" in err
    assert str(tmp_path / "home/weights/pix2pix/day2night_pretrained/latest_net_G.pth") in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--weights", "cyclegan/hors2zebra"], "translation-zoo list"),
        (["--weights", "w", "--num-samples", "0"], "--num-samples"),
        (["--weights", "w", "--size", "big"], "--size"),
    ],
)
def test_bad_arguments(tmp_path, capsys, argv, message):
    src = image(tmp_path / "x.png", (8, 8))
    with pytest.raises(SystemExit) as exit_:
        run(*argv, "--input", str(src), "--output", str(tmp_path / "out"))
    assert exit_.value.code == 2 and message in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------------ list
def test_list_shows_models_and_which_weights_are_cached(cyclegan_pth, capsys):
    folder = weights.weights_dir("cyclegan/horse2zebra")
    folder.mkdir(parents=True)
    (folder / "latest_net_G.pth").write_bytes(cyclegan_pth.read_bytes())
    commands.main(["list"])
    out = capsys.readouterr().out
    assert "CycleGAN" in out and "Pix2Pix" in out and "Licence: BSD" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and "/" in line.split()[0]}
    assert set(rows) == set(weights.CATALOGUE)
    assert " yes " in rows["cyclegan/horse2zebra"] and "horse -> zebra" in rows["cyclegan/horse2zebra"]
    assert " yes " not in rows["cyclegan/zebra2horse"]

    commands.main(["list", "--json"])
    listing = json.loads(capsys.readouterr().out)
    assert {m["name"] for m in listing["models"]} >= {"CycleGAN", "Pix2Pix"}
    cached = [e["name"] for e in listing["weights"] if e["cached"]]
    assert cached == ["cyclegan/horse2zebra"] and listing["cache"] == str(weights.weights_home())


def test_main_needs_a_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_:
        commands.main(["export"])
    assert exit_.value.code == 2 and "translate, list" in capsys.readouterr().err
