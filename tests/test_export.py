"""`translation-zoo export`: ONNX (onnxruntime) and TorchScript generators equal PyTorch's, at dynamic sizes."""

from __future__ import annotations

import warnings

import lightning as L
import pytest
import torch

from translation_zoo import export
from translation_zoo.cli import main
from translation_zoo.models import CycleGAN, Pix2Pix

ort = pytest.importorskip("onnxruntime")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def lightning_checkpoint(model, path, class_path: str):
    """A checkpoint as ``lightning fit`` writes it: Trainer.save_checkpoint plus LightningCLI's ``_class_path``."""
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(path)
    ckpt = torch.load(path, weights_only=True)
    ckpt["hyper_parameters"]["_class_path"] = class_path
    torch.save(ckpt, path)
    return path


def random_images(n: int, c: int, h: int, w: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def onnx_run(path, x: torch.Tensor) -> torch.Tensor:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    return torch.from_numpy(session.run(None, {"image": x.numpy()})[0])


def torchscript_run(path, x: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated upstream
        loaded = torch.jit.load(str(path))
    with torch.no_grad():
        return loaded(x)


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, atol=1e-4)


@pytest.fixture(scope="module")
def pix2pix(tmp_path_factory):
    torch.manual_seed(0)
    model = Pix2Pix(input_nc=1, output_nc=3, ngf=4, ndf=4, netG="unet_5d")  # paper mode by default
    for m in model.gen.modules():  # trained-looking batch-norm statistics, so eval mode is not a no-op
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2)
    ckpt = lightning_checkpoint(model, tmp_path_factory.mktemp("p2p") / "last.ckpt", "translation_zoo.models.Pix2Pix")
    return ckpt, model.gen.eval()


@pytest.fixture(scope="module")
def cyclegan(tmp_path_factory):
    torch.manual_seed(0)
    model = CycleGAN(input_nc=1, output_nc=3, ngf=4, ndf=4, netG="resnet_2blocks", lambda_identity=0)
    ckpt = lightning_checkpoint(model, tmp_path_factory.mktemp("cyc") / "last.ckpt", "translation_zoo.models.CycleGAN")
    return ckpt, model.eval()


def test_onnx_unet_via_cli_matches_pytorch_at_a_second_size(pix2pix, tmp_path, capsys):
    ckpt, gen = pix2pix
    out = tmp_path / "p2p.onnx"
    main(["export", "--ckpt", str(ckpt), "--format", "onnx", "--output", str(out), "--size", "32"])
    assert "verified" in capsys.readouterr().out
    for x in (random_images(1, 1, 32, 32), random_images(3, 1, 64, 96)):  # U-Net: multiples of 2**5
        with torch.no_grad():
            assert close(onnx_run(out, x), gen(x))  # the eval-mode generator, not the paper's test mode


def test_onnx_resnet_b2a_dynamic_sizes(cyclegan, tmp_path):
    ckpt, model = cyclegan
    from translation_zoo import load_model

    out = export.export_generator(load_model(ckpt), tmp_path / "b2a.onnx", "onnx", direction="b2a", dynamo=False)
    for x in (random_images(1, 3, 32, 32), random_images(2, 3, 44, 36)):  # ResNet: multiples of 4 (not 8)
        with torch.no_grad():
            expected = model.gen_b2a(x)
        assert expected.shape[1] == 1 and close(onnx_run(out, x), expected)


def test_torchscript_via_cli_with_default_output(cyclegan, pix2pix, capsys):
    ckpt, model = cyclegan
    main(["export", "--ckpt", str(ckpt), "--format", "torchscript", "--direction", "b2a", "--size", "24"])
    path = ckpt.with_name("last.b2a.pt")
    assert str(path) in capsys.readouterr().out
    x = random_images(2, 3, 40, 28)
    with torch.no_grad():
        assert close(torchscript_run(path, x), model.gen_b2a(x))

    ckpt, gen = pix2pix
    main(["export", "--ckpt", str(ckpt), "--format", "torchscript"])  # default size: 256 for unet_5d
    x = random_images(2, 1, 64, 32)
    with torch.no_grad():
        assert close(torchscript_run(ckpt.with_suffix(".pt"), x), gen(x))


def test_verify_reports_a_mismatch(cyclegan, tmp_path, monkeypatch):
    from translation_zoo import load_model

    monkeypatch.setattr(export, "compare_with_pytorch", lambda *args: (0.5, 1e-3))
    with pytest.raises(RuntimeError, match=r"differs from PyTorch.*max \|diff\| 5.00e-01"):
        export.export_generator(load_model(cyclegan[0]), tmp_path / "g.pt", "torchscript", size=16)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--ckpt", "{missing}", "--format", "onnx"], "--ckpt: {missing} does not exist"),
        (["--ckpt", "{p2p}", "--format", "tflite"], "argument --format: invalid choice: 'tflite'"),
        (["--ckpt", "{p2p}", "--format", "onnx", "--direction", "b2a"], "direction='b2a': Pix2Pix has one generator"),
        (["--ckpt", "{p2p}", "--format", "onnx", "--size", "48"], "size=48 does not fit the generator"),
        (["--format", "onnx"], "the following arguments are required: --ckpt"),
    ],
    ids=["missing-ckpt", "unknown-format", "direction", "size", "no-ckpt"],
)
def test_bad_input_is_one_clear_error(args, message, pix2pix, tmp_path, capsys):
    values = {"missing": str(tmp_path / "nope.ckpt"), "p2p": str(pix2pix[0])}
    with pytest.raises(SystemExit) as e:
        main(["export", *(a.format(**values) for a in args)])
    assert e.value.code == 2
    assert message.format(**values) in capsys.readouterr().err
