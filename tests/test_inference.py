"""load_model (Lightning checkpoints, official weights) and translate (PIL in, PIL out at the input's size)."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image

from translation_zoo import load_model
from translation_zoo.data import DataError
from translation_zoo.hub import save_official, to_official
from translation_zoo.inference import to_image, to_tensor
from translation_zoo.models import CycleGAN, Pix2Pix

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def lightning_checkpoint(model, path, class_path: str | None, crop_size: int | None = None):
    """A checkpoint as ``lightning fit`` writes it: Trainer.save_checkpoint plus what LightningCLI adds."""
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(path)
    ckpt = torch.load(path, weights_only=True)
    if class_path is not None:
        ckpt["hyper_parameters"]["_class_path"] = class_path
        ckpt["hyper_parameters"]["_instantiator"] = "lightning.pytorch.cli.instantiate_module"
    if crop_size is not None:
        ckpt["datamodule_hyper_parameters"] = {
            "crop_size": crop_size,
            "load_size": crop_size,
            "preprocess": "resize_and_crop",
        }
    torch.save(ckpt, path)
    return path


def picture(width: int, height: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(1, height // 8), max(1, width // 8), 3), dtype=np.uint8)
    return Image.fromarray(small).resize((width, height), Image.BICUBIC).convert(mode)


@pytest.fixture(scope="module")
def pix2pix_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = Pix2Pix(input_nc=1, output_nc=1, ngf=4, ndf=4, netG="unet_5d")
    path = tmp_path_factory.mktemp("ckpt") / "last.ckpt"
    return lightning_checkpoint(model, path, "translation_zoo.models.Pix2Pix", crop_size=32), model


def record_inputs(gen):
    seen = []
    gen.register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape)))
    return seen


# ------------------------------------------------------------------------------------------------ load_model
def test_load_model_finds_the_class_and_the_training_crop_size(pix2pix_ckpt):
    path, original = pix2pix_ckpt
    model = load_model(path)
    assert type(model) is Pix2Pix and not model.training
    assert model.inference_size == (32, 32)
    for k, v in original.gen.state_dict().items():
        assert torch.equal(v, model.gen.state_dict()[k])
    assert load_model(path, eval_mode=True).hparams.eval_mode is True  # keyword arguments override the saved ones


def test_load_model_without_class_path_needs_model(tmp_path):
    path = lightning_checkpoint(CycleGAN(**CycleGAN.tiny_config), tmp_path / "plain.ckpt", class_path=None)
    with pytest.raises(ValueError, match="pass model="):
        load_model(path)
    assert type(load_model(path, model="cyclegan")) is CycleGAN
    with pytest.raises(ValueError, match="unknown model 'starganv9'"):
        load_model(path, model="starganv9")
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        load_model(tmp_path / "missing.ckpt")


def test_load_model_rejects_a_contradicting_model(pix2pix_ckpt):
    with pytest.raises(ValueError, match="trained as translation_zoo.models.Pix2Pix"):
        load_model(pix2pix_ckpt[0], model="cyclegan")


def test_load_model_reads_official_files_and_folders(tmp_path):
    model = CycleGAN(input_nc=3, output_nc=3, ngf=4, ndf=4, netG="resnet_6blocks").eval()
    save_official(model, tmp_path)
    folder = load_model(tmp_path, model="cyclegan")
    assert folder.hparams.netG == "resnet_6blocks"
    assert all(torch.equal(v, to_official(folder)["G_B"][k]) for k, v in to_official(model)["G_B"].items())
    # A one-direction release: a single latest_net_G.pth is the A→B generator.
    single = tmp_path / "release" / "latest_net_G.pth"
    single.parent.mkdir()
    (tmp_path / "latest_net_G_A.pth").rename(single)
    with pytest.warns(UserWarning, match="G_B"):
        released = load_model(single, model="cyclegan")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(released(x), model(x), atol=1e-6)
    with pytest.raises(ValueError, match=r"for official weights pass .*model='cyclegan' or .*model='pix2pix'"):
        load_model(single)


# ------------------------------------------------------------------------------------------------- translate
def test_translate_one_image_matches_the_manual_pipeline(pix2pix_ckpt):
    model = load_model(pix2pix_ckpt[0], eval_mode=True)  # deterministic generator
    img = picture(50, 40)  # RGB: converted to the model's 1 channel
    out = model.translate(img)
    assert isinstance(out, Image.Image) and out.mode == "L" and out.size == (50, 40)

    # By hand: grey, bicubic to the 32x32 training crop, [-1, 1], generator in eval mode, uint8, back to 50x40.
    x = to_tensor(img.convert("L").resize((32, 32), Image.BICUBIC))
    with torch.no_grad():
        y = model.gen.eval()(x)
    expected = to_image(y).resize((50, 40), Image.BICUBIC)
    assert np.array_equal(np.asarray(out), np.asarray(expected))
    assert (
        to_image(torch.ones(1, 1, 2, 2)).getpixel((0, 0)) == 255
        and to_image(-torch.ones(1, 1, 2, 2)).getpixel((0, 0)) == 0
    )


def test_translate_paths_lists_and_folders(pix2pix_ckpt, tmp_path):
    model = load_model(pix2pix_ckpt[0], eval_mode=True)
    (tmp_path / "sub").mkdir()
    paths = [tmp_path / "b.png", tmp_path / "sub" / "a.jpg"]
    for i, p in enumerate(paths):
        picture(36 + 8 * i, 30, seed=i).save(p)
    one = model.translate(paths[0])
    assert isinstance(one, Image.Image) and one.size == (36, 30)
    listed = model.translate([str(paths[1]), Image.open(paths[0])])
    folder = model.translate(tmp_path)  # sorted by relative path: b.png, sub/a.jpg
    assert [o.size for o in folder] == [(36, 30), (44, 30)]
    assert np.array_equal(np.asarray(folder[0]), np.asarray(one))
    assert np.array_equal(np.asarray(listed[0]), np.asarray(folder[1]))
    assert model.translate([]) == []
    with pytest.raises(DataError, match="nope.png does not exist"):
        model.translate(tmp_path / "nope.png")
    with pytest.raises(DataError, match="neither"):
        model.translate([tmp_path])


def test_translate_sizes(pix2pix_ckpt):
    model = load_model(pix2pix_ckpt[0], eval_mode=True)
    seen = record_inputs(model.gen)
    model.translate(picture(70, 50))  # the training crop size
    model.translate(picture(70, 50), size="input")  # the input's size, rounded to multiples of 2**5
    model.translate(picture(70, 50), size=(32, 96))
    assert seen == [(1, 1, 32, 32), (1, 1, 64, 64), (1, 1, 32, 96)]
    with pytest.raises(ValueError, match="multiples of 32"):
        model.translate(picture(70, 50), size=48)

    # Official weights carry no crop size: the input's size is rounded to the architecture's multiple.
    official = load_model(to_official(model)["G"], model="pix2pix", eval_mode=True)
    seen = record_inputs(official.gen)
    out = official.translate(picture(100, 20))
    assert seen == [(1, 1, 32, 96)] and out.size == (100, 20)


def test_translate_cyclegan_directions_and_channels():
    model = CycleGAN(input_nc=1, output_nc=3, ngf=4, ndf=4, netG="resnet_2blocks", lambda_identity=0)
    model.train()
    grey, colour = picture(30, 22, "L"), picture(30, 22, "RGB")
    fake_b = model.translate(grey)  # a2b by default: grey in, colour out
    fake_a = model.translate(colour, direction="b2a")
    assert (fake_b.mode, fake_b.size, fake_a.mode, fake_a.size) == ("RGB", (30, 22), "L", (30, 22))
    assert model.training  # translate restores the mode it found
    seen = record_inputs(model.gen_b2a)
    model.translate(colour, direction="b2a")
    assert seen == [(1, 3, 24, 32)]  # ResNet generator: multiples of 4
    with pytest.raises(ValueError, match="direction must be 'a2b' or 'b2a'"):
        model.translate(grey, direction="AtoB")


def test_translate_pix2pix_has_one_direction(pix2pix_ckpt):
    model = load_model(pix2pix_ckpt[0])
    with pytest.raises(ValueError, match="one generator"):
        model.translate(picture(32, 32), direction="b2a")
    # Paper test mode (the default, eval_mode=False): batch norm uses the image's own statistics, as the official
    # test.py without --eval; eval_mode=True uses the running statistics.
    paper = np.asarray(model.translate(picture(32, 32)))
    model.hparams.eval_mode = True
    assert not np.array_equal(paper, np.asarray(model.translate(picture(32, 32))))
