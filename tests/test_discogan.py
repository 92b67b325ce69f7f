"""DiscoGAN (Kim et al. 2017): the official networks, losses and schedule; a slow test that it learns."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from translation_zoo.models.discogan import DiscoGAN, DiscoGANDiscriminator, DiscoGANGenerator

from conftest import make_batch

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Computed with the official SKTBrain/DiscoGAN discogan/model.py (Generator(), Discriminator(); 64x64, 3 channels).
OFFICIAL_GENERATOR_PARAMS = 5_513_856
OFFICIAL_DISCRIMINATOR_PARAMS = 2_765_568


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_default_networks_have_the_official_parameter_counts_and_keys():
    model = DiscoGAN()
    for gen in (model.gen_a2b, model.gen_b2a):
        assert n_params(gen) == OFFICIAL_GENERATOR_PARAMS
    for disc in (model.disc_a, model.disc_b):
        assert n_params(disc) == OFFICIAL_DISCRIMINATOR_PARAMS
    # The official modules' state-dict keys: main.<i> in the generator, conv<i>/bn<i> in the discriminator.
    gen_keys, disc_keys = set(model.gen_a2b.state_dict()), set(model.disc_a.state_dict())
    assert {"main.0.weight", "main.3.running_mean", "main.18.weight", "main.20.weight"} <= gen_keys
    assert "main.21.weight" not in gen_keys
    assert {"conv1.weight", "bn2.weight", "bn4.running_var", "conv5.weight"} <= disc_keys
    assert "bn1.weight" not in disc_keys
    assert model.gen_a2b.size_multiple == 16


@pytest.mark.parametrize(("size", "levels"), [(16, 2), (32, 3), (64, 4), (128, 5)])
def test_depth_follows_the_image_size(size, levels):
    gen, disc = DiscoGANGenerator(1, 1, 4, levels), DiscoGANDiscriminator(1, 4, levels)
    x = torch.rand(2, 1, size, size) * 2 - 1
    y = gen(x)
    assert y.shape == x.shape and y.abs().max() < 1
    logits, feats = disc(x)
    assert logits.shape == (2, 1, 1, 1) and len(feats) == levels - 1
    assert feats[-1].shape[-1] == 4  # the last conv sees 4x4 at every size, as at the official 64 px
    model = DiscoGAN(input_nc=1, output_nc=1, ngf=4, ndf=4, image_size=size)
    assert model.gen_a2b.size_multiple == 2**levels


@pytest.mark.parametrize("size", [8, 48, 100])
def test_image_size_must_be_a_power_of_two(size):
    with pytest.raises(ValueError, match="power of two"):
        DiscoGAN(image_size=size)


def test_legacy_initialisation_bounds():
    model = DiscoGAN(input_nc=1, output_nc=1, ngf=8, ndf=8, image_size=32)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.conv._ConvNd):
            # PyTorch <= 0.3: U(±1/sqrt(in_channels·k·k)) for convs and transposed convs alike.
            bound = 1 / math.sqrt(m.in_channels * 16)
            assert m.weight.abs().max() <= bound and m.weight.abs().max() > 0.8 * bound
        elif isinstance(m, torch.nn.BatchNorm2d):
            assert 0 <= m.weight.min() and m.weight.max() <= 1 and m.weight.std() > 0.1 and not m.bias.any()


def test_optimisers_and_schedule_are_the_official_ones():
    model = DiscoGAN(input_nc=1, output_nc=1, ngf=4, ndf=4, image_size=32)
    optimizers, schedulers = model.configure_optimizers()
    assert not schedulers  # constant learning rate
    for opt in optimizers:
        assert isinstance(opt, torch.optim.Adam)
        group = opt.param_groups[0]
        assert group["lr"] == 2e-4 and group["betas"] == (0.5, 0.999) and group["weight_decay"] == 1e-5
    # update_interval 3: D on iterations 0, 3, 6, ...; gan_curriculum 10000: rate 0.01, then 0.5.
    assert [model.schedule(i) for i in range(4)] == [("D", 0.01), ("G", 0.01), ("G", 0.01), ("D", 0.01)]
    assert model.schedule(9999) == ("D", 0.01) and model.schedule(10000) == ("G", 0.5)
    with pytest.raises(ValueError, match="update_interval"):
        DiscoGAN(update_interval=1)


def _fill_(net: torch.nn.Module) -> torch.nn.Module:
    """Deterministic weights (no RNG), the same as given to the official networks for the pinned numbers."""
    with torch.no_grad():
        for k, (name, p) in enumerate(net.named_parameters()):
            t = torch.sin(torch.arange(p.numel(), dtype=torch.float64) * 0.7 + k).reshape(p.shape)
            if p.dim() == 4:
                p.copy_(t / math.sqrt(p.shape[1] * p.shape[2] * p.shape[3]))
            elif name.endswith("weight"):
                p.copy_(0.5 + 0.4 * t)
            else:
                p.copy_(0.1 * t)
    return net


def _images(phase: float) -> torch.Tensor:
    """(2, 3, 64, 64) in [-1, 1]; the official code got the same images in [0, 1]."""
    x01 = 0.5 + 0.5 * torch.sin(torch.arange(2 * 3 * 64 * 64, dtype=torch.float64) * 0.13 + phase)
    return (x01.float().reshape(2, 3, 64, 64)) * 2 - 1


# The official loop's loss values (``image_translation.py``: get_gan_loss, get_fm_loss, recon_criterion) for
# _fill_ weights in Generator()/Discriminator() and the images _images(0) as A, _images(1) as B; its generator_B
# is our gen_a2b, its generator_A our gen_b2a.
OFFICIAL = {
    "dis_loss_A": 0.5060897469520569,
    "dis_loss_B": 1.0098705291748047,
    "gen_loss_A": 1.196786642074585,
    "gen_loss_B": 0.9131060242652893,
    "fm_loss_A": 0.472973108291626,
    "fm_loss_B": 0.35358887910842896,
    "recon_loss_A": 0.13145753741264343,
    "recon_loss_B": 0.13357366621494293,
}
# sum |grad| of a few layers after the official gen_loss.backward() (rate 0.01 and 0.5) and dis_loss.backward(),
# with their relative tolerance: layers whose gradient is well conditioned here (an input change of 1e-6 moves
# these by < 2e-3; the first layers' by more). Kernels' summation order differs between CPUs: gen_b2a's last layer
# came out 1.2e-3 off on an AVX2-only machine, hence 5e-3 there.
OFFICIAL_GRADS = {
    0.01: {"gen_b2a.main.20.weight": (65.47057342529297, 5e-3), "gen_a2b.main.20.weight": (111.34514617919922, 1e-2)},
    0.5: {"gen_b2a.main.20.weight": (32.34360122680664, 5e-3), "gen_a2b.main.20.weight": (57.34672927856445, 1e-2)},
    "D": {
        "disc_a.conv5.weight": (479.75958251953125, 1e-4),
        "disc_b.conv5.weight": (655.404052734375, 1e-4),
        "disc_b.bn4.weight": (3.1208713054656982, 1e-3),
    },
}


def _official_model() -> DiscoGAN:
    model = DiscoGAN()
    for net in (model.gen_a2b, model.gen_b2a, model.disc_a, model.disc_b):
        _fill_(net)
    return model.train()


@pytest.mark.parametrize("rate", [0.01, 0.5])
def test_generator_losses_and_gradients_equal_the_official_code(rate):
    model = _official_model()
    a, b = _images(0.0), _images(1.0)
    losses = model.generator_losses(a, b, rate)
    expected = {
        "g_gan_b": (1 - rate) * 0.1 * OFFICIAL["gen_loss_B"],
        "g_gan_a": (1 - rate) * 0.1 * OFFICIAL["gen_loss_A"],
        "g_fm_b": (1 - rate) * 0.9 * OFFICIAL["fm_loss_B"],
        "g_fm_a": (1 - rate) * 0.9 * OFFICIAL["fm_loss_A"],
        "g_const_a": rate * OFFICIAL["recon_loss_A"],
        "g_const_b": rate * OFFICIAL["recon_loss_B"],
    }
    assert set(losses) == set(expected)
    for name, value in expected.items():
        assert losses[name].item() == pytest.approx(value, rel=1e-4), name
    sum(losses.values()).backward()
    params = dict(model.named_parameters())
    for name, (value, rel) in OFFICIAL_GRADS[rate].items():
        assert params[name].grad.abs().sum().item() == pytest.approx(value, rel=rel), name


def test_discriminator_losses_and_gradients_equal_the_official_code():
    model = _official_model()
    losses = model.discriminator_losses(_images(0.0), _images(1.0))
    assert losses["d_a"].item() == pytest.approx(OFFICIAL["dis_loss_A"], rel=1e-4)
    assert losses["d_b"].item() == pytest.approx(OFFICIAL["dis_loss_B"], rel=1e-4)
    sum(losses.values()).backward()
    params = dict(model.named_parameters())
    for name, (value, rel) in OFFICIAL_GRADS["D"].items():
        assert params[name].grad.abs().sum().item() == pytest.approx(value, rel=rel), name
    assert all(p.grad is None for p in model.gen_a2b.parameters())  # fakes are constants for D


class _Items(torch.utils.data.Dataset):
    def __init__(self, batch, n):
        self.items = [{k: v[i % len(v)] for k, v in batch.items()} for i in range(n)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_training_alternates_one_player_per_batch(tmp_path):
    """Official schedule: batch 0 updates only D, batches 1 and 2 only G, batch 3 D again."""
    torch.manual_seed(0)
    model = DiscoGAN(input_nc=1, output_nc=1, ngf=4, ndf=4, image_size=32)
    changed: list[set[str]] = []

    class Record(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.before = {n: p.detach().clone() for n, p in pl_module.named_parameters()}

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            nets = {n.split(".")[0] for n, p in pl_module.named_parameters() if not torch.equal(p, self.before[n])}
            changed.append(nets)

    batch = make_batch(model, n=2)
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[Record()], default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(model, DataLoader(_Items(batch, 8), batch_size=2))
    d, g = {"disc_a", "disc_b"}, {"gen_a2b", "gen_b2a"}
    assert changed == [d, g, g, d]
    assert trainer.global_step == 4  # one optimiser step per batch: the step counter is the official ``iters``


def test_inference_modes():
    torch.manual_seed(0)
    model = DiscoGAN(input_nc=1, output_nc=1, ngf=4, ndf=4, image_size=32)
    x = make_batch(model, n=4)["A"]
    model.eval()
    # eval_mode (default): running statistics, so an image translates the same alone or in a batch.
    torch.testing.assert_close(model(x[:1]), model(x)[:1])
    assert model(x, direction="b2a").shape == x.shape
    with pytest.raises(ValueError, match="direction"):
        model(x, direction="ab")
    # eval_mode=False: the official test mode (batch statistics), leaving the running statistics untouched.
    model.hparams.eval_mode = False
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    batch_stats = model(x)
    assert not torch.allclose(batch_stats[:1], model(x[:1]))
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in buffers.items())
    assert not model.gen_a2b.training


def _fit(model, batch, n_batches, tmp_path):
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(model, DataLoader(_Items(batch, 2 * n_batches), batch_size=2))
    return model


def test_fused_adam_gives_the_plain_update(tmp_path):
    """The recipes' fast setting (fused Adam, with the official weight decay) against the plain path, 3 batches."""
    models = []
    for fused in (None, True):
        torch.manual_seed(0)
        models.append(DiscoGAN(input_nc=1, output_nc=1, ngf=4, ndf=4, image_size=32, fused=fused))
    batch = make_batch(models[0], n=2)
    plain, fused = (_fit(m, batch, 3, tmp_path) for m in models)
    for (name, p), q in zip(plain.named_parameters(), fused.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)


def test_quickstart_recipe_runs_end_to_end(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    exe = Path(sys.executable).with_name("lightning")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "translation_zoo.cli"]
    args = ["fit", "--config", str(ROOT / "recipes" / "quickstart_discogan_digits.yaml"), "--trainer.max_epochs=1"]
    args += ["--data.init_args.max_dataset_size=32", "--trainer.num_sanity_val_steps=0"]
    out = subprocess.run([*cmd, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs" / "quickstart_discogan").iterdir()
    metrics = (run_dir / "metrics.csv").read_text()
    assert "val/fid_digits_uci" in metrics and "val/const_a" in metrics and "train/g_const_a_epoch" in metrics
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert state["global_step"] == 2  # 32 digits in batches of 16: one D step, one G step


def _load_benchmark(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_discogan_translates_mnist_into_uci_digits_and_keeps_the_digit():
    """MNIST -> UCI: G_AB(a) is closer to real UCI digits than a itself (FID in the UCI classifier's feature space)
    and keeps a's digit far above chance; the initialised G_AB does neither."""
    torch.set_num_threads(2)
    bench = _load_benchmark("discogan_digits")
    # The official schedule (D on every third batch, Adam 2e-4 with weight decay) for 1600 batches of 16 at
    # ngf = ndf = 16; reconstruction weight 0.9 from the start (the quickstart's short-run setting).
    r = bench.train_and_score(iterations=1600, seed=0)
    print(f"\nDiscoGAN mnist_uci: {r}")
    assert r["before_fid"] > r["identity_fid"] and r["before_acc"] < 0.2, r  # chance is 0.1
    # "no translation": the MNIST digits as they are (FID 66.0). Seeds 0, 1, 2: 20.8, 51.8, 17.2.
    assert r["after_fid"] < 0.75 * r["identity_fid"], r
    assert r["after_acc"] > 0.2, r  # twice chance (seeds 0, 1, 2: 0.40, 0.34, 0.25; benchmarks/RESULTS.md)
