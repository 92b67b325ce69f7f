"""U-GAT-IT: parameter counts, official key layout and outputs, the training iteration, ρ clipping, the per-iteration
LR decay, visuals, inference, and (slow) learning on the embedded digits.

The official networks (znxlwm/UGATIT-pytorch ``networks.py``) are re-implemented below in their plain form (module
names and indices, ``torch.var`` statistics, explicit CAM concatenation, hook-based spectral norm), independently of
the optimised ones in ``translation_zoo/models/ugatit.py``; their ``state_dict()`` keys are the official ones, and
their outputs were checked against the official code (``/tmp/official_ugatit``, max abs difference 0). The numbers
pinned in ``test_parameter_counts_equal_the_official_networks`` were counted on the official networks.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from translation_zoo import from_official, load_model
from translation_zoo.hub import OfficialWeightsError, to_official
from translation_zoo.models.base import n_params
from translation_zoo.models.ugatit import UGATIT, UGATITGenerator, clip_rho_

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_torch_thread")
SN = nn.utils.spectral_norm
TINY = dict(input_nc=1, output_nc=1, ngf=8, ndf=8, n_res=2, img_size=32, n_layers_global=5, n_layers_local=3)


# ------------------------------------------------------------------------------ official reference networks
class RefLIN(nn.Module):
    """Official ``adaILN`` (adaptive: ρ = 0.9, γ/β given) and ``ILN`` (ρ = 0, own γ = 1, β = 0)."""

    def __init__(self, c: int, adaptive: bool):
        super().__init__()
        self.rho = nn.Parameter(torch.full((1, c, 1, 1), 0.9 if adaptive else 0.0))
        if not adaptive:
            self.gamma = nn.Parameter(torch.ones(1, c, 1, 1))
            self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, x, gamma=None, beta=None):
        x_in = (x - x.mean((2, 3), keepdim=True)) / torch.sqrt(x.var((2, 3), keepdim=True) + 1e-5)
        x_ln = (x - x.mean((1, 2, 3), keepdim=True)) / torch.sqrt(x.var((1, 2, 3), keepdim=True) + 1e-5)
        out = self.rho * x_in + (1 - self.rho) * x_ln
        if gamma is None:
            return out * self.gamma + self.beta
        return out * gamma[:, :, None, None] + beta[:, :, None, None]


class RefResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        pad, conv = nn.ReflectionPad2d, lambda: nn.Conv2d(c, c, 3, bias=False)
        self.conv_block = nn.Sequential(
            pad(1), conv(), nn.InstanceNorm2d(c), nn.ReLU(True), pad(1), conv(), nn.InstanceNorm2d(c)
        )

    def forward(self, x):
        return x + self.conv_block(x)


class RefAdaBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.pad1, self.conv1, self.norm1 = nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3, bias=False), RefLIN(c, True)
        self.relu1 = nn.ReLU(True)
        self.pad2, self.conv2, self.norm2 = nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3, bias=False), RefLIN(c, True)

    def forward(self, x, gamma, beta):
        h = self.relu1(self.norm1(self.conv1(self.pad1(x)), gamma, beta))
        return x + self.norm2(self.conv2(self.pad2(h)), gamma, beta)


class RefGenerator(nn.Module):
    def __init__(self, in_nc, out_nc, ngf, n_blocks, img_size, light):
        super().__init__()
        self.n_blocks, self.light = n_blocks, light
        d = 4 * ngf
        down = [nn.ReflectionPad2d(3), nn.Conv2d(in_nc, ngf, 7, bias=False), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        for c in (ngf, 2 * ngf):
            down += [
                nn.ReflectionPad2d(1),
                nn.Conv2d(c, 2 * c, 3, 2, bias=False),
                nn.InstanceNorm2d(2 * c),
                nn.ReLU(True),
            ]
        self.DownBlock = nn.Sequential(*down, *[RefResBlock(d) for _ in range(n_blocks)])
        self.gap_fc, self.gmp_fc = nn.Linear(d, 1, bias=False), nn.Linear(d, 1, bias=False)
        self.conv1x1, self.relu = nn.Conv2d(2 * d, d, 1), nn.ReLU(True)
        fc_in = d if light else (img_size // 4) ** 2 * d
        self.FC = nn.Sequential(
            nn.Linear(fc_in, d, bias=False), nn.ReLU(True), nn.Linear(d, d, bias=False), nn.ReLU(True)
        )
        self.gamma, self.beta = nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False)
        for i in range(n_blocks):
            setattr(self, f"UpBlock1_{i + 1}", RefAdaBlock(d))
        up = []
        for c in (d, d // 2):
            up += [nn.Upsample(scale_factor=2), nn.ReflectionPad2d(1), nn.Conv2d(c, c // 2, 3, bias=False)]
            up += [RefLIN(c // 2, False), nn.ReLU(True)]
        self.UpBlock2 = nn.Sequential(*up, nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_nc, 7, bias=False), nn.Tanh())

    def forward(self, x):
        x = self.DownBlock(x)
        gap_logit = self.gap_fc(F.adaptive_avg_pool2d(x, 1).flatten(1))
        gmp_logit = self.gmp_fc(F.adaptive_max_pool2d(x, 1).flatten(1))
        gap, gmp = x * self.gap_fc.weight[:, :, None, None], x * self.gmp_fc.weight[:, :, None, None]
        x = self.relu(self.conv1x1(torch.cat([gap, gmp], 1)))
        heatmap = x.sum(1, keepdim=True)
        h = self.FC(F.adaptive_avg_pool2d(x, 1).flatten(1) if self.light else x.flatten(1))
        gamma, beta = self.gamma(h), self.beta(h)
        for i in range(self.n_blocks):
            x = getattr(self, f"UpBlock1_{i + 1}")(x, gamma, beta)
        return self.UpBlock2(x), torch.cat([gap_logit, gmp_logit], 1), heatmap


class RefDiscriminator(nn.Module):
    def __init__(self, in_nc, ndf, n_layers):
        super().__init__()
        layers, c = [nn.ReflectionPad2d(1), SN(nn.Conv2d(in_nc, ndf, 4, 2)), nn.LeakyReLU(0.2, True)], ndf
        for _ in range(n_layers - 3):
            layers += [nn.ReflectionPad2d(1), SN(nn.Conv2d(c, 2 * c, 4, 2)), nn.LeakyReLU(0.2, True)]
            c *= 2
        layers += [nn.ReflectionPad2d(1), SN(nn.Conv2d(c, 2 * c, 4, 1)), nn.LeakyReLU(0.2, True)]
        c *= 2
        self.gap_fc, self.gmp_fc = SN(nn.Linear(c, 1, bias=False)), SN(nn.Linear(c, 1, bias=False))
        self.conv1x1, self.leaky_relu = nn.Conv2d(2 * c, c, 1), nn.LeakyReLU(0.2, True)
        self.pad, self.conv = nn.ReflectionPad2d(1), SN(nn.Conv2d(c, 1, 4, bias=False))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        x = self.model(x)
        gap_logit = self.gap_fc(F.adaptive_avg_pool2d(x, 1).flatten(1))
        gmp_logit = self.gmp_fc(F.adaptive_max_pool2d(x, 1).flatten(1))
        # The official code scales by its first parameter, weight_orig: the raw weight, not the normalised one.
        gap, gmp = x * self.gap_fc.weight_orig[:, :, None, None], x * self.gmp_fc.weight_orig[:, :, None, None]
        x = self.leaky_relu(self.conv1x1(torch.cat([gap, gmp], 1)))
        heatmap = x.sum(1, keepdim=True)
        return self.conv(self.pad(x)), torch.cat([gap_logit, gmp_logit], 1), heatmap


def official_nets(cfg: dict, seed: int = 0) -> dict[str, nn.Module]:
    """The six official networks of ``cfg`` (our option names), as ``UGATIT.build_model`` creates them."""
    torch.manual_seed(seed)
    c, ch = cfg["input_nc"], cfg["ngf"]
    nets = {
        "genA2B": RefGenerator(c, c, ch, cfg["n_res"], cfg["img_size"], cfg.get("light", False)),
        "genB2A": RefGenerator(c, c, ch, cfg["n_res"], cfg["img_size"], cfg.get("light", False)),
        "disGA": RefDiscriminator(c, ch, cfg["n_layers_global"]),
        "disGB": RefDiscriminator(c, ch, cfg["n_layers_global"]),
        "disLA": RefDiscriminator(c, ch, cfg["n_layers_local"]),
        "disLB": RefDiscriminator(c, ch, cfg["n_layers_local"]),
    }
    with torch.no_grad():  # move ρ, γ, β off their initial values so every term of (Ada)LIN matters
        for net in nets.values():
            for name, p in net.named_parameters():
                if name.endswith("rho"):
                    p.uniform_(0, 1)
                elif p.dim() == 4 and p.shape[-1] == 1 and name.endswith(("gamma", "beta")):
                    p.add_(torch.randn_like(p) * 0.2)
    return nets


def images(n: int = 2, c: int = 1, size: int = 32, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# -------------------------------------------------------------------------------------------------- tests
def test_parameter_counts_equal_the_official_networks():
    """Counted on the official networks.py (3 channels, --ch 64, --n_res 4, --img_size 256; D with 7 and 5 layers)."""
    with torch.device("meta"):  # no memory: the full generator has 279M parameters
        full, light = UGATIT(), UGATIT(light=True)
    assert n_params(full.gen_a2b) == n_params(full.gen_b2a) == 278_959_808
    assert n_params(full.gen_a2b.mlp[0]) == 268_435_456  # (256/4)² · 256 · 256: why the light model exists
    assert n_params(light.gen_a2b) == 10_589_888
    assert n_params(full.disc_global_a) == n_params(full.disc_global_b) == 53_130_176
    assert n_params(full.disc_local_a) == n_params(full.disc_local_b) == 3_290_560
    assert n_params(full) == 670_761_088 and n_params(light) == 134_021_248


@pytest.mark.parametrize("light", [False, True])
def test_official_weights_give_the_official_outputs(light):
    cfg = dict(TINY, light=light)
    nets = official_nets(cfg)
    model = from_official("ugatit", **{k: v.state_dict() for k, v in nets.items()})  # options read from the keys
    for option in ("input_nc", "ngf", "ndf", "n_res", "light", "n_layers_global", "n_layers_local"):
        assert model.hparams[option] == cfg[option], option
    assert model.hparams.img_size == 32 or light  # the light model's keys do not tell the size
    x = images(3)
    # Train mode first: spectral norm's power iteration updates u, v (the same hook in both); eval mode then uses them.
    for train in (True, False):
        for name, attr in UGATIT.official_networks.items():
            ref, ours = nets[name].train(train), getattr(model, attr).train(train)
            for r, o in zip(ref(x), ours(x)):
                torch.testing.assert_close(o, r, rtol=1e-5, atol=1e-5 * float(r.abs().max()))
    assert torch.equal(model(x, "b2a"), model.gen_b2a(x)[0])


def test_official_key_layout_round_trips(tmp_path):
    model = UGATIT(**TINY).eval()
    nets = official_nets(TINY)
    official = to_official(model)
    assert set(official) == set(UGATIT.official_networks)
    for name, sd in official.items():
        assert sorted(sd) == sorted(nets[name].state_dict()), name  # the official keys, no more, no fewer
        assert sd.keys() == UGATIT.ours_to_official(name, UGATIT.official_to_ours(name, sd)).keys()
    # The official checkpoint file: one dict of the six state dicts (UGATIT.save), read back as the docs say.
    torch.save(official, tmp_path / "selfie2anime_params_0001000.pt")
    again = from_official("ugatit", **torch.load(tmp_path / "selfie2anime_params_0001000.pt", weights_only=True))
    x = images(2)
    assert torch.equal(again(x), model(x)) and torch.equal(again(x, "b2a"), model(x, "b2a"))


@pytest.mark.parametrize("light", [False, True])
def test_official_checkpoint_file_loads_with_load_model(tmp_path, light):
    """The official UGATIT.save() file: ONE dict of the six networks' state dicts in the official key layout, named
    <dataset>_params_<iteration>.pt. load_model reads it whole (weights_only) and gives the official outputs."""
    cfg = dict(TINY, light=light)
    nets = official_nets(cfg)
    path = tmp_path / "selfie2anime_params_0001000.pt"
    torch.save({name: net.state_dict() for name, net in nets.items()}, path)  # as the official save() does
    model = load_model(path, model="ugatit", **({"img_size": 32} if light else {}))
    assert not model.training and model.hparams.light == light and model.hparams.n_res == cfg["n_res"]
    x = images(3)
    for name, attr in UGATIT.official_networks.items():
        for r, o in zip(nets[name].eval()(x), getattr(model, attr)(x)):
            torch.testing.assert_close(o, r, rtol=1e-5, atol=1e-5 * float(r.abs().max()))
    torch.testing.assert_close(model(x), nets["genA2B"](x)[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(model(x, "b2a"), nets["genB2A"](x)[0], rtol=1e-5, atol=1e-5)


def test_official_options_contradicting_the_weights_name_the_option():
    sd = official_nets(TINY)["genA2B"].state_dict()
    with pytest.raises(OfficialWeightsError, match="n_res=2"):
        from_official("ugatit", genA2B=sd, n_res=4)
    with pytest.raises(OfficialWeightsError, match="img_size=32"):
        from_official("u-gat-it", genA2B=sd, img_size=64)
    with pytest.raises(OfficialWeightsError, match="not a U-GAT-IT generator"):
        from_official("ugatit", genA2B={"weight": torch.zeros(1)})


class EvalDiscriminators(L.Callback):
    """Spectral norm without power iterations: our D step runs one per discriminator, the official two."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        for m in pl_module.param_groups()["D"]:
            m.eval()


def test_training_iterations_equal_the_official_algorithm():
    """Three iterations of the official UGATIT.train() loop (D step with its own generator calls, then the G step with
    six generator calls, ρ clipping, linear LR decay after iteration // 2) against our training_step."""
    cfg, iterations = dict(TINY, light=False), 4
    nets = official_nets(cfg)
    model = UGATIT(**cfg, n_iterations=iterations)
    for name, attr in UGATIT.official_networks.items():
        getattr(model, attr).load_state_dict(UGATIT.official_to_ours(name, nets[name].state_dict()))
    a, b = images(1, seed=2), images(1, seed=3)

    g_a2b, g_b2a, d_ga, d_gb, d_la, d_lb = nets.values()
    adam = dict(lr=1e-4, betas=(0.5, 0.999), weight_decay=1e-4)
    opt_g = torch.optim.Adam(itertools.chain(g_a2b.parameters(), g_b2a.parameters()), **adam)
    opt_d = torch.optim.Adam(itertools.chain(*(d.parameters() for d in (d_ga, d_gb, d_la, d_lb))), **adam)

    def mse(x, t):
        return F.mse_loss(x, torch.full_like(x, t))

    def bce(x, t):
        return F.binary_cross_entropy_with_logits(x, torch.full_like(x, t))

    for d in (d_ga, d_gb, d_la, d_lb):
        d.eval()
    for step in range(1, 4):
        if step > iterations // 2:
            for opt in (opt_g, opt_d):
                opt.param_groups[0]["lr"] -= 1e-4 / (iterations // 2)
        opt_d.zero_grad()
        fake_b, fake_a = g_a2b(a)[0], g_b2a(b)[0]
        loss_d = 0
        for d, real, fake in ((d_ga, a, fake_a), (d_la, a, fake_a), (d_gb, b, fake_b), (d_lb, b, fake_b)):
            (rl, rc, _), (fl, fc, _) = d(real), d(fake)
            loss_d = loss_d + mse(rl, 1) + mse(fl, 0) + mse(rc, 1) + mse(fc, 0)
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        (fake_b, cam_ab, _), (fake_a, cam_ba, _) = g_a2b(a), g_b2a(b)
        (idt_a, cam_aa, _), (idt_b, cam_bb, _) = g_b2a(a), g_a2b(b)
        loss_g = 10 * (F.l1_loss(g_b2a(fake_b)[0], a) + F.l1_loss(g_a2b(fake_a)[0], b))
        loss_g = loss_g + 10 * (F.l1_loss(idt_a, a) + F.l1_loss(idt_b, b))
        loss_g = loss_g + 1000 * (bce(cam_ba, 1) + bce(cam_aa, 0) + bce(cam_ab, 1) + bce(cam_bb, 0))
        for d, fake in ((d_ga, fake_a), (d_la, fake_a), (d_gb, fake_b), (d_lb, fake_b)):
            logit, cam, _ = d(fake)
            loss_g = loss_g + mse(logit, 1) + mse(cam, 1)
        loss_g.backward()
        opt_g.step()
        for g in (g_a2b, g_b2a):
            for m in g.modules():
                if hasattr(m, "rho"):
                    m.rho.data.clamp_(0, 1)

    loader = DataLoader([{"A": a[0], "B": b[0], "A_path": "a", "B_path": "b"}] * 3, batch_size=1)
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[EvalDiscriminators()],
    )  # fmt: skip
    trainer.fit(model, loader)
    for name, attr in UGATIT.official_networks.items():
        ref = UGATIT.official_to_ours(name, nets[name].state_dict())
        for key, value in getattr(model, attr).state_dict().items():
            torch.testing.assert_close(value, ref[key], rtol=0, atol=2e-5, msg=f"{name} {key}")
    # The official code would set lr = 0 before its 4th iteration; ours holds the next iteration's lr too.
    assert [opt.param_groups[0]["lr"] for opt in model.optimizers()] == [0.0, 0.0]


def test_learning_rate_is_constant_for_half_the_iterations_then_decays_linearly_to_zero():
    model = UGATIT(**{**UGATIT.tiny_config, "n_iterations": 8})
    (opt_g, opt_d), schedulers = model.configure_optimizers()
    assert opt_g.defaults["weight_decay"] == opt_d.defaults["weight_decay"] == 1e-4
    assert opt_g.defaults["betas"] == (0.5, 0.999) and opt_g.defaults["lr"] == 1e-4
    used = []
    for _ in range(8):
        used.append(round(opt_g.param_groups[0]["lr"] / 1e-4, 6))
        for s in schedulers:
            s.step()
    # official: before iteration s > 4, lr -= 1e-4 / 4
    assert used == [1, 1, 1, 1, 0.75, 0.5, 0.25, 0.0]
    with pytest.raises(ValueError, match="decay_flag"):
        UGATIT(**UGATIT.tiny_config, lr_policy="linear")
    epochs = UGATIT(**UGATIT.tiny_config, decay_flag=False, lr_policy="linear", n_epochs=1, n_epochs_decay=1)
    (opt, _), (sch, _) = epochs.configure_optimizers()
    sch.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5e-4)  # the base class's epoch policy


def test_fused_adam_of_the_recipes_gives_the_plain_update(tmp_path):
    """The recipes' ``fused: true`` (one fused kernel, weight decay included) against PyTorch's default Adam."""
    batch = [{"A": x, "B": y, "A_path": "a", "B_path": "b"} for x, y in zip(images(2), images(2, seed=5))]
    states = []
    for fused in (None, True):
        torch.manual_seed(0)
        model = UGATIT(**TINY, fused=fused)
        trainer = L.Trainer(
            accelerator="cpu", max_steps=4, logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, default_root_dir=tmp_path,
        )  # fmt: skip
        trainer.fit(model, DataLoader(batch, batch_size=1))
        states.append(model.state_dict())
    for key, value in states[0].items():
        torch.testing.assert_close(states[1][key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_resumed_training_continues_exactly_with_the_per_iteration_schedule(tmp_path):
    """4 iterations straight vs 2 + resume from a checkpoint + 2: the LR decays over iterations 3 and 4."""
    data = [{"A": x, "B": y, "A_path": "a", "B_path": "b"} for x, y in zip(images(4), images(4, seed=5))]

    def fit(max_steps: int, ckpt: str | None = None) -> tuple[UGATIT, L.Trainer]:
        torch.manual_seed(0)
        model = UGATIT(**UGATIT.tiny_config, n_iterations=4)
        trainer = L.Trainer(
            accelerator="cpu", max_steps=max_steps, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
        )  # fmt: skip
        trainer.fit(model, DataLoader(data, batch_size=2), ckpt_path=ckpt)  # 2 iterations per epoch
        return model, trainer

    straight, _ = fit(8)  # Lightning counts 2 optimiser steps per iteration
    _, first = fit(4)
    first.save_checkpoint(tmp_path / "half.ckpt")
    resumed, _ = fit(8, str(tmp_path / "half.ckpt"))
    for (key, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), key
    assert resumed.optimizers()[0].param_groups[0]["lr"] == 0.0


def test_rho_is_clipped_to_the_unit_interval_after_the_generator_step(tmp_path):
    model = UGATIT(**UGATIT.tiny_config, lr=0.3)  # one Adam step moves every ρ by ~0.3: 0 -> -0.3, 0.9 -> 1.2
    loader = DataLoader([{"A": x, "B": y, "A_path": "a", "B_path": "b"} for x, y in zip(images(4), images(4, seed=5))])
    trainer = L.Trainer(
        accelerator="cpu", max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(model, loader)
    rhos = torch.cat([p.flatten() for n, p in model.named_parameters() if n.endswith("rho")])
    assert rhos.min() == 0 and rhos.max() == 1 and ((rhos > 0) & (rhos < 1)).any()
    gen = UGATITGenerator(1, 1, 4, 1, 16, light=True)
    with torch.no_grad():
        for n, p in gen.named_parameters():
            if n.endswith("rho"):
                p.uniform_(-2, 3)
    clip_rho_(gen)
    assert all(0 <= p.min() and p.max() <= 1 for n, p in gen.named_parameters() if n.endswith("rho"))


def test_visuals_show_attention_heatmaps_next_to_each_image():
    model = UGATIT(**UGATIT.tiny_config).eval()
    x = images(3)
    rows = model.visuals({"A": x, "B": images(3, seed=4)})
    assert len(rows) == 2 and all(len(r) == 7 for r in rows)
    for row in rows:
        for heat in row[1::2]:  # x | heat, G(x) | ...: every second column is a colour heatmap
            assert heat.shape == (3, 3, 32, 32) and heat.min() >= -1 and heat.max() <= 1
            assert heat.amax((1, 2, 3)).gt(0.9).all()  # min-max scaled: the hottest place is red
    torch.testing.assert_close(rows[0][4], model(x))


def test_full_model_takes_only_its_training_size_and_inference_returns_the_image():
    model = UGATIT(**TINY).eval()  # light=False
    spec = model.inference_spec(direction="b2a")
    assert spec.size_multiple == 32 and spec.input_nc == 1 and model.inference_size == (32, 32)
    x = images(2)
    torch.testing.assert_close(spec.module(x), model(x, direction="b2a"))
    with pytest.raises(ValueError, match="takes 32x32 images"):
        model(images(1, size=64))
    light = UGATIT(**UGATIT.tiny_config).eval()
    assert light.inference_spec().size_multiple == 4 and light(images(1, size=48)).shape == (1, 1, 48, 48)


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="input_nc == output_nc"):
        UGATIT(**{**UGATIT.tiny_config, "output_nc": 3})
    with pytest.raises(ValueError, match="default initialisation"):
        UGATIT(**UGATIT.tiny_config, init_type="normal")
    with pytest.raises(ValueError, match="multiple of 4"):
        UGATIT(**{**TINY, "img_size": 30})


def test_quickstart_recipe_runs_end_to_end(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    exe = Path(sys.executable).with_name("lightning")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "translation_zoo.cli"]
    args = ["fit", "--config", str(ROOT / "recipes" / "quickstart_ugatit_digits.yaml"), "--trainer.max_epochs=1"]
    args += ["--data.init_args.max_dataset_size=16", "--trainer.num_sanity_val_steps=0"]
    out = subprocess.run([*cmd, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs" / "quickstart_ugatit").iterdir()
    metrics = (run_dir / "metrics.csv").read_text()
    assert "val/fid_digits_uci" in metrics and "val/acc_digits_uci" in metrics and "val/cyc_a" in metrics
    assert "train/g_cam_a_epoch" in metrics and "train/d_global_a_epoch" in metrics
    assert list((run_dir / "images").glob("*.png"))
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert state["global_step"] == 4  # 16 digits in batches of 8: a D and a G step each


def _load_benchmark(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------------------- slow
@pytest.mark.slow
def test_ugatit_learns_mnist_to_uci_digits():
    """MNIST -> UCI: G(a) is closer to real UCI digits than the untranslated MNIST digits (FID in the UCI classifier's
    feature space) and keeps a's digit far above chance (that classifier's accuracy w.r.t. a's label)."""
    torch.set_num_threads(2)
    # Paper settings at a CPU scale: 32x32 grey, ngf = ndf = 16, 2 residual blocks, D with 5 and 3 layers,
    # 100 iterations of batch 8, the learning rate decayed linearly over the second half.
    r = _load_benchmark("ugatit_digits").train_and_score(iterations=100, seed=0)
    print(f"\nU-GAT-IT mnist_uci: {r}")
    assert r["fid_before"] > r["fid_identity"] and r["acc_before"] < 0.15, r  # chance: 0.1
    assert r["fid_after"] < 0.5 * r["fid_identity"], r  # better than no translation
    assert r["acc_after"] > 0.2, r


def test_official_checkpoint_file_loads_with_from_official(tmp_path):
    """from_official takes the official single file as its checkpoint argument (hub.read_checkpoint)."""
    nets = official_nets(TINY)
    path = tmp_path / "selfie2anime_params_latest.pt"
    torch.save({name: net.state_dict() for name, net in nets.items()}, path)
    model = from_official("ugatit", path)
    x = images(2)
    torch.testing.assert_close(model(x), nets["genA2B"].eval()(x)[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(model(x, "b2a"), nets["genB2A"].eval()(x)[0], rtol=1e-5, atol=1e-5)
    with pytest.raises(OfficialWeightsError, match="n_res=2"):  # options are checked against the file's weights
        from_official("ugatit", path, n_res=3)
    with pytest.raises(OfficialWeightsError, match="several networks"):  # one network's state dict is not one
        from_official("ugatit", nets["genA2B"].state_dict())
    torch.save({"G_A": nets["genA2B"].state_dict()}, tmp_path / "other.pt")
    with pytest.raises(OfficialWeightsError, match="not networks of ugatit"):
        from_official("ugatit", tmp_path / "other.pt")
