"""SPADE beyond the zoo-wide contract: official counts, official weights and outputs, inputs, losses, TTUR, VAE.

The fixture ``tests/fixtures/spade_tiny_official.pt`` was written by the official NVlabs/SPADE code (fecacc9,
``models/networks/{generator,discriminator,encoder}.py``, ``Pix2PixModel.preprocess_input``/``get_edges``) on the CPU,
with a stand-in ``SynchronizedBatchNorm2d`` (= ``nn.BatchNorm2d``; the sync-BN package is not vendored there)
and SPADE's hard-coded ``nhidden = 128`` set to 8 to keep the file small: tiny generators (ngf 1, 32x32, label_nc 5 +
edge map; one plain, one ``use_vae`` with z_dim 8), an encoder (crop_size 256, the official six layers), a 2-scale
discriminator (n_layers_D 3, ndf 4), each after three training-mode forwards (spectral-norm power iterations, batch-norm
statistics), weights rounded to float16 values and stored as float16, then their eval-mode outputs in float32.
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from translation_zoo.hub import OfficialWeightsError, from_official
from translation_zoo.losses import GANLoss
from translation_zoo.losses.feature_matching import feature_matching_loss
from translation_zoo.models.spade import (
    OFFICIAL_PARAMS,
    SPADE,
    get_edges,
    label_ids,
    lr_factor,
)

from conftest import make_batch

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FIXTURE = Path(__file__).parent / "fixtures" / "spade_tiny_official.pt"
TINY_OFFICIAL = {"label_nc": 5, "contain_dontcare_label": False}


@pytest.fixture(scope="module")
def official():
    return torch.load(FIXTURE, weights_only=True)


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def random_vgg() -> torch.nn.Module:
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    return make_layers(cfgs["E"])


class Items(torch.utils.data.Dataset):
    def __init__(self, batch, n):
        self.items = [{k: v[i] for k, v in batch.items()} for i in range(n)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def fit(model, batch, epochs=1, tmp_path=None):
    n = len(batch["path"])
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=epochs, limit_val_batches=0, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(model, DataLoader(Items(batch, n), batch_size=n))
    return trainer


# ------------------------------------------------------------------------------------------- faithfulness
def test_parameter_counts_equal_the_official_networks():
    """Numbers from the official networks imported side by side (NVlabs/SPADE fecacc9, stand-in sync BN)."""
    assert OFFICIAL_PARAMS == {
        "G_coco": 97_480_899,
        "G_coco_vae": 112_626_883,
        "G_ade20k": 96_492_483,
        "G_ade20k_vae": 111_942_595,
        "G_cityscapes": 93_048_003,
        "D_coco": 5_904_514,
        "D_ade20k": 5_836_930,
        "D_cityscapes": 5_601_410,
        "E_256": 10_463_424,
    }
    ade = {"label_nc": 150, "no_instance": True, "lambda_vgg": 0}
    city = {"label_nc": 35, "contain_dontcare_label": False, "crop_size": 512, "aspect_ratio": 2.0,
            "num_upsampling_layers": "more", "lambda_vgg": 0}  # fmt: skip
    with torch.device("meta"):
        coco, coco_vae = SPADE(lambda_vgg=0), SPADE(use_vae=True, lambda_vgg=0)
        ade20k, ade20k_vae = SPADE(**ade), SPADE(**ade, use_vae=True)
        cityscapes = SPADE(**city)
    assert n_params(coco.gen) == OFFICIAL_PARAMS["G_coco"]
    assert n_params(coco_vae.gen) == OFFICIAL_PARAMS["G_coco_vae"]
    assert n_params(ade20k.gen) == OFFICIAL_PARAMS["G_ade20k"]
    assert n_params(ade20k_vae.gen) == OFFICIAL_PARAMS["G_ade20k_vae"]
    assert n_params(cityscapes.gen) == OFFICIAL_PARAMS["G_cityscapes"]
    assert n_params(coco.disc) == OFFICIAL_PARAMS["D_coco"]
    assert n_params(ade20k.disc) == OFFICIAL_PARAMS["D_ade20k"]
    assert n_params(cityscapes.disc) == OFFICIAL_PARAMS["D_cityscapes"]
    assert n_params(coco_vae.encoder) == OFFICIAL_PARAMS["E_256"]
    assert coco.encoder is None and coco.gen.fc.in_channels == 182 + 1 + 1


def test_paper_defaults_ttur_and_init():
    with torch.device("meta"):
        m = SPADE(lambda_vgg=0)
    hp = m.hparams
    assert (hp.label_nc, hp.contain_dontcare_label, hp.no_instance, hp.ngf, hp.z_dim, hp.nhidden) == (
        182, True, False, 64, 256, 128
    )  # fmt: skip
    assert (hp.norm_G, hp.norm_D, hp.norm_E, hp.num_upsampling_layers) == (
        "spectralspadesyncbatch3x3", "spectralinstance", "spectralinstance", "normal"
    )  # fmt: skip
    assert (hp.ndf, hp.n_layers_D, hp.num_D, hp.gan_mode, hp.lambda_feat, hp.lambda_kld) == (
        64,
        4,
        2,
        "hinge",
        10,
        0.05,
    )
    assert (hp.lr, hp.n_epochs, hp.n_epochs_decay, hp.init_type, hp.init_gain) == (2e-4, 50, 0, "xavier", 0.02)
    tiny = SPADE(**{**SPADE.tiny_config, "use_vae": False})
    (opt_g, opt_d), _ = tiny.configure_optimizers()
    assert opt_g.param_groups[0]["lr"] == pytest.approx(1e-4) and opt_d.param_groups[0]["lr"] == pytest.approx(4e-4)
    assert opt_g.param_groups[0]["betas"] == (0.0, 0.9) == opt_d.param_groups[0]["betas"]
    plain = SPADE(**{**SPADE.tiny_config, "no_TTUR": True})
    (opt_g, opt_d), _ = plain.configure_optimizers()
    assert opt_g.param_groups[0]["lr"] == opt_d.param_groups[0]["lr"] == pytest.approx(2e-4)
    assert opt_g.param_groups[0]["betas"] == (0.5, 0.999)
    assert SPADE(**{**SPADE.tiny_config, "beta2": 0.99}).betas == (0.0, 0.99)  # given betas win, as official
    # Official init: Xavier-normal with gain 0.02 on every conv/linear (spectral norm's weight_orig), biases 0.
    torch.manual_seed(0)
    big = SPADE(**{**SPADE.tiny_config, "ngf": 8, "use_vae": False})
    w = big.gen.head_0.conv_0.weight_orig
    fan_in, fan_out = w.shape[1] * 9, w.shape[0] * 9
    assert w.std().item() == pytest.approx(0.02 * math.sqrt(2 / (fan_in + fan_out)), rel=0.1)
    assert not big.gen.head_0.conv_0.bias.any() and not big.disc.scale0_layer0[0].bias.any()


def test_official_generator_weights_load_and_give_the_official_outputs(official):
    label, instance = official["label"].long(), official["instance"].long()
    model = from_official("spade", G=official["G"], D=official["D"], **TINY_OFFICIAL)
    assert (model.hparams.ngf, model.hparams.nhidden, model.hparams.use_vae) == (1, 8, False)
    assert (model.hparams.num_D, model.hparams.n_layers_D, model.hparams.ndf) == (2, 3, 4)
    assert list(model.gen.state_dict()) == list(official["G"])  # the official key layout, key for key
    assert torch.equal(model.encode_input(label, instance).bool(), official["seg"])
    assert torch.equal(get_edges(instance).bool(), official["edges"])
    with torch.no_grad():
        out = model(label, instance=instance)
        feats = model.disc(torch.cat([official["seg"].float(), official["image"]], 1))
    torch.testing.assert_close(out, official["output"], rtol=0, atol=1e-6)
    for ours, theirs in zip(feats, official["d_features"], strict=True):  # full resolution first, both
        for a, b in zip(ours, theirs, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    back = SPADE.ours_to_official("D", model.disc.state_dict())  # what hub.to_official writes as latest_net_D.pth
    assert list(back) == list(official["D"])
    assert all(torch.equal(back[k], official["D"][k].float()) for k in official["D"] if "weight" in k)


def test_official_vae_generator_and_encoder(official):
    label, instance = official["label"].long(), official["instance"].long()
    model = from_official("spade", G=official["G_vae"], crop_size=32, **TINY_OFFICIAL)
    assert model.hparams.use_vae and model.hparams.z_dim == 8
    with torch.no_grad():
        out = model(label, instance=instance, z=official["z"])
    torch.testing.assert_close(out, official["output_vae"], rtol=0, atol=1e-6)
    enc = from_official("spade", E=official["E"], crop_size=256, ngf=1, **TINY_OFFICIAL)
    assert enc.hparams.z_dim == 256 and enc.encoder.n_layers == 6
    with torch.no_grad():
        mu, logvar = enc.encoder(official["image"])  # 32x32, resized to 256x256 as the official encoder does
    torch.testing.assert_close(mu, official["mu"], rtol=0, atol=1e-5)
    torch.testing.assert_close(logvar, official["logvar"], rtol=0, atol=1e-5)


def test_official_weights_that_do_not_fit_name_the_option(official):
    with pytest.raises(OfficialWeightsError, match="label_nc"):
        from_official("spade", G=official["G"], label_nc=7, contain_dontcare_label=False)
    with pytest.raises(OfficialWeightsError, match="ngf"):
        from_official("spade", G=official["G"], ngf=8, **TINY_OFFICIAL)
    with pytest.raises(OfficialWeightsError, match="crop_size"):
        from_official("spade", G=official["G_vae"], crop_size=64, **TINY_OFFICIAL)
    with pytest.raises(OfficialWeightsError, match="crop_size"):
        from_official("spade", E=official["E"], crop_size=32, **TINY_OFFICIAL)


def test_released_generators_are_catalogued_with_options_that_fit_them():
    from translation_zoo.weights import catalogue

    entries = {k: v for k, v in catalogue().items() if k.startswith("spade/")}
    assert set(entries) == {"spade/coco", "spade/ade20k", "spade/cityscapes"}
    expected = {"spade/coco": "G_coco", "spade/ade20k": "G_ade20k", "spade/cityscapes": "G_cityscapes"}
    for name, entry in entries.items():
        (file,) = entry.files
        assert file.archive == "tar.gz" and file.member == f"{name.split('/')[1]}_pretrained/latest_net_G.pth"
        with torch.device("meta"):
            model = SPADE(**entry.options, lambda_vgg=0)
        assert n_params(model.gen) == OFFICIAL_PARAMS[expected[name]], name


# --------------------------------------------------------------------------------------------- inputs/nets
def test_upsampling_modes_sizes_and_dontcare_channel():
    base = {**SPADE.tiny_config, "use_vae": False}
    for mode, n_up in (("normal", 5), ("more", 6), ("most", 7)):
        m = SPADE(**{**base, "num_upsampling_layers": mode}).eval()
        assert m.size_multiple == 2**n_up and (mode == "most") == hasattr(m.gen, "up_4")
        label = torch.randint(0, 5, (1, 1, 2**n_up, 2 * 2**n_up))
        assert m(label).shape == (1, 3, 2**n_up, 2 * 2**n_up)
    m = SPADE(**{**base, "contain_dontcare_label": True}).eval()
    seg = m.encode_input(torch.full((1, 1, 32, 32), 5), None)  # the don't-care id is label_nc
    assert seg.shape[1] == 5 + 1 + 1 and seg[:, 5].all() and not seg[:, :5].any()
    m = SPADE(**{**base, "no_instance": True})
    assert m.encode_input(torch.zeros(1, 1, 32, 32, dtype=torch.long), None).shape[1] == 5


def test_sync_batchnorm_conversion_keeps_the_official_keys():
    """Lightning's ``sync_batchnorm=True`` (the DDP recipes) converts G's param-free batch norms to SyncBatchNorm."""
    m = SPADE(**SPADE.tiny_config)
    keys = list(m.state_dict())
    n_bn = sum(isinstance(x, torch.nn.BatchNorm2d) for x in m.gen.modules())
    converted = torch.nn.SyncBatchNorm.convert_sync_batchnorm(m)
    assert sum(isinstance(x, torch.nn.SyncBatchNorm) for x in converted.gen.modules()) == n_bn > 0
    assert list(converted.state_dict()) == keys


def test_losses_are_the_official_formulas():
    g = torch.Generator().manual_seed(0)
    preds = [[torch.randn(2, 1, 5, 5, generator=g)], [torch.randn(2, 1, 3, 3, generator=g)]]
    hinge = GANLoss("hinge")
    official_d_real = sum(-torch.min(p[-1] - 1, torch.zeros(())).mean() for p in preds) / 2
    official_d_fake = sum(-torch.min(-p[-1] - 1, torch.zeros(())).mean() for p in preds) / 2
    torch.testing.assert_close(hinge(preds, True), official_d_real)
    torch.testing.assert_close(hinge(preds, False), official_d_fake)
    torch.testing.assert_close(hinge(preds, True, for_discriminator=False), -sum(p[-1].mean() for p in preds) / 2)
    fake = [[torch.randn(1, 2, 4, 4, generator=g) for _ in range(5)] for _ in range(2)]
    real = [[torch.randn(1, 2, 4, 4, generator=g) for _ in range(5)] for _ in range(2)]
    official_feat = sum(F.l1_loss(fake[i][j], real[i][j]) * 10.0 / 2 for i in range(2) for j in range(4))
    torch.testing.assert_close(10.0 * feature_matching_loss(fake, real, layer_weight=1.0), official_feat)


def test_training_step_with_every_loss_updates_g_e_and_d(tmp_path):
    torch.manual_seed(0)
    model = SPADE(**{**SPADE.tiny_config, "lambda_vgg": 10.0, "contain_dontcare_label": True})
    model.set_vgg_backbone(random_vgg())
    batch = make_batch(model, n=2)
    batch["label"][0, 0, :8, :8] = 5  # some don't-care pixels
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = fit(model, batch, tmp_path=tmp_path)
    logged = set(trainer.logged_metrics)
    assert {"train/g_gan_step", "train/g_feat_step", "train/g_vgg_step", "train/g_kld_step"} <= logged
    assert {"train/d_real_step", "train/d_fake_step"} <= logged
    unchanged = [n for n, p in model.named_parameters() if torch.equal(p, before[n])]
    assert not unchanged
    assert not any("slices" in k for k in model.state_dict())  # VGG not checkpointed


def test_lr_decay_follows_the_official_update_learning_rate_with_ttur():
    niter, niter_decay, lr0 = 2, 3, 2e-4
    lr, official_g, official_d = lr0, [], []
    for epoch in range(1, niter + niter_decay + 1):  # official train.py / Pix2PixTrainer.update_learning_rate
        official_g.append(lr / 2)
        official_d.append(lr * 2)
        if epoch > niter:
            lr -= lr0 / niter_decay
    assert [lr_factor(e, niter, niter_decay) for e in range(niter + niter_decay)][-1] == pytest.approx(1 / 3)
    model = SPADE(**SPADE.tiny_config, n_epochs=niter, n_epochs_decay=niter_decay)
    (opt_g, opt_d), schedulers = model.configure_optimizers()
    seen_g, seen_d = [], []
    for _ in range(niter + niter_decay):
        seen_g.append(opt_g.param_groups[0]["lr"])
        seen_d.append(opt_d.param_groups[0]["lr"])
        for s in schedulers:
            s.step()
    assert seen_g == pytest.approx(official_g) and seen_d == pytest.approx(official_d)


# ------------------------------------------------------------------------------------------------ test time
def test_vae_codes_and_style_images_pick_the_output():
    torch.manual_seed(0)
    model = SPADE(**SPADE.tiny_config).eval()
    label = make_batch(model, n=1)["label"]
    with torch.no_grad():
        z = torch.randn(2, 8)
        a, b = model(label, z=z[:1]), model(label, z=z[1:])
        assert not torch.allclose(a, b) and torch.equal(a, model(label, z=z[:1]))
        style = torch.rand(1, 3, 40, 24) * 2 - 1  # any size: the encoder resizes it
        torch.manual_seed(1)
        s1 = model(label, style=style)
        torch.manual_seed(1)
        assert torch.equal(s1, model(label, style=style))
    spec = model.inference_spec(style=style)
    assert set(spec.extra_inputs) == {"style"} and spec.module(label.float() / 127.5 - 1, style).shape == a.shape
    with pytest.raises(ValueError, match="use_vae"):
        SPADE(**{**SPADE.tiny_config, "use_vae": False})(label, z=z[:1])


def test_label_image_input_equals_integer_ids():
    """``translate`` feeds the grayscale label PNG in [-1, 1]; the exported graph takes the same (torchscript export is
    covered by tests/test_zoo.py; ONNX works too but takes ~40 s here, so it is not repeated)."""
    model = SPADE(**{**SPADE.tiny_config, "use_vae": False}).eval()
    label = make_batch(model, n=2)["label"]
    as_image = label.float() / 127.5 - 1
    assert torch.equal(label_ids(as_image), label)
    with torch.no_grad():
        expected = model(label)
        torch.testing.assert_close(model(as_image), expected, rtol=0, atol=0)
        torch.testing.assert_close(model.inference_spec().module(as_image), expected, rtol=0, atol=0)


def test_zero_gradient_parameters_have_zero_gradients():
    """What ``zero_gradient_parameters`` names (may stay unchanged by a bf16 step) has a zero gradient in fp32."""
    torch.manual_seed(0)
    model = SPADE(**SPADE.tiny_config)
    batch = make_batch(model, n=2)
    seg = model.encode_input(batch["label"], batch["instance"])
    fake = model.gen(seg, torch.randn(2, 8))
    pred_fake, _ = model.discriminate(seg, fake, batch["image"])
    g_loss = model.criterion_gan(pred_fake, True, for_discriminator=False) + fake.square().mean()
    pred_fake, pred_real = model.discriminate(seg, fake.detach(), batch["image"])
    d_loss = model.criterion_gan(pred_fake, False) + model.criterion_gan(pred_real, True)
    by_name = {}
    for loss, net in ((g_loss, "gen"), (d_loss, "disc")):  # each player's loss, as training_step steps them
        params = dict(getattr(model, net).named_parameters())
        grads = torch.autograd.grad(loss, list(params.values()), retain_graph=True, allow_unused=True)
        by_name |= {f"{net}.{n}": torch.zeros(()) if g is None else g for n, g in zip(params, grads, strict=True)}
    named = model.zero_gradient_parameters()
    big = {n: float(by_name[n].abs().max()) for n in named if by_name[n].abs().max() >= 1e-6}
    assert named and not big, big
    assert by_name["gen.conv_img.bias"].abs().max() > 1e-4 and by_name["gen.up_3.conv_1.bias"].abs().max() > 0


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    run=False,
    reason="does not fit the 120 s budget: 6 demo epochs of SPADE take 276 s on 2 threads (pix2pixHD 144-155 s on 1). "
    "Measured by benchmarks/spade_digit_scenes.py (seed 0, 6 epochs, batch 4): SPADE val mIoU 0.434 / pixel acc 0.792 "
    "/ FID 13.0 vs pix2pixHD (label map at the input only, similar size) mIoU 0.237 / 0.521 / 10.3 (seeds 1, 2: 0.234, "
    "0.205 mIoU; FID 15.0, 16.5). SPADE wins on mIoU, not on FID; the pix2pix U-Net baseline (mIoU 0.58-0.63) beats"
    " both",
)
def test_spade_beats_input_only_labels_on_digit_scenes():
    """§4 in miniature: with the same budget, SPADE's label-conditioned normalisation gives photos that a segmenter
    trained on real demo photos parses better (mIoU) than pix2pixHD's G of similar size (the label map at the input
    only)."""
    import importlib.util

    path = Path(__file__).parents[1] / "benchmarks" / "spade_digit_scenes.py"
    spec = importlib.util.spec_from_file_location("spade_digit_scenes", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    score, synthesise, train, val_batches = bench.score, bench.synthesise, bench.train, bench.val_batches
    batches = val_batches()
    spade, _ = train("spade", epochs=6, seed=0, batch_size=4)
    baseline, _ = train("pix2pixhd", epochs=6, seed=0, batch_size=4)
    ours, theirs = score(synthesise(spade, batches)), score(synthesise(baseline, batches))
    assert ours["miou"] > theirs["miou"]
