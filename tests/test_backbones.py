"""GAN, DCGAN and VAE: the official configurations, the losses, unconditional sampling, the image-folder data.

The zoo-wide contract (forward, training step, checkpoints, predict, export, resume) runs over them in
tests/test_zoo.py and tests/test_resume.py; this file checks what is particular to each paper.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import http.server
import importlib.util
import os
import socket
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from translation_zoo.data import DataError, ImageFolderDataModule
from translation_zoo.data import unconditional as uncond
from translation_zoo.export import export_generator
from translation_zoo.models import DCGAN, GAN, VAE, CycleGAN
from translation_zoo.models.base import n_params

pytestmark = pytest.mark.usefixtures("one_torch_thread")
ROOT = Path(__file__).resolve().parents[1]


def _fit(model, batches: int, batch_size: int = 4, size: int = 32, channels: int = 1) -> L.Trainer:
    torch.manual_seed(0)
    items = [
        {"image": torch.rand(channels, size, size) * 2 - 1, "path": f"{i}.png"} for i in range(batches * batch_size)
    ]
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, DataLoader(items, batch_size=batch_size))
    return trainer


# ------------------------------------------------------------------------------------------------------ GAN
def test_gan_official_mnist_networks():
    """mnist.yaml: G 100 -> 1200 -> 1200 -> 784 (ReLU, sigmoid), D maxout 240x5 twice, dropout 0.2/0.5, U(±r) init."""
    model = GAN()
    assert (n_params(model.gen), n_params(model.disc)) == (2_503_984, 1_231_441)
    assert [m.out_features for m in model.gen.modules() if isinstance(m, torch.nn.Linear)] == [1200, 1200, 784]
    maxouts = [m for m in model.disc.modules() if isinstance(m, type(model.disc.net[1]))]
    assert [(m.units, m.pieces) for m in maxouts] == [(240, 5), (240, 5)]
    assert [m.p for m in model.disc.modules() if isinstance(m, torch.nn.Dropout)] == [0.2, 0.5, 0.5]
    g_w, d_w = model.gen.net[0].weight, model.disc.net[1].linear.weight
    assert 0.04 < g_w.abs().max() <= 0.05 and 0.004 < d_w.abs().max() <= 0.005
    z = model.sample_z(1000)
    assert z.shape == (1000, 100) and -1 <= z.min() < -0.99 and 0.99 < z.max() <= 1  # U(-1, 1)
    out = model.sample(3)
    assert out.shape == (3, 1, 28, 28) and out.min() >= -1 and out.max() <= 1


def test_gan_official_sgd_schedule():
    """SGD(0.1, momentum 0.5); lr / 1.000004 per update; momentum 0.5 -> 0.7 linearly over epochs 1..250."""
    model = GAN(**GAN.tiny_config)
    trainer = _fit(model, batches=3)
    opt_g, opt_d = trainer.optimizers
    assert isinstance(opt_g, torch.optim.SGD) and isinstance(opt_d, torch.optim.SGD)
    assert opt_g.param_groups[0]["lr"] == pytest.approx(0.1 / 1.000004**3, rel=1e-12)
    assert opt_d.param_groups[0]["momentum"] == 0.5  # epoch 1: the adjustor starts
    model.trainer.fit_loop.epoch_progress.current.completed = 125  # epoch 126 of 250: halfway
    model.on_train_epoch_start()
    assert opt_g.param_groups[0]["momentum"] == pytest.approx(0.5 + 0.2 * 125 / 249)
    assert trainer.global_step == 6  # k = 1: one D and one G step per batch (Algorithm 1)


def test_gan_losses_are_the_papers():
    """D: 0.5 (BCE(D(x), 1) + BCE(D(G(z)), 0)); G: -log D(G(z)) (the non-saturating loss of §3)."""
    model = GAN(**GAN.tiny_config, d_dropout_input=0.0, d_dropout_hidden=0.0)
    logged = {}
    model._step = lambda opt, losses, prefix="train": logged.update({k: v.detach() for k, v in losses.items()})
    model.toggled_optimizer = lambda opt: contextlib.nullcontext()
    model.optimizers = lambda: (None, None)
    model._official_schedule = lambda: None
    real = torch.rand(4, 1, 32, 32) * 2 - 1
    torch.manual_seed(0)
    model.training_step({"image": real}, 0)
    torch.manual_seed(0)
    fake = model.gen(model.sample_z(4))
    d_real, d_fake = torch.sigmoid(model.disc(real)), torch.sigmoid(model.disc(fake))
    torch.testing.assert_close(logged["d_real"], -0.5 * torch.log(d_real).mean())
    torch.testing.assert_close(logged["d_fake"], -0.5 * torch.log(1 - d_fake).mean())
    torch.testing.assert_close(logged["g_adv"], -torch.log(d_fake).mean())


# ---------------------------------------------------------------------------------------------------- DCGAN
@pytest.mark.parametrize(
    "options,counts",
    [
        ({}, (18_885_760, 17_232_768)),  # official: 64x64x3, nz 100, ngf = ndf = 128, 5x5 kernels
        ({"ngf": 64, "ndf": 64}, (5_142_080, 4_315_584)),  # official layout at pytorch/examples' widths
        ({"ngf": 64, "ndf": 64, "layout": "pytorch_examples"}, (3_576_704, 2_765_568)),  # = pytorch/examples
    ],
    ids=["official", "official-64", "pytorch_examples"],
)
def test_dcgan_parameter_counts(options, counts):
    model = DCGAN(**options)
    assert (n_params(model.gen), n_params(model.disc)) == counts
    x = model.sample(2)
    assert x.shape == (2, 3, 64, 64) and model.disc(x).shape == (2, 1)


def test_dcgan_official_architecture_rules_and_init():
    """§3: no pooling, BN everywhere but G's output and D's input, ReLU/tanh in G, LeakyReLU 0.2 in D; N(0, 0.02)."""
    model = DCGAN()
    gen_layers, disc_layers = list(model.gen.modules()), list(model.disc.net)
    assert not any(
        isinstance(m, torch.nn.modules.pooling._MaxPoolNd | torch.nn.modules.pooling._AvgPoolNd)
        for m in gen_layers + disc_layers
    )
    assert isinstance(model.gen.net[-1], torch.nn.Tanh) and isinstance(model.gen.net[-2], torch.nn.ConvTranspose2d)
    assert isinstance(disc_layers[1], torch.nn.LeakyReLU) and disc_layers[1].negative_slope == 0.2  # no BN at input
    convs = [m for m in gen_layers + disc_layers if isinstance(m, torch.nn.modules.conv._ConvNd)]
    assert all(m.kernel_size == (5, 5) and m.stride == (2, 2) and m.bias is None for m in convs)
    assert model.gen.project[0].out_features == 1024 * 16  # z -> 4x4x1024 (Figure 1)
    weights = torch.cat([m.weight.flatten() for m in convs])
    assert abs(float(weights.std()) - 0.02) < 0.001 and abs(float(weights.mean())) < 0.001
    bn = model.gen.net[1]
    assert bn.eps == 1e-8 and abs(float(bn.weight.mean()) - 1) < 0.01


def test_dcgan_official_optimiser_and_one_player_per_batch():
    """Adam(2e-4, (0.5, 0.999), L2 1e-5); G on even batches, D on odd ones (the official k = 1 schedule)."""
    model = DCGAN(channels=1, image_size=32, nz=8, ngf=4, ndf=4)
    g0 = {n: p.detach().clone() for n, p in model.gen.named_parameters()}
    d0 = {n: p.detach().clone() for n, p in model.disc.named_parameters()}
    trainer = _fit(model, batches=1)
    assert trainer.global_step == 1
    assert all(not torch.equal(p, g0[n]) for n, p in model.gen.named_parameters())  # G stepped first
    assert all(torch.equal(p, d0[n]) for n, p in model.disc.named_parameters())
    opt_g, opt_d = trainer.optimizers
    assert opt_d.defaults["lr"] == 2e-4 and opt_d.defaults["betas"] == (0.5, 0.999)
    assert opt_d.defaults["weight_decay"] == 1e-5
    model = DCGAN(channels=1, image_size=32, nz=8, ngf=4, ndf=4)
    d0 = {n: p.detach().clone() for n, p in model.disc.named_parameters()}
    _fit(model, batches=2)
    assert all(not torch.equal(p, d0[n]) for n, p in model.disc.named_parameters())  # D on the second batch


# ------------------------------------------------------------------------------------------------------ VAE
def test_vae_paper_mnist_model():
    """Appendix C: one tanh layer of 500 units each side, nz 20, Bernoulli decoder; N(0, 0.01); Adagrad."""
    model = VAE()
    assert (n_params(model.encoder), n_params(model.decoder)) == (412_540, 403_284)
    assert model.decoder.logvar is None and model.encoder.hidden.out_features == 500
    params = torch.cat([p.flatten() for p in model.parameters()])
    assert abs(float(params.std()) - 0.01) < 0.0005
    (opt,), _ = model.configure_optimizers()
    assert isinstance(opt, torch.optim.Adagrad) and opt.defaults["lr"] == 0.02
    assert opt.defaults["weight_decay"] == pytest.approx(1 / 60000)
    gaussian = VAE(likelihood="gaussian", hidden=200)  # the Frey Face model: μ and log σ² heads
    assert gaussian.decoder.logvar is not None


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_vae_negative_elbo_is_eq_10(likelihood):
    """rec = -log p(x|z) with z = μ + σ ε (same ε), kl = KL(N(μ, σ²) || N(0, I)): torch.distributions agree."""
    from torch.distributions import Bernoulli, Normal, kl_divergence

    torch.manual_seed(0)
    model = VAE(**VAE.tiny_config, likelihood=likelihood, init_std=0.3)
    x = torch.rand(5, 1, 32, 32) * 2 - 1
    torch.manual_seed(1)
    terms = model.negative_elbo(x)
    torch.manual_seed(1)
    mu, logvar = model.encode(x)
    z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
    out, out_logvar = model.decoder(z)
    target = ((x + 1) / 2).flatten(1)
    if likelihood == "bernoulli":
        log_px = Bernoulli(logits=out, validate_args=False).log_prob(target).sum(1)  # grey levels as means
    else:
        log_px = Normal(torch.sigmoid(out), (0.5 * out_logvar).exp()).log_prob(target).sum(1)
    kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(terms["rec"], -log_px.mean())
    torch.testing.assert_close(terms["kl"], kl.mean())
    terms["rec"].backward()  # the reparameterisation: the reconstruction term reaches the encoder
    assert model.encoder.hidden.weight.grad.abs().sum() > 0


def test_vae_forward_samples_and_reconstructs():
    model = VAE(**VAE.tiny_config).eval()
    z = torch.randn(3, 4)
    torch.testing.assert_close(model(z=z), model.sample(z=z))
    assert model(5).shape == (5, 1, 32, 32)
    rows = model.visuals({"image": torch.zeros(2, 1, 32, 32)})
    assert [t.shape[0] for t in rows[0]] == [2, 2, 2]  # real | reconstruction | sample


# ---------------------------------------------------------------------------------------- unconditional contract
@pytest.mark.parametrize("cls", [GAN, DCGAN, VAE], ids=lambda c: c.__name__)
def test_sample_uses_eval_mode_codes_and_restores_the_mode(cls):
    model = cls(**cls.tiny_config).train()
    z = torch.randn(2, model.hparams.nz)
    a, b = model.sample(z=z), model.sample(z=z)
    torch.testing.assert_close(a, b)  # eval: no dropout, BN running statistics
    assert model.training and not a.requires_grad
    with pytest.raises(ValueError, match=rf"{cls.__name__}: z must have shape \(N, {model.hparams.nz}\)"):
        model.sample(z=torch.zeros(2, model.hparams.nz + 1))
    with pytest.raises(ValueError, match="number of samples"):
        model.sample()
    with pytest.raises(TypeError, match="translate"):
        CycleGAN(**CycleGAN.tiny_config).sample(2)


@pytest.mark.parametrize("cls", [GAN, DCGAN, VAE], ids=lambda c: c.__name__)
def test_onnx_export_takes_z_and_gives_images(cls, tmp_path):
    pytest.importorskip("onnxruntime")
    model = cls(**cls.tiny_config).eval()
    path = export_generator(model, tmp_path / "g.onnx", "onnx", dynamo=False)  # verified against PyTorch
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["z"] and session.get_outputs()[0].name == "generated"
    z = torch.randn(3, model.hparams.nz)
    (out,) = session.run(None, {"z": z.numpy()})
    np.testing.assert_allclose(out, model.sample(z=z).numpy(), atol=1e-5)


# ----------------------------------------------------------------------------------------------------- data
def _write(folder: Path, names: list[str], size=(40, 30), mode="RGB") -> None:
    for i, name in enumerate(names):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new(mode, size, (i * 40, 0, 0) if mode == "RGB" else i * 40).save(folder / name)


def test_image_folder_any_layout(tmp_path):
    # Nested class folders of differently sized images, no split: all for training, square crops of image_size.
    _write(tmp_path / "flat", ["a/1.png", "a/2.jpg", "b/c/3.png"])
    _write(tmp_path / "flat", ["wide.png"], size=(90, 20))
    data = ImageFolderDataModule(root=str(tmp_path / "flat"), channels=3, image_size=16, batch_size=4, num_workers=0)
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    assert batch["image"].shape == (4, 3, 16, 16) and batch["image"].min() >= -1 and batch["image"].max() <= 1
    assert sorted(batch["path"]) == ["a/1.png", "a/2.jpg", "b/c/3.png", "wide.png"]
    assert data.val_dataloader() == []
    # train/ + val/: the splits; grayscale; predict generates num_samples indices named <index>.png.
    _write(tmp_path / "split" / "train", ["1.png", "2.png"], size=(8, 8), mode="L")
    _write(tmp_path / "split" / "val", ["3.png"], size=(8, 8), mode="L")
    data = ImageFolderDataModule(
        root=str(tmp_path / "split"),
        channels=1,
        image_size=8,
        preprocess="none",
        num_samples=5,
        batch_size=2,
        num_workers=0,
    )
    data.setup("fit")
    assert (len(data.train_set), len(data.val_set)) == (2, 1)
    assert next(iter(data.val_dataloader()))["image"].shape == (1, 1, 8, 8)
    data.setup("predict")
    batches = list(data.predict_dataloader())
    assert torch.equal(torch.cat([b["index"] for b in batches]), torch.arange(5))
    assert batches[-1]["path"] == ["000004.png"]


def test_image_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="needs root"):
        ImageFolderDataModule().setup("fit")
    with pytest.raises(DataError, match="no images in"):
        (tmp_path / "empty").mkdir()
        ImageFolderDataModule(root=str(tmp_path / "empty"), num_workers=0).setup("fit")
    with pytest.raises(DataError, match="channels"):
        ImageFolderDataModule(root=".", channels=2)
    _write(tmp_path / "odd", ["x.png"], size=(10, 12))
    data = ImageFolderDataModule(root=str(tmp_path / "odd"), image_size=8, preprocess="none", num_workers=0)
    data.setup("fit")
    with pytest.raises(DataError, match="x.png is 10x12, not 8x8"):
        data.train_set[0]


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def test_mnist_downloads_by_name_once_with_checksums(tmp_path, monkeypatch):
    """The IDX files come from a (local) server, are checked, and become train/ and test/ PNGs in official order."""
    served = tmp_path / "server"
    served.mkdir()
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte.gz": _idx(rng.integers(0, 256, (6, 28, 28))),
        "train-labels-idx1-ubyte.gz": _idx(np.array([5, 0, 4, 1, 9, 2])),
        "t10k-images-idx3-ubyte.gz": _idx(rng.integers(0, 256, (2, 28, 28))),
        "t10k-labels-idx1-ubyte.gz": _idx(np.array([7, 2])),
    }
    for name, data in files.items():
        (served / name).write_bytes(data)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        # The first URL fails (nothing listens there): the next one is tried.
        closed = socket.socket()  # a port nothing listens on: refused at once (a firewalled port would time out)
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}/"
        closed.close()
        monkeypatch.setattr(uncond, "MNIST_URLS", (dead, url))
        monkeypatch.setattr(uncond, "MNIST_FILES", {n: hashlib.sha256(d).hexdigest() for n, d in files.items()})
        data = ImageFolderDataModule(
            root=str(tmp_path / "data"), dataset="mnist", channels=1, image_size=28, num_workers=0, batch_size=6
        )
        data.prepare_data()
        data.setup("fit")
        folder = tmp_path / "data" / "mnist"
        assert sorted(p.name for p in (folder / "train").iterdir())[:2] == ["00000_label5.png", "00001_label0.png"]
        assert len(data.train_set) == 6 and len(data.val_set) == 2  # test/ validates
        raw = np.asarray(Image.open(folder / "test" / "00001_label2.png"))
        assert raw.shape == (28, 28)
        # A wrong checksum is refused (the server still serves the files).
        good = dict(uncond.MNIST_FILES)
        monkeypatch.setattr(uncond, "MNIST_FILES", {n: "0" * 64 for n in files})
        with pytest.raises(Exception, match="SHA-256|could not download"):
            uncond.download_mnist(tmp_path / "other")
        # Once downloaded, no server is needed any more (closed: a connection would be refused, not left hanging).
        monkeypatch.setattr(uncond, "MNIST_FILES", good)
        server.shutdown()
        server.server_close()
        assert uncond.download_mnist(tmp_path / "data") == folder
    finally:
        server.shutdown()
        server.server_close()


def test_demo_digits_split_is_the_classifiers():
    """train/ = the digits the shipped classifier learned, test/ = the 1,000 it never saw (an honest FID reference)."""
    from translation_zoo.data import DemoImageFolderDataModule
    from translation_zoo.data.demo import label_from_path
    from translation_zoo.metrics import digit_split

    data = DemoImageFolderDataModule(batch_size=1000)
    data.prepare_data()
    data.setup("fit")
    assert (len(data.train_set), len(data.val_set)) == (4000, 1000)
    batch = next(iter(data.val_dataloader()))
    _, _, x_test, y_test = digit_split("mnist")
    torch.testing.assert_close(batch["image"], x_test)
    assert [label_from_path(p) for p in batch["path"]] == y_test.tolist()


# ----------------------------------------------------------------------------------------------- end to end
def test_quickstart_recipe_fit_predict_export(tmp_path):
    """The DCGAN quickstart, tiny: fit, then `lightning predict` writes num_samples images, then export."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    exe = Path(sys.executable).with_name("lightning")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "translation_zoo.cli"]
    recipe = str(ROOT / "recipes" / "quickstart_dcgan_digits.yaml")
    fast = ["--trainer.max_epochs=1", "--data.init_args.max_dataset_size=32", "--data.init_args.batch_size=16"]
    fast += ["--trainer.limit_val_batches=1", "--trainer.check_val_every_n_epoch=1"]
    fast += ["--trainer.num_sanity_val_steps=0", "--model.init_args.ngf=4", "--model.init_args.ndf=4"]
    out = subprocess.run(
        [*cmd, "fit", "--config", recipe, *fast], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs" / "quickstart_dcgan").iterdir()
    assert "val/fid_digits_mnist" in (run_dir / "metrics.csv").read_text()
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    assert (
        torch.load(ckpt, weights_only=True, map_location="cpu")["global_step"] == 4
    )  # 32 digits, batch 16: D and G on both
    predict = [
        "predict",
        "--config",
        recipe,
        "--ckpt_path",
        str(ckpt),
        "--data.init_args.num_samples=5",
        "--model.init_args.ngf=4",
        "--model.init_args.ndf=4",
        f"--predict_writer.output_dir={tmp_path / 'gen'}",
        "--trainer.logger=false",
    ]
    out = subprocess.run([*cmd, *predict], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    written = sorted(p.name for p in (tmp_path / "gen").glob("*.png"))
    assert written == [f"00000{i}.png" for i in range(5)] and Image.open(tmp_path / "gen" / written[0]).size == (32, 32)
    export = [sys.executable, "-m", "translation_zoo.export", "--ckpt", str(ckpt), "--format", "torchscript"]
    out = subprocess.run(export, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and "DCGAN generator" in out.stdout, out.stderr[-3000:]


# -------------------------------------------------------------------------------------------------- learning
def _load_benchmark():
    spec = importlib.util.spec_from_file_location("backbones_digits", ROOT / "benchmarks" / "backbones_digits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def _learned(name: str) -> dict[str, float]:
    torch.set_num_threads(2)
    r = _load_benchmark().train_and_score(name, seed=0)
    print(f"\n{name} mnist_digits: {r}")
    return r


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gan", "dcgan", "vae"])
def test_samples_look_like_mnist_digits(name):
    """Samples after a short training (benchmarks/backbones_digits.py's CONFIGS): FID in the digit classifier's
    feature space at most half the untrained generator's."""
    r = _learned(name)
    assert r["after_fid"] < 0.5 * r["before_fid"], r


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            "gan",
            marks=pytest.mark.xfail(
                strict=True,
                reason="measured (benchmarks/RESULTS.md): the MLP GAN covers 3-4 of 10 digits after 800-1,100 batches "
                "(< 50 s on a 2-core CPU), with Adam or the official SGD; coverage needs a longer run",
            ),
        ),
        "dcgan",
        "vae",
    ],
)
def test_samples_cover_all_ten_digits(name):
    """The digit classifier finds each of the ten digits in at least 1 % of 1,000 samples (no mode collapse)."""
    r = _learned(name)
    assert r["after_classes"] == 10, r
