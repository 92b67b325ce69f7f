"""IcGAN: parameter counts of the official Lua definitions (counted by hand), where y enters G and D, the official
initialisations, the D and G losses of ``trainGAN.lua`` (with the mismatched-y term), the encoder losses, the two
training phases, exact resume across them, the editing API, the quickstart, and the slow learning test."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
import torch.nn.functional as F

from translation_zoo.data.resumable import ResumableDataLoader
from translation_zoo.models.base import n_params
from translation_zoo.models.icgan import IcGAN

pytestmark = pytest.mark.usefixtures("one_torch_thread")
ROOT = Path(__file__).resolve().parents[1]
TINY = {**IcGAN.tiny_config}
TINY_ATTRS = {**TINY, "labels": "attributes"}
SEQUENTIAL = {**TINY_ATTRS, "train_encoders_with_gan": False, "gan_epochs": 1, "encoder_epochs": 2}

# The official Lua networks (Guim3/IcGAN trainGAN.lua / trainEncoder.lua, cfg/mainConfig.lua: nz 100, ngf = ndf = 64,
# fineSize 64; encoders nf 32, nConvLayers 4, FCsz nil (E_z) / 512 (E_y)), counted layer by layer. Torch's
# SpatialFullConvolution / SpatialConvolution / Linear carry a bias, BatchNormalization a weight and a bias (2·C).
# CelebA: nc = 3, ny = 18 (40 attributes minus the 22 of attrFil).
#   G = (118·512·16 + 512) + 2·512          SpatialFullConvolution(nz + ny, 512, 4, 4) + BN   =   968,192
#     + (512·256·16 + 256) + 2·256          (512 -> 256, 4x4 s2)                              = 2,097,920
#     + (256·128·16 + 128) + 2·128          (256 -> 128)                                      =   524,672
#     + (128·64·16 + 64) + 2·64             (128 -> 64)                                       =   131,264
#     + (64·3·16 + 3)                       (64 -> nc) + Tanh                                 =     3,075
#     = 3,725,123
#   D = (3·64·16 + 64)                      SpatialConvolution(nc, 64) + LeakyReLU, no BN     =     3,136
#     + (82·128·16 + 128) + 2·128           (64 + ny replicated y -> 128) + BN               =   168,320
#     + (128·256·16 + 256) + 2·256          (128 -> 256) + BN                                 =   525,056
#     + (256·512·16 + 512) + 2·512          (256 -> 512) + BN                                 = 2,098,688
#     + (512·1·16 + 1)                      SpatialConvolution(512, 1, 4, 4) + Sigmoid       =     8,193
#     = 2,803,393
#   encoder convolutions (5x5 s2 p2, each + BN):
#       (3·32·25 + 32) + 64 + (32·64·25 + 64) + 128 + (64·128·25 + 128) + 256 + (128·256·25 + 256) + 512 = 1,078,416
#     (nc = 1: 1,076,816)
#   E_z = 1,078,416 + (4096·4096 + 4096) + 2·4096 + (4096·100 + 100)     (4x4x256 = 4,096 -> FC 4,096 -> nz)
#       = 1,078,416 + 16,781,312 + 8,192 + 409,700 = 18,278,244
#   E_y = 1,078,416 + (4096·512 + 512) + 2·512 + (512·18 + 18)           (4,096 -> FC 512 -> ny)
#       = 1,078,416 + 2,097,664 + 1,024 + 9,234 = 3,186,962
# MNIST at the same 64 px (README: dataset=mnist, fineSize 64): nc = 1, ny = 10 (one-hot classes).
#   G = (110·512·16 + 512) + 1,024 + 2,097,920 + 524,672 + 131,264 + (64·1·16 + 1)         = 3,657,537
#   D = (1·64·16 + 64) + (74·128·16 + 128) + 256 + 525,056 + 2,098,688 + 8,193             = 2,784,961
#   E_z = 1,076,816 + 16,781,312 + 8,192 + 409,700 = 18,276,644
#   E_y = 1,076,816 + 2,097,664 + 1,024 + (512·10 + 10) = 3,181,258
LUA_PARAMS = {
    "celeba": (3_725_123, 2_803_393, 18_278_244, 3_186_962),
    "mnist": (3_657_537, 2_784_961, 18_276_644, 3_181_258),
}


def test_parameter_counts_equal_the_lua_definitions():
    celeba = IcGAN()  # the paper defaults: 64x64 RGB, 18 attributes
    assert tuple(n_params(m) for m in (celeba.gen, celeba.disc, celeba.enc_z, celeba.enc_y)) == LUA_PARAMS["celeba"]
    mnist = IcGAN(input_nc=1, n_domains=10, labels="domain")
    assert tuple(n_params(m) for m in (mnist.gen, mnist.disc, mnist.enc_z, mnist.enc_y)) == LUA_PARAMS["mnist"]
    # the official layer shapes behind the counts
    assert celeba.gen.main[0].weight.shape == (118, 512, 4, 4)  # z and y enter G's first layer
    assert celeba.disc.x_conv[0].weight.shape == (64, 3, 4, 4)  # D's first conv sees the image only ...
    assert celeba.disc.main[0].weight.shape == (128, 64 + 18, 4, 4)  # ... y is concatenated to its output
    assert celeba.enc_z.fc[0].weight.shape == (4096, 4096) and celeba.enc_y.fc[0].weight.shape == (512, 4096)


def test_y_enters_g_at_the_input_and_d_after_its_first_convolution():
    torch.manual_seed(0)
    model = IcGAN(**TINY_ATTRS).eval()
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    y = torch.tensor([[1.0, -1, 1], [-1, 1, -1]])
    seen = {}
    model.disc.main[0].register_forward_hook(lambda m, i, o: seen.update(d_in=i[0]))
    model.gen.main[0].register_forward_hook(lambda m, i, o: seen.update(g_in=i[0]))
    with torch.no_grad():
        model.disc(x, y)
        model.gen(torch.zeros(2, 8), y)
    d_in = seen["d_in"]  # (N, ndf + ny, S/2, S/2): the last ny maps are y, constant over space
    assert d_in.shape == (2, 4 + 3, 16, 16)
    assert torch.equal(d_in[:, 4:], y[:, :, None, None].expand(-1, -1, 16, 16))
    assert seen["g_in"].shape == (2, 8 + 3, 1, 1) and torch.equal(seen["g_in"][:, 8:, 0, 0], y)
    with torch.no_grad():
        assert not torch.allclose(model.disc(x, y), model.disc(x, -y))


def test_official_initialisations():
    torch.manual_seed(0)
    model = IcGAN(ngf=16, ndf=16, enc_nf=8, image_size=32, n_domains=3)
    for net in (model.gen, model.disc):  # trainGAN.lua weights_init
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
                assert abs(float(m.weight.std()) - 0.02) < 0.004 and not m.bias.any()
            if isinstance(m, torch.nn.BatchNorm2d):
                assert abs(float(m.weight.mean()) - 1) < 0.02 and not m.bias.any()
    for net in (model.enc_z, model.enc_y):  # Torch7 defaults (trainEncoder.lua initialises nothing)
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d | torch.nn.Linear):
                bound = 1 / m.weight[0].numel() ** 0.5
                assert float(m.weight.abs().max()) <= bound and float(m.bias.abs().max()) <= bound
                assert float(m.weight.abs().max()) > 0.8 * bound
            if isinstance(m, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):  # nn.BatchNormalization:reset
                assert 0 <= float(m.weight.min()) and float(m.weight.max()) <= 1 and not m.bias.any()
                assert m.weight.numel() < 8 or float(m.weight.std()) > 0.1


class _Recorder:
    """Stands in for the trainer in training_step: records each player's losses without updating anything."""

    def __init__(self, model: IcGAN, gan_phase: bool = True) -> None:
        self.steps: list[tuple[str, dict[str, torch.Tensor]]] = []
        self.opts = {n: object() for n in model.param_groups()}
        model.optimizers = lambda: tuple(self.opts.values())
        model.toggled_optimizer = lambda opt: contextlib.nullcontext()
        model.log = lambda *a, **k: None
        model.in_gan_phase = lambda: gan_phase

        def step(opt, losses):
            name = next(n for n, o in self.opts.items() if o is opt)
            self.steps.append((name, {k: v.detach() for k, v in losses.items()}))

        model._step = step


def _batch(labels: str = "attributes", n: int = 6) -> dict:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 32, 32, generator=g) * 2 - 1
    if labels == "attributes":
        return {"image": x, "attrs": (torch.rand(n, 3, generator=g) > 0.5).float(), "path": []}
    return {"image": x, "domain": torch.randint(0, 3, (n,), generator=g), "path": []}


def _spy(module: torch.nn.Module, calls: list) -> None:
    forward = module.forward
    module.forward = lambda *args: calls.append((*(a.detach().clone() for a in args), out := forward(*args))) or out


@pytest.mark.parametrize("labels", ["attributes", "domain"])
def test_d_and_g_losses_are_the_official_fdx_and_fgx(labels):
    """fDx: BCE(D(x, y), 1) + ½ BCE(D(x, y_wrong), 0) + ½ BCE(D(G(z, y'), y'), 0) with the sigmoid output
    (trainWrongY: the fake error is shared with the wrong-y error); fGx: BCE(D(G(z, y'), y'), 1) on the same fakes."""
    torch.manual_seed(0)
    model = IcGAN(**{**TINY, "labels": labels, "train_encoders_with_gan": False})
    rec = _Recorder(model)
    d_calls, g_calls = [], []
    _spy(model.disc, d_calls)
    _spy(model.gen, g_calls)
    batch = _batch(labels)
    model.training_step(batch, 0)
    assert [name for name, _ in rec.steps] == ["D", "G"]
    (_, d), (_, g) = rec.steps
    y = model.batch_y(batch)
    ((z, y_fake, fake),) = g_calls
    (x1, y1, o1), (x2, y2, o2), (x3, y3, o3), (x4, y4, o4) = d_calls
    assert torch.equal(x1, batch["image"]) and torch.equal(y1, y)
    assert torch.equal(x2, batch["image"]) and (y2 != y).any(1).all()  # every y_wrong differs from the image's own
    assert torch.equal(x3, fake) and torch.equal(y3, y_fake) and torch.equal(x4, fake) and torch.equal(y4, y_fake)
    assert z.shape == (6, 8) and sorted(map(tuple, y_fake.tolist())) == sorted(map(tuple, y.tolist()))  # y' ~ labels

    def bce(logit, target):  # nn.BCECriterion on the official sigmoid output
        p = torch.sigmoid(logit)
        return -(target * torch.log(p) + (1 - target) * torch.log(1 - p)).mean()

    torch.testing.assert_close(d["d_real"], bce(o1, 1.0))
    torch.testing.assert_close(d["d_wrong_y"], 0.5 * bce(o2, 0.0))
    torch.testing.assert_close(d["d_fake"], 0.5 * bce(o3, 0.0))
    torch.testing.assert_close(g["g_adv"], bce(o4, 1.0))
    if labels == "domain":  # the official MNIST y: one-hot classes with -1 elsewhere
        assert set(y.unique().tolist()) == {-1.0, 1.0} and bool((y == 1).sum(1).eq(1).all())
    no_wrong = IcGAN(**{**TINY, "labels": labels, "train_wrong_y": False, "train_encoders_with_gan": False})
    rec = _Recorder(no_wrong)
    no_wrong.training_step(batch, 0)
    assert set(rec.steps[0][1]) == {"d_real", "d_fake"}  # then the fake term has its full weight


def test_encoder_losses_are_the_official_mse():
    """Encoder phase: E_z on (z, G(z, y')) pairs from G in eval mode, E_y on the real (x, y): nn.MSECriterion."""
    torch.manual_seed(0)
    model = IcGAN(**{**SEQUENTIAL, "bn_refresh_batches": 0})
    rec = _Recorder(model, gan_phase=False)
    g_calls, ez_calls, ey_calls, g_modes = [], [], [], []
    _spy(model.gen, g_calls)
    _spy(model.enc_z, ez_calls)
    _spy(model.enc_y, ey_calls)
    model.gen.register_forward_hook(lambda m, i, o: g_modes.append(m.training))
    batch = _batch()
    model.training_step(batch, 0)
    assert [name for name, _ in rec.steps] == ["E_z", "E_y"]
    ((z, y_gen, x_gen),), ((xz, ez),), ((xy, ey),) = g_calls, ez_calls, ey_calls
    assert g_modes == [False] and z.shape == (4, 8)  # enc_z_batch_size generated pairs
    assert all(tuple(row) in set(map(tuple, model.batch_y(batch).tolist())) for row in y_gen.tolist())
    assert torch.equal(xz, x_gen) and torch.equal(xy, batch["image"])
    torch.testing.assert_close(rec.steps[0][1]["enc_z"], ((ez - z) ** 2).mean())
    torch.testing.assert_close(rec.steps[1][1]["enc_y"], ((ey - model.batch_y(batch)) ** 2).mean())


def test_wrong_y_differs_from_the_real_one():
    model = IcGAN(**TINY_ATTRS)
    torch.manual_seed(0)
    y = (torch.rand(500, 3) > 0.5).float() * 2 - 1
    assert (model.wrong_y(y) != y).any(1).all()
    same = torch.tensor([[1.0, -1, 1]] * 4)  # every item alike: one attribute flipped
    assert ((model.wrong_y(same) != same).sum(1) == 1).all()
    classes = IcGAN(**TINY)
    y = F.one_hot(torch.randint(0, 3, (600,)), 3).float() * 2 - 1
    wrong = classes.wrong_y(y)
    assert (wrong.argmax(1) != y.argmax(1)).all() and set(wrong.argmax(1).tolist()) == {0, 1, 2}


class _Items(torch.utils.data.Dataset):
    def __init__(self, n: int = 8) -> None:
        g = torch.Generator().manual_seed(1)
        self.x = torch.rand(n, 1, 32, 32, generator=g) * 2 - 1
        self.a = (torch.rand(n, 3, generator=g) > 0.5).float()

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.x[i], "attrs": self.a[i]}


def _fit(model: IcGAN, root: Path, max_epochs: int, ckpt: Path | None = None) -> L.Trainer:
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=max_epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
    )
    # ResumableDataLoader: no draws from the global RNG when an epoch's iterator starts (a plain DataLoader draws its
    # worker seed there), so a resumed run sees the uninterrupted run's random stream.
    trainer.fit(model, ResumableDataLoader(_Items(), batch_size=4, seed=3), ckpt_path=ckpt)
    return trainer


def _snapshot(model: IcGAN) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _changed(a: dict, b: dict, prefix: str) -> bool:
    return any(not torch.equal(a[k], b[k]) for k in a if k.startswith(prefix) and a[k].is_floating_point())


def test_phases_train_the_cgan_then_the_encoders_and_stop(tmp_path):
    """Epoch 0 (gan_epochs = 1): G and D only; then G's BN statistics are refreshed once and epochs 1-2 train E_z and
    E_y only, G and D frozen; training stops by itself after gan_epochs + encoder_epochs epochs."""
    torch.manual_seed(0)
    model = IcGAN(**SEQUENTIAL)
    s0 = _snapshot(model)
    trainer = _fit(model, tmp_path, 1)
    s1 = _snapshot(model)
    assert _changed(s0, s1, "gen.") and _changed(s0, s1, "disc.")
    assert not _changed(s0, s1, "enc_z.") and not _changed(s0, s1, "enc_y.") and not bool(model.bn_refreshed)
    trainer.save_checkpoint(tmp_path / "gan.ckpt")
    model = IcGAN(**SEQUENTIAL)
    trainer = _fit(model, tmp_path, 10, ckpt=tmp_path / "gan.ckpt")
    s2 = _snapshot(model)
    # stopped by the model after 1 + 2 epochs, not by max_epochs: 2 batches x 2 optimiser steps per epoch
    assert trainer.global_step == 12 and trainer.current_epoch < 10
    assert _changed(s1, s2, "enc_z.") and _changed(s1, s2, "enc_y.") and bool(model.bn_refreshed)
    assert not _changed(s1, s2, "disc.")
    frozen = [k for k in s1 if k.startswith("gen.") and "running" not in k and "num_batches" not in k]
    assert frozen and all(torch.equal(s1[k], s2[k]) for k in frozen)  # G's weights frozen, its BN statistics refreshed
    assert not torch.equal(s1["gen.main.1.running_mean"], s2["gen.main.1.running_mean"])


@pytest.mark.parametrize("stop_after", [1, 2])  # at the phase boundary; in the middle of the encoder phase
def test_resume_across_the_phases_is_exact(tmp_path, stop_after):
    torch.manual_seed(0)
    whole = IcGAN(**SEQUENTIAL)
    L.seed_everything(0, verbose=False)
    _fit(whole, tmp_path / "whole", 3)
    torch.manual_seed(0)
    part = IcGAN(**SEQUENTIAL)
    L.seed_everything(0, verbose=False)
    trainer = _fit(part, tmp_path / "part", stop_after)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    torch.manual_seed(123)  # the resumed run restores the checkpoint's RNG states
    resumed = IcGAN(**SEQUENTIAL)
    _fit(resumed, tmp_path / "resumed", 3, ckpt=tmp_path / "m.ckpt")
    assert bool(resumed.bn_refreshed)
    for k, v in whole.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_editing_sampling_and_export_paths_agree():
    torch.manual_seed(0)
    model = IcGAN(**{**TINY_ATTRS, "domain_names": ["Thick", "Slanted", "Wide"]}).eval()
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        z, y_read = model.enc_z(x), torch.where(model.enc_y(x) > 0, 1.0, -1.0)
        torch.testing.assert_close(model(x), model.gen(z, y_read))  # reconstruction: E_y thresholded at 0
        target = torch.tensor([[1.0, 0.0, 1.0]])
        torch.testing.assert_close(model(x, target=target), model.gen(z, (target * 2 - 1).expand(2, -1)))
        edited = y_read.clone()
        edited[:, 1] = 1.0
        torch.testing.assert_close(model.edit(x, "Slanted", 1.0), model.gen(z, edited))
        torch.testing.assert_close(model.edit(x, 1, 1.0), model.gen(z, edited))
        torch.testing.assert_close(model.encode(x)[1], y_read)
        spec = model.inference_spec(target=target)
        torch.testing.assert_close(spec.module(x, target), model(x, target=target))
        torch.testing.assert_close(model.inference_spec().module(x), model(x))
        assert list(spec.extra_inputs) == ["target"]
        big = torch.rand(1, 1, 48, 40) * 2 - 1  # any size: resized to image_size and back
        assert model(big, target=target).shape == (1, 1, 48, 40)
        codes = torch.randn(3, 8)
        torch.testing.assert_close(
            model.sample(z=codes, target=[0, 1, 0]), model.gen(codes, torch.tensor([[-1.0, 1, -1]] * 3))
        )
    assert model.sample(5).shape == (5, 1, 32, 32) and not model.training
    classes = IcGAN(**TINY).eval()
    with torch.no_grad():
        z = classes.enc_z(x)
        torch.testing.assert_close(classes(x, target=2), classes.gen(z, torch.tensor([[-1.0, -1, 1]] * 2)))
        torch.testing.assert_close(classes.edit(x, 2), classes(x, target=2))
        assert ((classes.encode(x)[1] == 1).sum(1) == 1).all()  # E_y's argmax as a one-hot ±1 vector
    assert classes.inference_conditions()["target"].kind == "index"
    with pytest.raises(ValueError, match="unknown attribute 'Bald'"):
        model.edit(x, "Bald")
    with pytest.raises(KeyError, match=r"reads batch\['attrs'\].*set labels='domain'"):
        model.training_step(_batch("domain"), 0)
    with pytest.raises(ValueError, match="power of 2"):
        IcGAN(**{**TINY, "image_size": 48})
    with pytest.raises(ValueError, match="domain_names has 2 names"):
        IcGAN(**{**TINY, "domain_names": ["a", "b"]})


def test_optimisers_are_the_official_ones():
    opts, scheds = IcGAN(**TINY).configure_optimizers()
    assert [type(o) for o in opts] == [torch.optim.Adam] * 4 and not scheds
    assert [(o.defaults["lr"], o.defaults["betas"]) for o in opts] == [
        (2e-4, (0.5, 0.999)), (2e-4, (0.5, 0.999)), (1e-4, (0.1, 0.999)), (1e-4, (0.1, 0.999)),
    ]  # fmt: skip


def test_quickstart_recipe_runs_end_to_end(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    exe = Path(sys.executable).with_name("lightning")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "translation_zoo.cli"]
    args = ["fit", "--config", str(ROOT / "recipes" / "quickstart_icgan_digits.yaml")]
    args += ["--model.init_args.gan_epochs=1", "--model.init_args.encoder_epochs=1", "--trainer.max_epochs=2"]
    args += ["--model.init_args.bn_refresh_batches=2", "--model.init_args.enc_z_batch_size=4"]
    args += ["--data.init_args.max_dataset_size=16", "--data.init_args.batch_size=4", "--trainer.limit_val_batches=1"]
    args += ["--trainer.num_sanity_val_steps=0"]
    out = subprocess.run([*cmd, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs" / "quickstart_icgan").iterdir()
    metrics = (run_dir / "metrics.csv").read_text()
    assert "val/enc_y_mse" in metrics and "train/g_adv_epoch" in metrics and "train/enc_z_epoch" in metrics
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert bool(state["state_dict"]["bn_refreshed"]) and state["epoch"] == 1
    assert state["hyper_parameters"]["domain_names"] == ["Thick", "Slanted", "Wide"]


@pytest.mark.slow
def test_editing_thick_changes_the_stroke_width_and_keeps_the_digit():
    """The paper's claim in miniature (benchmarks/icgan_digits.py: 4 cGAN + 2 encoder epochs of the 4,000 MNIST training
    digits, batch 64, half the official filters, seed 0). Editing held-out digits through E_z, E_y and G with Thick
    off / on gives the requested measured stroke-width flag for 66 % of them (the identity baseline: exactly 50 %),
    +0.67 std of stroke width between the two edits (identity: 0), and the shipped classifier still reads the digit in
    25-26 % of the edits (chance 10 %; real digits 98 %: the digit has to survive E_z's inversion of a briefly trained
    G). Measured with the official 100-batch refresh of G's batch-norm statistics in 124 s on one thread (loaded
    2-core machine); here 10 refresh batches (0.28 s each) keep it under 120 s."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from icgan_digits import run

    r = run(
        gan_epochs=4, encoder_epochs=2, seed=0, options={"ngf": 32, "ndf": 32, "enc_nf": 16, "bn_refresh_batches": 10}
    )
    assert r["thick_acc_identity"] == pytest.approx(0.5)
    assert r["thick_acc"] > r["thick_acc_identity"] + 0.1
    assert r["thick_delta_std"] > 0.4
    assert min(r["acc_off"], r["acc_on"]) > 0.18
