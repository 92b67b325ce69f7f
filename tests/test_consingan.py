"""ConSinGAN (translation_zoo/models/consingan.py) and the blocks it shares with SinGAN (nn/single_image.py).

What the zoo-wide tests (test_zoo.py, test_resume.py, ...) do not pin: the official networks (parameter counts and
keys) and the official "improved rescaling" pyramid, the concurrent training of the last ``train_depth`` blocks of
the one growing generator with their scaled learning rates and the learning-rate drop, frozen lower blocks, a new
stage starting from the previous block and critic, the noise amplitude from the stage's first reconstruction, exact
resume in the middle of a stage, samples of any size, reference injection, the harmonisation mode, and the
quickstart recipe end to end through the CLI. Tiny settings throughout (24-32 px, 8 channels, 2 layers per block).
"""

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
import torch.nn.functional as F
import yaml

from translation_zoo.data.single import DemoSingleImageDataModule
from translation_zoo.models.consingan import ConSinGAN, GrowingGenerator, harmonization_augment, pyramid

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "recipes" / "quickstart_consingan_immunohistochemistry.yaml"
OFFICIAL = ROOT / "recipes" / "consingan_angkorwat.yaml"

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# 24x24 photo, coarsest stage 12 px, 3 stages of 2 iterations each.
TINY = {"nfc": 8, "num_layer": 2, "min_size": 12, "train_stages": 3, "niter": 2, "d_steps": 2, "g_steps": 2}


def tiny(**kw) -> ConSinGAN:
    torch.manual_seed(0)
    return ConSinGAN(**{**TINY, **kw})


def demo(size: int = 24, steps: int = 2) -> DemoSingleImageDataModule:
    return DemoSingleImageDataModule(size=size, steps_per_epoch=steps)


def fit(model: ConSinGAN, dm, tmp_path: Path, callbacks=(), ckpt_path=None) -> L.Trainer:
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=list(callbacks),
    )
    trainer.fit(model, datamodule=dm, ckpt_path=ckpt_path)
    return trainer


def image_tensor(size: int) -> torch.Tensor:
    dm = demo(size)
    dm.setup("fit")
    return dm.image[None]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> ConSinGAN:
    """The tiny model trained through every stage (shared by the inference tests)."""
    L.seed_everything(0, verbose=False)
    model = tiny()
    fit(model, demo(), tmp_path_factory.mktemp("trained"))
    return model.eval()


# ------------------------------------------------------------------------------------------- faithfulness
# Parameter counts of the official networks (tohinz/ConSinGAN, ConSinGAN/models.py: GrowingGenerator after
# init_next_stage() k times, and Discriminator), built from the official options (config.py defaults: nfc 64,
# ker_size 3, padd_size 0, num_layer 3, lrelu) and summing p.numel() over .parameters().
OFFICIAL_COUNTS = {  # (options) -> (G with 1, 2, ..., 6 stages), D
    (): ((114_307, 225_091, 335_875, 446_659, 557_443, 668_227), 113_153),
    (("nc_im", 1),): ((112_001, 222_785, 333_569, 444_353, 555_137, 665_921), 112_001),
    (("batch_norm", True),): ((114_819, 225_987, 337_155, 448_323, 559_491, 670_659), 113_153),
    (("nfc", 8), ("num_layer", 2)): ((1_611, 2_779, 3_947, 5_115, 6_283, 7_451), 1_465),
}


@pytest.mark.parametrize("options", sorted(OFFICIAL_COUNTS), ids=str)
def test_parameter_counts_and_keys_equal_the_official_networks(options):
    model = ConSinGAN(image_size=(250, 250), **dict(options))
    gens, n_disc = OFFICIAL_COUNTS[options]
    counts = [sum(p.numel() for p in model.gen.parameters())]
    for _ in range(5):
        model._add_stage()
        counts.append(sum(p.numel() for p in model.gen.parameters()))
    assert tuple(counts) == gens
    # D's tail bias is a constant buffer here (a Wasserstein critic's bias gets no gradient), a parameter there.
    assert sum(p.numel() for p in model.disc.parameters()) + model.disc.tail.bias.numel() == n_disc
    layers = model.hparams.num_layer
    blocks = ["head"] + [f"body.{s}.block{i}" for s in range(6) for i in range(layers)]
    keys = {f"{b}.conv.{k}" for b in blocks for k in ("weight", "bias")} | {"tail.0.weight", "tail.0.bias"}
    if model.hparams.batch_norm:
        keys |= {f"{b}.norm.{k}" for b in blocks for k in ("weight", "bias", "running_mean", "running_var")}
        keys |= {f"{b}.norm.num_batches_tracked" for b in blocks}
    assert set(model.gen.state_dict()) == keys
    disc_blocks = ["head"] + [f"body.block{i}" for i in range(layers)]
    assert set(model.disc.state_dict()) == {
        *(f"{b}.conv.{k}" for b in disc_blocks for k in ("weight", "bias")),
        "tail.weight",
        "tail.bias",
    }


# Pyramids of the official code (functions.adjust_scales2image + create_reals_pyramid with the official imresize),
# run on random images of these sizes: ((H, W), min_size, train_stages, mode) -> (r, sizes). "generation" uses the
# improved rescaling, "harmonization" the geometric one.
OFFICIAL_PYRAMIDS = {
    ((24, 24), 12, 3, "generation"): (0.7071067811865476, ((13, 13), (17, 17), (24, 24))),
    ((32, 32), 12, 3, "generation"): (0.6123724356957945, ((12, 12), (20, 20), (32, 32))),
    ((48, 48), 16, 4, "generation"): (0.6933612743506347, ((16, 16), (21, 21), (34, 34), (48, 48))),
    ((48, 32), 16, 5, "generation"): (0.8408964152537145, ((24, 16), (27, 18), (32, 21), (41, 27), (48, 32))),
    ((64, 64), 25, 6, "generation"): (
        0.8286135043349967,
        ((25, 25), (28, 28), (32, 32), (39, 39), (54, 54), (64, 64)),
    ),
    ((512, 512), 25, 6, "generation"): (
        0.6309573444801932,
        ((25, 25), (33, 33), (45, 45), (72, 72), (158, 158), (250, 250)),
    ),
    ((300, 200), 25, 6, "generation"): (
        0.6839820547087236,
        ((38, 25), (47, 31), (61, 41), (89, 60), (171, 115), (250, 167)),
    ),
    ((183, 276), 25, 6, "generation"): (
        0.6848041508982902,
        ((26, 38), (31, 47), (41, 61), (60, 90), (114, 172), (166, 250)),
    ),
    ((183, 276), 25, 7, "generation"): (
        0.729410459690082,
        ((26, 38), (30, 45), (36, 54), (47, 70), (66, 100), (122, 183), (166, 250)),
    ),
    ((300, 400), 120, 3, "harmonization"): (0.7989354619369612, ((120, 160), (151, 200), (188, 250))),
    ((64, 48), 25, 6, "harmonization"): (
        0.8776871788066318,
        ((34, 25), (38, 29), (44, 33), (50, 37), (57, 43), (64, 48)),
    ),
}


@pytest.mark.parametrize("case", sorted(OFFICIAL_PYRAMIDS), ids=str)
def test_pyramid_equals_the_official(case):
    (h, w), min_size, stages, mode = case
    factor, sizes = OFFICIAL_PYRAMIDS[case]
    geo = pyramid(h, w, min_size, 250, stages, "geometric" if mode == "harmonization" else "improved")
    assert geo.scale_factor == factor and geo.sizes == sizes
    if max(h, w) <= 64:  # the real pyramid the model trains on has these sizes too
        model = ConSinGAN(image_size=(h, w), min_size=min_size, train_stages=stages, train_mode=mode)
        reals = model.reals(torch.rand(1, 3, h, w) * 2 - 1)
        assert tuple(tuple(r.shape[-2:]) for r in reals) == sizes


def test_improved_rescaling_has_more_low_resolution_stages_than_the_geometric():
    improved, geometric = pyramid(250, 250), pyramid(250, 250, rescaling="geometric")
    assert improved.sizes[0] == geometric.sizes[0] == (25, 25) and improved.sizes[-1] == (250, 250)
    assert all(a[0] <= b[0] for a, b in zip(improved.sizes, geometric.sizes))
    assert sum(h < 100 for h, _ in improved.sizes) > sum(h < 100 for h, _ in geometric.sizes)


def test_bad_options_are_refused_with_the_reason():
    with pytest.raises(ValueError, match=r"20x30.*min_size=25"):
        pyramid(20, 30)
    with pytest.raises(ValueError, match="train_stages >= 3"):
        ConSinGAN(train_stages=2)
    with pytest.raises(ValueError, match="train_mode must be one of"):
        ConSinGAN(train_mode="editing")
    with pytest.raises(ValueError, match="schedules its learning rates per stage itself"):
        ConSinGAN(lr_scheduler="cosine")


def test_generation_mode_feeds_larger_noise_and_keeps_the_stage_size():
    """Generation: the features entering stage n are upsampled 2·num_layer px larger than it (noise added there) and
    the unpadded block brings them back (official border diversity); retarget pads instead."""
    for mode, grow in (("generation", 4), ("retarget", 0)):
        model = tiny(image_size=(32, 32), train_mode=mode)
        model._add_stage()
        sizes = list(model.geometry.sizes)
        assert model._noise_shape(1, sizes[1]) == (8, sizes[1][0] + grow, sizes[1][1] + grow)
        assert model._noise_shape(0, sizes[0]) == (3, *sizes[0])
        noises = [model._noise(2, s, sizes[s]) for s in range(2)]
        out = model.gen(noises, sizes, torch.tensor([1.0, 0.1]))
        assert out.shape == (2, 3, *sizes[1])
        assert isinstance(model.gen, GrowingGenerator) and len(model.gen.body) == 2


# --------------------------------------------------------------------------------------------- training
class Snapshots(L.Callback):
    """After every batch: the state dict and the G optimiser's groups (parameter ids, learning rate)."""

    def __init__(self) -> None:
        self.states: list[dict[str, torch.Tensor]] = []
        self.g_groups: list[list[tuple[set[int], float]]] = []
        self.d_lrs: list[list[float]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.states.append({k: v.detach().clone() for k, v in pl_module.state_dict().items()})
        opt_g, opt_d = trainer.optimizers
        self.g_groups.append([({id(p) for p in g["params"]}, g["lr"]) for g in opt_g.param_groups])
        self.d_lrs.append([g["lr"] for g in opt_d.param_groups])


def test_concurrent_training_of_the_last_blocks_with_scaled_learning_rates(tmp_path):
    """Paper §3.1: the last train_depth blocks train together, lower ones with lr_g · lr_scale^k, the head only while
    the stage is below train_depth (lr_g · lr_scale^stage), the tail always with lr_g; blocks below are frozen; both
    rates × gamma from 0.8 · niter on; the model stops by itself after its last stage."""
    niter, stages, depth, lr, scale = 5, 4, 2, 5e-4, 0.1
    L.seed_everything(0, verbose=False)
    model, snaps = tiny(niter=niter, train_stages=stages, train_depth=depth), Snapshots()
    trainer = fit(model, demo(32, niter), tmp_path, [snaps])
    assert model.finished and model.num_stages == stages and len(snaps.states) == stages * niter
    assert trainer.global_step == stages * niter * (TINY["d_steps"] + TINY["g_steps"])
    gen = model.gen
    ids = {
        "head": {id(p) for p in gen.head.parameters()},
        "tail": {id(p) for p in gen.tail.parameters()},
        **{i: {id(p) for p in b.parameters()} for i, b in enumerate(gen.body)},
    }
    for stage in range(stages):
        for it in range(niter):
            decay = 0.1 if it >= 0.8 * niter else 1.0  # MultiStepLR(milestones=[0.8 * niter], gamma=0.1)
            trained = list(range(max(0, stage + 1 - depth), stage + 1))
            expected = [(ids[i], lr * scale ** (stage - i) * decay) for i in trained]
            if stage < depth:
                expected.append((ids["head"], lr * scale**stage * decay))
            expected.append((ids["tail"], lr * decay))
            got = snaps.g_groups[stage * niter + it]
            assert [g for g, _ in got] == [g for g, _ in expected], (stage, it)
            assert [r for _, r in got] == pytest.approx([r for _, r in expected], rel=1e-12), (stage, it)
            assert snaps.d_lrs[stage * niter + it] == pytest.approx([lr * decay], rel=1e-12)
        # What trained in this stage moved; what is frozen did not.
        start = snaps.states[stage * niter - 1] if stage else None
        end = snaps.states[(stage + 1) * niter - 1]
        if start is not None:
            for i in range(stage):  # blocks that existed when the stage began
                moved = not torch.equal(
                    start[f"gen.body.{i}.block0.conv.weight"], end[f"gen.body.{i}.block0.conv.weight"]
                )
                assert moved == (i >= stage + 1 - depth), (stage, i)
            head_moved = not torch.equal(start["gen.head.conv.weight"], end["gen.head.conv.weight"])
            assert head_moved == (stage < depth), stage
            assert not torch.equal(start["gen.tail.0.weight"], end["gen.tail.0.weight"])
    for i, block in enumerate(gen.body):
        assert all(p.requires_grad == (i >= stages - depth) for p in block.parameters())
    assert not any(p.requires_grad for p in gen.head.parameters())


def test_a_new_stage_starts_from_the_last_block_and_critic():
    model = tiny(image_size=(24, 24))
    with torch.no_grad():
        for p in [*model.gen.parameters(), *model.disc.parameters()]:
            p.add_(torch.randn_like(p))  # "trained"
    disc_before = {k: v.clone() for k, v in model.disc.state_dict().items()}
    model._add_stage()
    a, b = model.gen.body[0].state_dict(), model.gen.body[1].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a) and model.gen.body[0] is not model.gen.body[1]
    assert all(torch.equal(v, model.disc.state_dict()[k]) for k, v in disc_before.items())
    assert int(model.stage_iter) == 0 and model.noise_amps.tolist() == [0.0, 0.0]


def test_noise_amplitude_is_a_tenth_of_the_first_reconstruction_rmse(tmp_path):
    L.seed_everything(0, verbose=False)
    model, snaps = tiny(niter=2), Snapshots()
    fit(model, demo(24, 2), tmp_path, [snaps])
    assert model.noise_amps[0] == 1.0 and torch.equal(model.z_opt0, model.reals(image_tensor(24))[0])
    reals = model.reals(image_tensor(24))
    sizes = list(model.geometry.sizes)
    for n in range(1, model.num_stages):
        # The generator as it was when stage n began: stage n - 1's final weights, the new block a copy.
        before = tiny(image_size=(24, 24))
        for _ in range(n - 1):
            before._add_stage()
        before.load_state_dict(snaps.states[n * 2 - 1])
        before._add_stage()
        amps = model.noise_amps[: n + 1].clone()
        amps[n] = 0.0
        with torch.no_grad():
            rec = before.gen([getattr(model, f"z_opt{i}") for i in range(n + 1)], sizes, amps)
        expected = 0.1 * torch.sqrt(F.mse_loss(rec, reals[n]))
        torch.testing.assert_close(model.noise_amps[n], expected, rtol=1e-5, atol=1e-7)
        assert model.noise_amps[n] > 0


def test_resume_in_the_middle_of_a_stage_is_exact(tmp_path):
    ckpt = tmp_path / "mid.ckpt"

    class SaveAt(L.Callback):
        seen = 0

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            self.seen += 1
            if self.seen == 5:  # stage 1 after 2 of its 3 iterations
                trainer.save_checkpoint(ckpt)

    L.seed_everything(0, verbose=False)
    ref = tiny(niter=3)
    fit(ref, demo(24, 3), tmp_path / "ref", [SaveAt()])
    mid = torch.load(ckpt, weights_only=True)["state_dict"]
    assert (
        int(mid["stage_iter"]) == 2
        and "gen.body.1.block0.conv.weight" in mid
        and "gen.body.2.block0.conv.weight" not in mid
    )

    L.seed_everything(123, verbose=False)  # the checkpoint's RNG states must win over whatever the process has
    resumed = tiny(niter=3)
    fit(resumed, demo(24, 3), tmp_path / "resumed", ckpt_path=ckpt)
    a, b = ref.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different


def test_harmonization_mode_trains_on_augmented_coarsest_images(tmp_path):
    torch.manual_seed(0)
    image = image_tensor(32)
    augmented = [harmonization_augment(image) for _ in range(20)]
    assert all(a.shape == image.shape and a.abs().max() <= 1 for a in augmented)
    assert sum(not torch.equal(a, image) for a in augmented) >= 10  # cut-out with p = 0.9, colour changes p = 0.25
    L.seed_everything(0, verbose=False)
    model = tiny(train_mode="harmonization", batch_norm=True, lrelu_alpha=0.3)
    fit(model, demo(24, 2), tmp_path)
    assert model.finished and model.geometry.sizes == pyramid(24, 24, 12, 250, 3, "geometric").sizes
    naive = image_tensor(24).flip(-1)
    out = model.sample(reference=naive)
    assert out.shape == (1, 3, 24, 24) and torch.isfinite(out).all()
    assert torch.equal(out, model.sample(reference=naive))  # every stage takes its fixed input: deterministic


# -------------------------------------------------------------------------------------------- inference
def test_samples_any_number_size_and_aspect(trained):
    h, w = trained.geometry.sizes[-1]
    samples = trained.sample(3)
    assert samples.shape == (3, 3, h, w) and samples.abs().max() <= 1
    assert not torch.equal(samples[0], samples[1])  # random
    wide = trained.sample(2, scale_v=1.0, scale_h=2.0)
    tall = trained.sample(1, scale_v=1.5, scale_h=0.75)
    assert wide.shape == (2, 3, h, 2 * w) and tall.shape == (1, 3, int(1.5 * h), int(0.75 * w))
    assert torch.isfinite(wide).all() and torch.isfinite(tall).all()


def test_start_scale_keeps_the_coarse_layout_of_the_reconstruction(trained):
    top = trained.num_stages
    rec = trained.reconstruct()
    assert rec.shape == (1, 3, 24, 24) and torch.equal(rec, trained.reconstruct())  # fixed inputs: deterministic
    with torch.no_grad():
        assert torch.equal(trained(1, start_scale=top), rec)
    torch.manual_seed(1)
    late = trained.sample(8, start_scale=top - 1)
    torch.manual_seed(1)
    early = trained.sample(8, start_scale=0)
    assert (late - rec).abs().mean() < (early - rec).abs().mean()
    with pytest.raises(ValueError, match="training layout"):
        trained.sample(1, start_scale=1, scale_h=2.0)


def test_reference_replaces_the_coarsest_input(trained):
    ref_a, ref_b = image_tensor(24), image_tensor(24).flip(-1)
    out_a, out_b = trained.sample(2, reference=ref_a), trained.sample(1, reference=ref_b)
    assert out_a.shape == (2, 3, 24, 24) and torch.equal(out_a[0], out_a[1])  # fixed inputs above stage 0
    assert not torch.equal(out_a[:1], out_b)
    # Any size of reference is resized to the coarsest stage; start_scale 1: noise from stage 1 on.
    other = trained.sample(2, reference=F.interpolate(ref_a, size=(30, 40)), start_scale=1)
    assert other.shape == (2, 3, 24, 24) and not torch.equal(other[0], other[1])


# --------------------------------------------------------------------------------------------- recipes
def test_official_recipe_sets_only_the_official_options():
    cfg = yaml.safe_load(OFFICIAL.read_text())
    assert cfg["model"]["class_path"] == "translation_zoo.models.consingan.ConSinGAN"
    assert cfg["model"].get("init_args", {}) in ({}, None)  # every model value is the official default
    assert cfg["data"]["init_args"]["url"].endswith("Images/Generation/angkorwat.jpg")
    assert cfg["data"]["init_args"]["steps_per_epoch"] == ConSinGAN().hparams.niter == 2000


@pytest.mark.skipif(not QUICKSTART.exists(), reason="the quickstart recipe is not written yet")
def test_quickstart_recipe_runs_end_to_end(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    exe = Path(sys.executable).with_name("lightning")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "translation_zoo.cli"]
    # The recipe as written, but 2 iterations per stage on a 24 px image with narrow networks.
    args = ["fit", "--config", str(QUICKSTART), "--model.init_args.niter=2", "--model.init_args.nfc=8"]
    args += ["--data.init_args.size=24", "--model.init_args.min_size=12", "--data.init_args.steps_per_epoch=2"]
    args += ["--trainer.log_every_n_steps=1"]
    args += [
        "--trainer.callbacks+=translation_zoo.callbacks.ImageGridCallback",
        "--trainer.callbacks.every_n_batches=2",
    ]
    out = subprocess.run([*cmd, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs" / "quickstart_consingan").iterdir()
    metrics = (run_dir / "metrics.csv").read_text()
    assert "train/g_rec" in metrics and "train/d_gp" in metrics and "train/stage" in metrics
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")["state_dict"]
    stages = yaml.safe_load(QUICKSTART.read_text())["model"]["init_args"].get("train_stages", 6)
    assert sum(k.startswith("gen.body.") and k.endswith("block0.conv.weight") for k in state) == stages
    assert len(list((run_dir / "images").glob("*.png"))) >= stages
    assert int(state["stage_iter"]) == 2  # every stage trained, then it stopped by itself
    assert math.isfinite(float(state["noise_amps"][-1]))

    # lightning predict: samples written as image files.
    args = ["predict", "--config", str(QUICKSTART), "--model.init_args.nfc=8", "--model.init_args.min_size=12"]
    args += ["--data.init_args.size=24", "--data.init_args.num_samples=3"]
    args += ["--ckpt_path", str(run_dir / "checkpoints" / "last.ckpt"), "--trainer.logger=false"]
    args += ["--predict_writer.output_dir=samples", "--predict_writer.conditions={start_scale: 1}"]
    out = subprocess.run([*cmd, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert len(list((tmp_path / "samples").glob("*.png"))) == 3


# ------------------------------------------------------------------------------------------- the claim
def _load_benchmark(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    run=False,
    reason=(
        "measured (benchmarks/consingan_vs_singan.py, 48 px immunohistochemistry photo, min_size 16, seeds 0 and 1, "
        "2 threads): SinGAN 6 scales x 60 iterations SIFID 0.348 in 37-52 s; ConSinGAN 4 stages x 60 SIFID 1.437 "
        "(24 s), 6 x 60 1.913 (62 s), 4 x 150 0.953 (50 s), 6 x 150 0.620 (95 s), 6 x 100 0.871 (seed 0); "
        "shuffled tiles 0.697. On a CPU budget ConSinGAN neither reaches SinGAN's SIFID nor is faster (64 channels "
        "at every stage vs SinGAN's 32 below scale 4; its lower stages learn at lr x 0.1^k): the paper's claim "
        "needs the official 2000 iterations per stage at 250 px"
    ),
)
def test_consingan_reaches_singans_sifid_with_fewer_stages_in_less_time():
    torch.set_num_threads(2)
    bench = _load_benchmark("consingan_vs_singan")
    r = bench.compare(size=48, min_size=16, niter=60, stages=(4,), seeds=(0,))
    print(f"\nConSinGAN vs SinGAN: {r}")
    con, sin = r["consingan_4_stages"], r["singan"]
    assert con["stages"] < sin["stages"] and con["train_seconds"] < sin["train_seconds"], r
    assert con["sifid"] <= 1.1 * sin["sifid"], r
