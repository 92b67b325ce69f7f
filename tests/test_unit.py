"""UNIT (Liu et al. 2017): the official networks, losses and schedule, the weight sharing, official weights; a slow
test that it learns."""

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

from translation_zoo.hub import OfficialWeightsError, from_official
from translation_zoo.models.unit import UNIT, kl_unit_variance

from conftest import make_batch

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Computed with the official mingyuliutw/UNIT networks.py (master): VAEGen(3, gen) and MsImageDis(3, dis) of
# configs/unit_edges2handbags_folder.yaml (dim 64, n_downsample 2, n_res 4; dis dim 64, n_layer 4, num_scales 3).
OFFICIAL_GEN_PARAMS = 11_140_483
OFFICIAL_ENC_PARAMS = 5_385_856
OFFICIAL_DEC_PARAMS = 5_754_627
OFFICIAL_DIS_PARAMS = 8_271_171
RES_BLOCK_PARAMS = 1_180_160  # one residual block at 256 channels


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def small(**kw) -> UNIT:
    torch.manual_seed(0)
    return UNIT(**{**UNIT.tiny_config, **kw})


# ------------------------------------------------------------------------------------------- architecture
def test_parameter_counts_equal_the_official_networks():
    m = UNIT()
    for gen in (m.gen_a, m.gen_b):
        assert n_params(gen) == OFFICIAL_GEN_PARAMS
        assert n_params(gen.enc) == OFFICIAL_ENC_PARAMS and n_params(gen.dec) == OFFICIAL_DEC_PARAMS
    assert n_params(m.dis_a) == n_params(m.dis_b) == OFFICIAL_DIS_PARAMS
    # n_shared = 1: one encoder and one decoder block are counted once in the generators' optimiser.
    distinct = sum(p.numel() for p in m._parameters_of([m.gen_a, m.gen_b]))
    assert distinct == 2 * OFFICIAL_GEN_PARAMS - 2 * RES_BLOCK_PARAMS
    m0 = UNIT(n_shared=0)
    assert sum(p.numel() for p in m0._parameters_of([m0.gen_a, m0.gen_b])) == 2 * OFFICIAL_GEN_PARAMS


def test_shared_blocks_are_one_set_of_tensors_and_stay_shared(tmp_path):
    m = small(n_res=3, n_shared=2)
    enc_a, enc_b = m.gen_a.enc.model[-1].model, m.gen_b.enc.model[-1].model
    dec_a, dec_b = m.gen_a.dec.model[0].model, m.gen_b.dec.model[0].model
    assert enc_a[0] is not enc_b[0] and enc_a[1] is enc_b[1] and enc_a[2] is enc_b[2]  # the last two
    assert dec_a[0] is dec_b[0] and dec_a[1] is dec_b[1] and dec_a[2] is not dec_b[2]  # the first two
    assert m.gen_a.enc.model[0] is not m.gen_b.enc.model[0] and m.gen_a.dec.model[-1] is not m.gen_b.dec.model[-1]
    w = enc_a[2].model[0].conv.weight
    assert w is enc_b[2].model[0].conv.weight
    # Gradients of both domains reach the one tensor: a loss through gen_b alone moves it.
    x = make_batch(m, n=2)["B"]
    m.gen_b(x).mean().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0
    # A checkpoint round trip keeps the tie (the state dict lists the tensor under both names).
    sd = m.state_dict()
    assert torch.equal(
        sd["gen_a.enc.model.3.model.2.model.0.conv.weight"], sd["gen_b.enc.model.3.model.2.model.0.conv.weight"]
    )
    m2 = small(n_res=3, n_shared=2)
    m2.load_state_dict(sd)
    assert m2.gen_a.enc.model[-1].model[2] is m2.gen_b.enc.model[-1].model[2]
    with torch.no_grad():
        m2.gen_a.enc.model[-1].model[2].model[0].conv.weight.add_(1.0)
    assert torch.equal(
        m2.gen_a.enc.model[-1].model[2].model[0].conv.weight, m2.gen_b.enc.model[-1].model[2].model[0].conv.weight
    )


def test_initialisation_is_the_official_one():
    m = UNIT(ngf=16, ndf=16, n_res=1, n_shared=0)
    conv = m.gen_a.enc.model[1].conv  # 4x4, 16 -> 32: kaiming-normal, fan_in = 16·16
    assert abs(conv.weight.std().item() - math.sqrt(2 / (16 * 16))) < 0.02 and not conv.bias.any()
    dconv = m.dis_a.cnns[0][2].conv  # 4x4, 32 -> 64: N(0, 0.02)
    assert abs(dconv.weight.std().item() - 0.02) < 0.002 and not dconv.bias.any()
    gamma = m.gen_a.dec.model[2].norm.gamma  # layer norm γ ~ U(0, 1), β = 0
    assert 0 <= gamma.min() and gamma.max() < 1 and not m.gen_a.dec.model[2].norm.beta.any()


# ----------------------------------------------------------------------------------------------- losses
def test_kl_term_is_the_official_mean_of_squares():
    mu = torch.randn(2, 8, 4, 4)
    assert torch.allclose(kl_unit_variance(mu), mu.square().mean())
    # = KL(N(μ, I) || N(0, I)) per latent dimension, times 2.
    kl = torch.distributions.kl_divergence(torch.distributions.Normal(mu, 1.0), torch.distributions.Normal(0.0, 1.0))
    assert torch.allclose(kl_unit_variance(mu), 2 * kl.mean())


def test_paper_defaults_are_the_official_config():
    hp = UNIT().hparams
    assert (hp.lambda_gan, hp.lambda_rec, hp.lambda_kl, hp.lambda_cyc, hp.lambda_kl_cyc) == (1, 10, 0.01, 10, 0.01)
    assert (hp.ngf, hp.ndf, hp.n_downsample, hp.n_res, hp.n_layers_d, hp.num_scales) == (64, 64, 2, 4, 4, 3)
    assert hp.gan_mode == "lsgan" and hp.init_type == "kaiming"
    assert (hp.lr, hp.beta1, hp.beta2, hp.weight_decay, hp.step_size, hp.gamma) == (
        1e-4,
        0.5,
        0.999,
        1e-4,
        100_000,
        0.5,
    )


class _Items(torch.utils.data.Dataset):
    def __init__(self, batch: dict, n: int) -> None:
        self.batch, self.n = batch, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return {k: v[i % len(v)] for k, v in self.batch.items()}


def _fit(model: UNIT, batch: dict, n_batches: int, tmp_path, capture: list | None = None) -> UNIT:
    if capture is not None:
        step = model._step

        def recording_step(opt, losses, prefix="train"):
            capture.append({k: v.detach().clone() for k, v in losses.items()})
            if "g_kl_a" in losses:  # the G step: check the KL terms against E(x) of this batch
                with torch.no_grad():
                    h_a = model.gen_a.encode(batch["A"])
                capture[-1]["expected_kl_a"] = model.hparams.lambda_kl * h_a.square().mean()
            return step(opt, losses, prefix)

        model._step = recording_step
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=1, limit_train_batches=n_batches, limit_val_batches=0, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(model, DataLoader(_Items(batch, 2 * n_batches), batch_size=2, shuffle=False))
    return model


def _losses(tmp_path, **kw) -> tuple[dict, dict]:
    torch.manual_seed(0)
    model = small(**kw)
    batch = make_batch(model, n=2)
    capture: list = []
    L.seed_everything(0, verbose=False)
    _fit(model, batch, 1, tmp_path, capture)
    d, g = capture
    return d, g


def test_loss_terms_and_their_weights(tmp_path):
    d, g = _losses(tmp_path)
    assert set(d) == {"d_a", "d_b"}
    expected = {"g_adv_a", "g_adv_b", "g_rec_a", "g_rec_b", "g_kl_a", "g_kl_b", "g_cyc_a", "g_cyc_b"}
    assert set(g) == expected | {"g_kl_cyc_a", "g_kl_cyc_b", "expected_kl_a"}
    torch.testing.assert_close(g["g_kl_a"], g["expected_kl_a"])  # λ1 · mean(E1(a)²)
    # Doubling one weight doubles its terms (same seed, same noise) and leaves the others alone.
    for weight, terms in (
        ("lambda_rec", ("g_rec_a", "g_rec_b")),
        ("lambda_kl", ("g_kl_a", "g_kl_b")),
        ("lambda_cyc", ("g_cyc_a", "g_cyc_b")),
        ("lambda_kl_cyc", ("g_kl_cyc_a", "g_kl_cyc_b")),
        ("lambda_gan", ("g_adv_a", "g_adv_b")),
    ):
        d2, g2 = _losses(tmp_path, **{weight: 2 * UNIT().hparams[weight]})
        for k in g:
            if k == "expected_kl_a":
                continue
            factor = 2.0 if k in terms else 1.0
            torch.testing.assert_close(g2[k], factor * g[k], msg=f"{weight}: {k}")
        for k in d:
            torch.testing.assert_close(d2[k], (2.0 if weight == "lambda_gan" else 1.0) * d[k], msg=f"{weight}: {k}")


def test_gan_loss_sums_the_scales_like_the_official_lsgan():
    m = small()
    outs = [torch.randn(2, 1, 4, 4), torch.randn(2, 1, 2, 2)]
    official_d = sum(torch.mean(o**2) for o in outs)  # calc_dis_loss, fake side
    official_g = sum(torch.mean((o - 1) ** 2) for o in outs)  # calc_gen_loss
    torch.testing.assert_close(m._gan(outs, False), official_d)
    torch.testing.assert_close(m._gan(outs, True), official_g)


# ------------------------------------------------------------------------------------- optimiser, schedule
def test_adam_with_weight_decay_and_the_official_per_iteration_step_schedule():
    m = UNIT(ngf=4, ndf=4, n_res=2, step_size=3, gamma=0.5)
    (opt_g, opt_d), schedulers = m.configure_optimizers()
    for opt in (opt_g, opt_d):
        group = opt.param_groups[0]
        assert isinstance(opt, torch.optim.Adam)
        assert (group["lr"], group["betas"], group["weight_decay"]) == (1e-4, (0.5, 0.999), 1e-4)
    assert sum(p.numel() for p in opt_g.param_groups[0]["params"]) == sum(
        p.numel() for p in m._parameters_of([m.gen_a, m.gen_b])
    )
    # The official train.py: StepLR(step_size, gamma) stepped *before* each iteration.
    ref_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    ref = torch.optim.lr_scheduler.StepLR(ref_opt, step_size=3, gamma=0.5)
    ours, official = [], []
    for _ in range(8):
        ref.step()
        official.append(ref_opt.param_groups[0]["lr"])
        ours.append(opt_g.param_groups[0]["lr"])
        schedulers[0].step()
    assert ours == pytest.approx(official)


# ------------------------------------------------------------------------------------------- bad input
def test_bad_options_and_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="n_shared"):
        UNIT(n_res=2, n_shared=3)
    with pytest.raises(ValueError, match="gan_mode"):
        UNIT(gan_mode="wgangp")
    with pytest.raises(ValueError, match="step_size"):
        UNIT(step_size=0)
    with pytest.raises(ValueError, match="step_size=None"):
        UNIT(lr_policy="linear")
    m = small().eval()
    with pytest.raises(ValueError, match="direction"):
        m(torch.zeros(1, 1, 32, 32), direction="a2a")
    with pytest.raises(ValueError, match="too small"):
        m.dis_a(torch.zeros(1, 1, 4, 4))


# ------------------------------------------------------------------------------------------ official weights
def _official_like(sd: dict, sign: float = 1.0) -> dict:
    """Deterministic weights for every floating tensor, by sorted key (as computed with the official code)."""
    out = {}
    for i, k in enumerate(sorted(sd)):
        t = torch.arange(sd[k].numel(), dtype=torch.float64)
        out[k] = (sign * 0.2 * torch.sin(0.37 * t + i)).reshape(sd[k].shape).float()
    return out


def test_official_files_load_and_give_the_official_outputs(tmp_path):
    """gen/dis files in the official layout ({"a": VAEGen, "b": VAEGen} state dicts, official key names, PyTorch 0.3
    InstanceNorm statistics included) load, and give the outputs the official networks.py gives for them."""
    ref = UNIT(input_nc=1, output_nc=1, ngf=8, ndf=8, n_res=2, n_shared=0, n_layers_d=3, num_scales=2)
    gen_sd = ref.gen_a.state_dict()
    dis_sd = ref.dis_a.state_dict()
    # The official key layout (networks.py: Conv2dBlock conv/norm, ResBlocks.model, LayerNorm gamma/beta, cnns).
    assert len(gen_sd) == 32 and len(dis_sd) == 16
    for key in (
        "enc.model.0.conv.weight",
        "enc.model.3.model.1.model.1.conv.bias",
        "dec.model.0.model.0.model.0.conv.weight",
        "dec.model.2.norm.gamma",
        "dec.model.4.norm.beta",
        "dec.model.5.conv.weight",
    ):
        assert key in gen_sd, key
    assert "cnns.1.3.weight" in dis_sd and "cnns.0.0.conv.weight" in dis_sd
    gen_a, gen_b = _official_like(gen_sd), _official_like(gen_sd, -1.0)
    gen_a["enc.model.1.norm.running_mean"] = torch.zeros(16)  # what PyTorch 0.3 saved for InstanceNorm
    gen_a["enc.model.1.norm.running_var"] = torch.ones(16)
    torch.save({"a": gen_a, "b": gen_b}, tmp_path / "gen_00001000.pt")
    torch.save({"a": _official_like(dis_sd), "b": _official_like(dis_sd)}, tmp_path / "dis_00001000.pt")

    m = UNIT.from_official_files(tmp_path / "gen_00001000.pt", tmp_path / "dis_00001000.pt")
    hp = m.hparams
    assert (hp.ngf, hp.ndf, hp.n_res, hp.n_shared, hp.n_layers_d, hp.num_scales, hp.input_nc) == (8, 8, 2, 0, 3, 2, 1)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    x = torch.cos(0.3 * xx + 0.2 * yy)[None, None]
    with torch.no_grad():
        ab, ba, d = m(x), m(x, direction="b2a"), m.dis_a(x)
    # The official networks.py (master) on the same weights and input: gen_b.dec(gen_a.enc(x)) etc.
    official = [0.042269, 0.141054, -0.131258, -0.185335]
    ours = [ab.mean().item(), ab[0, 0, 5, 7].item(), ba.mean().item(), ba[0, 0, 20, 3].item()]
    assert ours == pytest.approx(official, abs=2e-6)
    assert [o.mean().item() for o in d] == pytest.approx([-0.567001, -0.023549], abs=2e-6)

    # Written back in the official layout and read again: the same model; with shared blocks, n_shared is read back.
    shared = small(n_res=2, n_shared=1)
    again = from_official("unit", **{k: getattr(shared, k).state_dict() for k in ("gen_a", "gen_b", "dis_a", "dis_b")})
    assert again.hparams.n_shared == 1
    with pytest.raises(OfficialWeightsError, match="n_shared"):
        UNIT.from_official_files(tmp_path / "gen_00001000.pt", n_shared=1)  # independent VAEs cannot be tied
    with pytest.raises(OfficialWeightsError, match="'a'"):
        UNIT.from_official_files({"gen_a": gen_a, "gen_b": gen_b})


# ------------------------------------------------------------------------------------------------ recipes
def test_fused_adam_gives_the_plain_update(tmp_path):
    """The quickstart's fast setting (fused Adam, with the official weight decay) against the plain path."""
    models = []
    for fused in (None, True):
        models.append(small(fused=fused))
    batch = make_batch(models[0], n=2)
    trained = []
    for m in models:
        L.seed_everything(0, verbose=False)
        trained.append(_fit(m, batch, 3, tmp_path))
    # A conv bias right before an instance norm gets a zero gradient up to rounding noise (the norm subtracts it),
    # which Adam scales up to ±lr steps of random sign: those biases are left out.
    cancelled = {
        f"{name}.conv.bias"
        for name, mod in trained[0].named_modules()
        if isinstance(getattr(mod, "norm", None), torch.nn.InstanceNorm2d)
    }
    assert cancelled
    for (name, p), q in zip(trained[0].named_parameters(), trained[1].parameters()):
        if name not in cancelled:
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.skipif(
    not (ROOT / "recipes" / "quickstart_unit_digits.yaml").exists(),
    reason="recipes/quickstart_unit_digits.yaml not written yet",
)
def test_quickstart_recipe_runs_end_to_end(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    exe = Path(sys.executable).with_name("lightning")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "translation_zoo.cli"]
    args = ["fit", "--config", str(ROOT / "recipes" / "quickstart_unit_digits.yaml"), "--trainer.max_epochs=1"]
    args += ["--data.init_args.max_dataset_size=16", "--trainer.num_sanity_val_steps=0"]
    out = subprocess.run([*cmd, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs" / "quickstart_unit").iterdir()
    metrics = (run_dir / "metrics.csv").read_text()
    assert "val/fid_digits_uci" in metrics and "val/cyc_a" in metrics and "train/g_kl_cyc_a_epoch" in metrics
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert state["global_step"] == 4  # 16 digits in batches of 8: a D and a G step each


# ------------------------------------------------------------------------------------------------ learning
def _load_benchmark(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_unit_translates_mnist_into_uci_digits_and_keeps_the_digit():
    """MNIST -> UCI: G2(E1(a)) is closer to real UCI digits than a itself (FID in the UCI classifier's feature
    space) and keeps a's digit well above chance; the initialised model does neither. The quickstart's setting:
    both residual blocks shared (n_shared = 2) and lr 4e-4; with n_shared = 1 this budget gave FID 30.9 but
    accuracy 0.09 (the digit lost)."""
    torch.set_num_threads(2)
    bench = _load_benchmark("unit_digits")
    r = bench.train_and_score(iterations=ITERATIONS, seed=0, ngf=8, lr=4e-4, n_shared=2)
    print(f"\nUNIT mnist_uci: {r}")
    assert r["fid_before"] > r["fid_identity"] and r["acc_before"] < 0.2, r  # chance is 0.1
    assert r["fid_after"] < FID_RATIO * r["fid_identity"], r
    assert r["acc_after"] > ACC_MIN, r


# Measured with benchmarks/unit_digits.py (200 iterations of 8, ngf 8, lr 4e-4, n_shared 2; 51-54 s of training each):
# FID 19.6 / 32.5 / 23.6 (seeds 0 / 1 / 2) vs 66.0 for no translation, acc 0.47 / 0.58 / 0.09 (no translation 0.60,
# chance 0.1): seed 2 still loses the digit in this budget, so the claim is shown on seed 0, not for every seed.
ITERATIONS = 200
FID_RATIO = 0.75
ACC_MIN = 0.3
