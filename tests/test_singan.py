"""SinGAN (translation_zoo/models/singan.py) and the single-image data (translation_zoo/data/single.py).

What the zoo-wide tests (test_zoo.py, test_resume.py) do not pin: the official per-scale networks and pyramid, the
noise amplitude from the reconstruction error, coarse-to-fine stages that freeze finished scales and stop by
themselves, exact resume in the middle of a stage through the data module, the inference applications, the data
module's errors, and the quickstart recipe end to end. Tiny settings throughout (24-32 px images, 8 channels,
3 layers, 2-3 iterations per scale).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from translation_zoo.cli import main as cli_main
from translation_zoo.data.base import DataError
from translation_zoo.data.single import DemoSingleImageDataModule, SingleImageDataModule, demo_image
from translation_zoo.metrics.sifid import RandomConvFeatures, patch_shuffle, sifid
from translation_zoo.models.singan import SinGAN, imresize, pyramid

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "recipes" / "quickstart_singan_immunohistochemistry.yaml"

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# A tiny pyramid: a 24x24 photo, coarsest scale 12 px -> 5 scales (official arithmetic), 2 iterations each.
TINY = {"nfc": 8, "min_nfc": 8, "num_layer": 3, "min_size": 12, "niter": 2, "d_steps": 2, "g_steps": 2}


def tiny(**kw) -> SinGAN:
    torch.manual_seed(0)
    return SinGAN(**{**TINY, **kw})


def demo(size: int = 24, steps: int = 3) -> DemoSingleImageDataModule:
    return DemoSingleImageDataModule(size=size, steps_per_epoch=steps)


def fit(model: SinGAN, dm, tmp_path: Path, callbacks=(), ckpt_path=None, max_epochs: int = 100) -> L.Trainer:
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=max_epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=list(callbacks),
    )
    trainer.fit(model, datamodule=dm, ckpt_path=ckpt_path)
    return trainer


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> SinGAN:
    """The tiny pyramid trained through every scale (shared by the inference tests)."""
    L.seed_everything(0, verbose=False)
    model = tiny()
    fit(model, demo(), tmp_path_factory.mktemp("trained"))
    return model.eval()


# ------------------------------------------------------------------------------------------- faithfulness
# Parameter counts of the official networks (tamarott/SinGAN, SinGAN/models.py, GeneratorConcatSkip2CleanAdd and
# WDiscriminator), obtained by building them with the official options (nc_im 3 or 1, ker_size 3, padd_size 0,
# num_layer 5, nfc = min_nfc = min(32 * 2 ** floor(scale / 4), 128) as training.train sets them) and summing
# p.numel() over .parameters(). Widths 32 (scales 0-3), 64 (4-7), 128 (8-).
OFFICIAL_COUNTS = {  # (nc_im, scale): (G, D)
    (3, 0): (29_763, 29_185),
    (3, 4): (114_819, 113_665),
    (3, 8): (450_819, 448_513),
    (3, 12): (450_819, 448_513),
    (1, 0): (28_609, 28_609),
    (1, 4): (112_513, 112_513),
    (1, 8): (446_209, 446_209),
}


@pytest.mark.parametrize("nc_im,scale", sorted(OFFICIAL_COUNTS))
def test_parameter_counts_and_keys_equal_the_official_networks(nc_im, scale):
    model = SinGAN(image_size=(512, 512), nc_im=nc_im)  # 10 scales: the official default configuration
    gen, disc = model._networks(scale)
    n_gen = sum(p.numel() for p in gen.parameters())
    # D's tail bias is a constant buffer here (a Wasserstein critic's bias gets no gradient), a parameter there.
    n_disc = sum(p.numel() for p in disc.parameters()) + disc.tail.bias.numel()
    assert (n_gen, n_disc) == OFFICIAL_COUNTS[nc_im, scale]
    blocks = ["head", "body.block1", "body.block2", "body.block3"]
    conv_bn = [f"{b}.{k}" for b in blocks for k in ("conv.weight", "conv.bias", "norm.weight", "norm.bias")]
    stats = [f"{b}.norm.{k}" for b in blocks for k in ("running_mean", "running_var", "num_batches_tracked")]
    assert set(gen.state_dict()) == {*conv_bn, *stats, "tail.0.weight", "tail.0.bias"}
    assert set(disc.state_dict()) == {*conv_bn, *stats, "tail.weight", "tail.bias"}


# Pyramids of the official code (functions.adjust_scales2image + creat_reals_pyramid with the official imresize,
# scale_factor 0.75), run on random images of these sizes: ((H, W), min_size, max_size) -> (factor, sizes).
OFFICIAL_PYRAMIDS = {
    ((32, 48), 8, 250): (0.7937005259840998, ((9, 13), (11, 16), (13, 20), (17, 25), (21, 31), (26, 39), (32, 48))),
    ((40, 40), 12, 250): (0.818188823000027, ((13, 13), (15, 15), (18, 18), (22, 22), (27, 27), (33, 33), (40, 40))),
    ((48, 64), 16, 250): (0.8027415617602307, ((16, 22), (20, 27), (25, 34), (31, 42), (39, 52), (48, 64))),
    ((48, 36), 25, 250): (0.8855488076521759, ((34, 26), (38, 29), (43, 32), (48, 36))),
    ((64, 64), 25, 250): (0.8286135043349967, ((25, 25), (31, 31), (37, 37), (44, 44), (54, 54), (64, 64))),
    ((512, 512), 25, 250): (
        0.7742636826811271,
        ((26, 26), (33, 33), (42, 42), (54, 54), (70, 70), (90, 90), (117, 117), (150, 150), (194, 194), (250, 250)),
    ),
    ((300, 200), 25, 250): (
        0.7886838398087375,
        ((38, 26), (48, 32), (61, 41), (77, 51), (97, 65), (123, 82), (156, 104), (198, 132), (250, 167)),
    ),
    ((183, 276), 25, 250): (
        0.763040197031911,
        ((26, 38), (33, 50), (43, 65), (57, 85), (74, 112), (97, 146), (127, 191), (166, 250)),
    ),
}


@pytest.mark.parametrize("case", sorted(OFFICIAL_PYRAMIDS), ids=str)
def test_pyramid_equals_the_official(case):
    (h, w), min_size, max_size = case
    factor, sizes = OFFICIAL_PYRAMIDS[case]
    geo = pyramid(h, w, min_size, max_size)
    assert geo.scale_factor == factor and geo.sizes == sizes
    if max(h, w) <= 64:  # the real pyramid the model trains on has these sizes too
        model = SinGAN(image_size=(h, w), min_size=min_size, max_size=max_size)
        reals = model.reals(torch.rand(1, 3, h, w) * 2 - 1)
        assert tuple(tuple(r.shape[-2:]) for r in reals) == sizes


def test_too_small_image_is_refused_with_the_sizes():
    with pytest.raises(ValueError, match=r"20x30.*min_size=25"):
        pyramid(20, 30)


# --------------------------------------------------------------------------------------------- training
class Snapshots(L.Callback):
    """The state after every batch (global batch index -> state dict copy) and the optimisers' parameters."""

    def __init__(self) -> None:
        self.states: dict[int, dict[str, torch.Tensor]] = {}
        self.optimised: dict[int, set[int]] = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = len(self.states)
        self.states[step] = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}
        self.optimised[step] = {id(p) for opt in trainer.optimizers for g in opt.param_groups for p in g["params"]}


def test_stages_train_coarse_to_fine_freeze_finished_scales_and_stop(tmp_path):
    L.seed_everything(0, verbose=False)
    model, snaps = tiny(), Snapshots()
    trainer = fit(model, demo(), tmp_path, [snaps])
    scales, niter = model.num_scales, model.hparams.niter
    assert scales == len(pyramid(24, 24, 12).sizes) == 5 and model.finished and len(model.gens) == scales
    # The model stops by itself after its last scale: niter batches per scale, each d_steps + g_steps steps.
    assert len(snaps.states) == scales * niter
    assert trainer.global_step == scales * niter * (TINY["d_steps"] + TINY["g_steps"])
    final = snaps.states[scales * niter - 1]
    for scale in range(scales):
        end = snaps.states[(scale + 1) * niter - 1]  # after the scale's last batch
        assert sum(k.endswith("head.conv.weight") for k in end) == scale + 2  # its gens + the critic
        if scale > 0:  # it trained: its G moved during its own stage
            before = snaps.states[scale * niter - 1]  # the state the stage started from (previous scale's weights)
            assert not torch.equal(end[f"gens.{scale}.head.conv.weight"], before[f"gens.{scale - 1}.head.conv.weight"])
        # Finished: never changes again, running statistics included (frozen, eval mode).
        for key, value in end.items():
            if key.startswith(f"gens.{scale}."):
                assert torch.equal(final[key], value), key
    for gen in model.gens[:-1]:
        assert not gen.training and not any(p.requires_grad for p in gen.parameters())
    # The optimisers of the last stage hold exactly the last scale's G and the critic.
    current = {id(p) for p in [*model.gens[-1].parameters(), *model.disc.parameters()]}
    assert snaps.optimised[scales * niter - 1] == current
    assert tuple(model.z_opt.shape[-2:]) == model.geometry.sizes[0]
    assert torch.equal(model.z_opt[:, 0], model.z_opt[:, 1])  # the coarsest noise: one grey channel (official)


def test_a_new_scale_starts_from_the_previous_one_when_as_wide():
    model = tiny(image_size=(24, 24), nfc=32, min_nfc=32)
    with torch.no_grad():
        for p in [*model.gens[0].parameters(), *model.disc.parameters()]:
            p.add_(torch.randn_like(p))  # "trained"
    for _ in range(4):
        model._add_scale()
    gen_0, gen_3, gen_4 = model.gens[0].state_dict(), model.gens[3].state_dict(), model.gens[4].state_dict()
    # Scales 0-3 have 32 channels: each starts as a copy of the one below (official: load netG.pth/netD.pth).
    assert all(torch.equal(gen_0[k], gen_3[k]) for k in gen_0)
    # Scale 4 doubles the width (64): fresh official initialisation, conv weights ~ N(0, 0.02).
    assert gen_4["head.conv.weight"].shape[0] == 64 and gen_4["head.conv.weight"].std() < 0.03
    assert model.disc.head.conv.out_channels == 64
    assert all(not p.requires_grad for g in model.gens[:-1] for p in g.parameters())


def test_noise_amplitude_is_proportional_to_the_reconstruction_error(trained):
    model, amps = trained, trained.noise_amps
    assert amps[0] == 1.0  # the coarsest scale: unit noise (official)
    image = image_tensor(24)
    reals = model.reals(image)
    pad, sf = model.pad, model.geometry.scale_factor
    # The reconstruction {z*, 0, ...} through the finished scales, upsampled into each scale (official draw_concat
    # 'rec'), computed here step by step: sigma_n = 0.1 * RMSE(x_n, rec_{n-1} upsampled).
    rec = torch.zeros_like(reals[0])
    for n in range(1, model.num_scales):
        z = model.z_opt if n == 1 else torch.zeros_like(reals[n - 1])
        prev = F.pad(rec, [pad] * 4)
        rec = model.gens[n - 1](model.noise_amps[n - 1] * F.pad(z, [pad] * 4) + prev, prev)
        rec = imresize(rec, 1 / sf)[:, :, : reals[n].shape[2], : reals[n].shape[3]]
        expected = 0.1 * torch.sqrt(F.mse_loss(reals[n], rec))
        # The final generators ran at the scales below; during stage n they were the same (frozen).
        torch.testing.assert_close(amps[n], expected, rtol=1e-5, atol=1e-7)
        assert amps[n] > 0


def image_tensor(size: int) -> torch.Tensor:
    dm = demo(size)
    dm.setup("fit")
    return dm.image[None]


def test_resume_in_the_middle_of_a_stage_is_exact(tmp_path):
    ckpt = tmp_path / "mid.ckpt"

    class SaveAt(L.Callback):
        seen = 0

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            self.seen += 1
            if self.seen == 5:  # scale 1 after 2 of its 3 iterations; batch 1 of the second epoch (3 per epoch)
                trainer.save_checkpoint(ckpt)

    L.seed_everything(0, verbose=False)
    ref = tiny(niter=3)
    fit(ref, demo(), tmp_path / "ref", [SaveAt()])
    mid = torch.load(ckpt, weights_only=True)
    assert mid["state_dict"]["scale_iter"] == 2 and sum(k.endswith("head.conv.weight") for k in mid["state_dict"]) == 3

    L.seed_everything(123, verbose=False)  # the checkpoint's RNG states must win over whatever the process has
    resumed = tiny(niter=3)
    fit(resumed, demo(), tmp_path / "resumed", ckpt_path=ckpt)
    a, b = ref.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different


# -------------------------------------------------------------------------------------------- inference
def test_samples_any_number_size_and_aspect(trained):
    h, w = trained.geometry.sizes[-1]
    samples = trained.sample(3)
    assert samples.shape == (3, 3, h, w) and samples.abs().max() <= 1
    assert not torch.equal(samples[0], samples[1])  # random
    wide = trained.sample(2, scale_v=1.0, scale_h=2.0)
    tall = trained.sample(1, scale_v=1.5, scale_h=0.75)
    assert wide.shape == (2, 3, h, 2 * w) and tall.shape == (1, 3, round(1.5 * h), round(0.75 * w))
    assert torch.isfinite(wide).all() and torch.isfinite(tall).all()


def test_start_scale_keeps_the_coarse_scales_of_the_reconstruction(trained):
    top = trained.num_scales
    rec = trained.reconstruct()
    assert rec.shape == (1, 3, 24, 24) and torch.equal(rec, trained.reconstruct())  # fixed noise: deterministic
    with torch.no_grad():
        assert torch.equal(trained(1, start_scale=top), rec)
    # Starting at scale 2, the samples share the reconstruction's layout below; from 0 they do not.
    torch.manual_seed(1)
    late = trained.sample(8, start_scale=top - 1)
    torch.manual_seed(1)
    early = trained.sample(8, start_scale=0)
    assert (late - rec).abs().mean() < (early - rec).abs().mean()


def test_reference_injection_at_a_scale(trained):
    top = trained.num_scales - 1
    ref_a, ref_b = image_tensor(24), image_tensor(24).flip(-1)
    out = trained.sample(2, reference=ref_a, start_scale=top)
    assert out.shape == (2, 3, 24, 24) and torch.isfinite(out).all()
    # Injected at the finest scale, the output follows the reference (down- and upsampled), not the training image's
    # layout: closer to the reference than to the mirrored one.
    assert (out - ref_a).abs().mean() < (out - ref_b).abs().mean()
    # Any size of reference is resized to the training image's size; start_scale 1 is the coarsest allowed.
    assert trained.sample(1, reference=F.interpolate(ref_a, size=(30, 40)), start_scale=1).shape == (1, 3, 24, 24)
    with pytest.raises(ValueError, match="start_scale 1"):
        trained.sample(1, reference=ref_a, start_scale=0)


def test_super_resolution_and_animation_shapes(trained):
    image = image_tensor(24)
    for factor in (2.0, 4.0):
        sr = trained.super_resolve(image, factor)
        assert sr.shape == (1, 3, int(factor * 24), int(factor * 24)) and torch.isfinite(sr).all()
    frames = trained.animate(frames=4, start_scale=1)
    assert frames.shape == (4, 3, 24, 24) and torch.isfinite(frames).all()
    assert not torch.equal(frames[0], frames[-1])  # it moves


# ------------------------------------------------------------------------------------------------- data
def test_single_image_is_read_as_the_official_code_reads_it(tmp_path):
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "x.png")
    dm = SingleImageDataModule(path=str(tmp_path / "x.png"), steps_per_epoch=5)
    dm.setup("fit")
    expected = torch.from_numpy(rgba[:, :, :3].transpose(2, 0, 1) / 255).float()  # official np2torch, alpha dropped
    assert torch.equal(dm.image, ((expected - 0.5) * 2).clamp(-1, 1)) and dm.image_size == (20, 30)
    batch = next(iter(dm.train_dataloader()))
    assert len(dm.train_set) == 5 and batch["image"].shape == (1, 3, 20, 30) and batch["path"] == ["x.png"]
    # A grey file, as RGB (repeated) or as one channel.
    Image.fromarray(rgba[:, :, 0]).save(tmp_path / "g.png")
    rgb = SingleImageDataModule(path=str(tmp_path / "g.png"))
    grey = SingleImageDataModule(path=str(tmp_path / "g.png"), channels=1)
    rgb.setup("fit"), grey.setup("fit")
    assert grey.image.shape == (1, 20, 30) and torch.equal(rgb.image, grey.image.expand(3, -1, -1))
    dm.setup("predict")
    assert len(dm.predict_set) == dm.hparams.num_samples and dm.predict_set[2] == {"index": 2, "path": "000002.png"}


def test_demo_image_is_embedded_and_resized():
    img = demo_image("immunohistochemistry", 40)
    assert img.size == (40, 40) and img.mode == "RGB"
    assert demo_image("coffee", 48).size == (48, 32)  # longer side 48, aspect kept (400x600)
    dm = demo(40)
    assert dm.image_size == (40, 40)  # no file, no download
    assert torch.equal(dm.image, demo(40)._loaded())  # deterministic


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({}, "needs path"),
        ({"path": "missing.png"}, r"missing\.png does not exist"),
        ({"path": "."}, "is a folder"),
        ({"path": "notes.txt"}, r"cannot read notes\.txt"),
        ({"path": "x.png", "channels": 2}, "channels must be 1 or 3"),
        ({"path": "x.png", "steps_per_epoch": 0}, "steps_per_epoch must be an integer >= 1"),
        ({"url": "https://example.com/x.png"}, "needs path"),
        ({"path": ""}, "path must be a non-empty string"),
    ],
)
def test_single_image_errors_name_the_file_or_option(kwargs, match, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=match):
        SingleImageDataModule(**kwargs).setup("fit")


def test_demo_errors_and_no_validation_set():
    with pytest.raises(DataError, match="name must be one of"):
        DemoSingleImageDataModule(name="lena")
    with pytest.raises(DataError, match="size must be an integer >= 8"):
        DemoSingleImageDataModule(size=4)
    with pytest.raises(DataError, match="no validate set"):
        demo().setup("validate")


def test_cli_reports_a_missing_image_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--model=translation_zoo.models.singan.SinGAN", "--trainer.logger=false"]
    args += ["--data=translation_zoo.data.single.SingleImageDataModule", "--data.init_args.path=photo.png"]
    with pytest.raises(SystemExit) as info:
        cli_main(args)
    assert info.value.code == 2
    assert "error: image file photo.png does not exist (SingleImageDataModule path)" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ SIFID
def test_sifid_is_zero_for_the_image_and_grows_as_its_structure_is_destroyed():
    image = image_tensor(48)
    assert sifid(image, image).item() == 0 and RandomConvFeatures()(image).shape == (1, 64, 21, 21)
    g = torch.Generator().manual_seed(0)
    # Finer shuffles break more of the image's structure; noise has none of its statistics.
    coarse, fine = (
        sifid(image, patch_shuffle(image, 4, 2, g)).mean(),
        sifid(image, patch_shuffle(image, 4, 8, g)).mean(),
    )
    noise = sifid(image, torch.rand(2, 3, 48, 48, generator=g) * 2 - 1).mean()
    assert 0 < coarse < fine < noise
    # Other sizes than the real image's are fine (samples of other aspect ratios); the network is fixed (seeded).
    assert sifid(image, F.interpolate(image, size=(48, 64))).shape == (1,)
    assert torch.equal(RandomConvFeatures().convs[0].weight, RandomConvFeatures().convs[0].weight)
    shuffled = patch_shuffle(image, 1, 4, torch.Generator().manual_seed(1))
    assert shuffled.shape == (1, 3, 48, 48) and torch.equal(shuffled.flatten().sort()[0], image.flatten().sort()[0])


# --------------------------------------------------------------------------------------------- recipes
@pytest.mark.skipif(not QUICKSTART.exists(), reason="the quickstart recipe is not written yet")
def test_quickstart_recipe_runs_end_to_end(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    exe = Path(sys.executable).with_name("lightning")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "translation_zoo.cli"]
    # The recipe as written, but 2 iterations per scale on a 24 px image with narrow networks.
    args = ["fit", "--config", str(QUICKSTART), "--model.init_args.niter=2", "--model.init_args.nfc=8"]
    args += ["--model.init_args.min_nfc=8", "--data.init_args.size=24", "--model.init_args.min_size=12"]
    # And a grid at every stage (the recipe's every 60 batches would write none in these 10 batches).
    args += [
        "--trainer.callbacks+=translation_zoo.callbacks.ImageGridCallback",
        "--trainer.callbacks.every_n_batches=2",
    ]
    out = subprocess.run([*cmd, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs" / "quickstart_singan").iterdir()
    metrics = (run_dir / "metrics.csv").read_text()
    assert "train/g_rec" in metrics and "train/d_gp" in metrics and "train/scale" in metrics
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    scales = len(pyramid(24, 24, 12).sizes)
    assert len(list((run_dir / "images").glob("*.png"))) == scales
    assert sum(k.endswith("head.conv.weight") and k.startswith("gens.") for k in state["state_dict"]) == scales
    assert int(state["state_dict"]["scale_iter"]) == 2  # every scale trained, then it stopped by itself
    assert math.isfinite(float(state["state_dict"]["noise_amps"][-1]))
