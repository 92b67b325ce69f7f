"""CVAE-GAN: parameter counts (layer arithmetic; no official code exists), the losses against the paper's equations,
Algorithm 1's per-network gradients and simultaneous updates, the inference contract (C reads the source condition),
class-conditional sampling, attribute morphing, the label layouts, the quickstart recipe, and (slow) that requesting
an attribute changes it on held-out digits while the digit is kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from translation_zoo.models.base import n_params
from translation_zoo.models.cvaegan import CVAEGAN

pytestmark = pytest.mark.usefixtures("one_torch_thread")
ROOT = Path(__file__).resolve().parents[1]
TINY = {**CVAEGAN.tiny_config}
TINY_ATTRS = {**TINY, "labels": "attributes", "n_domains": 2}


def test_parameter_counts_at_the_defaults():
    """No official code: the counts follow from the architecture (64x64 RGB, 530 classes, nz 256, widths 64-128-256-
    512 down to 4x4), layer by layer:

    trunk(3 in) = conv 3·64·16 + 64 (bias, no BN) + 64·128·16 + 2·128 + 128·256·16 + 2·256 + 256·512·16 + 2·512
                = 3,136 + 131,328 + 524,800 + 2,098,176 = 2,757,440
    E  = trunk with 3 + 530 input channels (533·64·16 + 64 = 545,856 instead of 3,136) = 3,300,160
         + heads μ, log σ² 2·(8,192·256 + 256) = 4,194,816                                     -> 7,494,976
    G  = (256 + 530)·8,192 + 2·8,192 (linear + BN1d) = 6,455,296; 512·256·16 + 512 + 256·128·16 + 256
         + 128·64·16 + 128 = 2,753,408; 64·3·16 + 3 = 3,075                                     -> 9,211,779
    D  = trunk + 8,192 + 1                                                                       -> 2,765,633
    C  = trunk + 8,192·530 + 530                                                                 -> 7,099,730
    """
    m = CVAEGAN()
    assert (n_params(m.encoder), n_params(m.gen), n_params(m.disc), n_params(m.clf)) == (
        7_494_976, 9_211_779, 2_765_633, 7_099_730,
    )  # fmt: skip


def _losses(model, x, labels, seed=0):
    torch.manual_seed(seed)
    return model.losses(x, labels)


def test_losses_follow_the_equations():
    torch.manual_seed(0)
    model = CVAEGAN(**TINY)
    x = torch.rand(6, 1, 32, 32) * 2 - 1
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    out = _losses(model, x, labels)
    # Recompute every term from the same random draws, by hand.
    torch.manual_seed(0)
    c = torch.nn.functional.one_hot(labels, 3).float()
    mu, logvar = model.encoder(x, c)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    x_f = model.gen(z, c)
    x_p = model.gen(torch.randn_like(mu), c)
    d, f_d = model.disc(torch.cat([x, x_f, x_p]))
    logits, f_c = model.clf(torch.cat([x, x_f, x_p]))
    p = torch.sigmoid(d.squeeze(1))
    loss_d = -(torch.log(p[:6]).mean() + torch.log(1 - p[6:12]).mean() + torch.log(1 - p[12:]).mean())  # Eq. 1
    torch.testing.assert_close(out["d"], loss_d, rtol=1e-5, atol=1e-6)
    loss_c = -torch.log_softmax(logits[:6], 1)[torch.arange(6), labels].mean()  # Eq. 3
    torch.testing.assert_close(out["c"], loss_c, rtol=1e-5, atol=1e-6)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    kl = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(1).mean()  # Eq. 5
    torch.testing.assert_close(out["kl"], kl, rtol=1e-5, atol=1e-5)
    rec = (
        0.5
        * (
            ((x - x_f) ** 2).sum((1, 2, 3)) + ((f_d[:6] - f_d[6:12]) ** 2).sum(1) + ((f_c[:6] - f_c[6:12]) ** 2).sum(1)
        ).mean()
    )  # Eq. 6
    torch.testing.assert_close(out["rec"], rec, rtol=1e-5, atol=1e-5)
    gd = 0.5 * ((f_d[:6].mean(0) - f_d[12:].mean(0)) ** 2).sum()  # Eq. 2
    torch.testing.assert_close(out["gd"], gd, rtol=1e-5, atol=1e-6)
    gc = sum(0.5 * ((f_c[:6][labels == k].mean(0) - f_c[12:][labels == k].mean(0)) ** 2).sum() for k in range(3))
    torch.testing.assert_close(out["gc"], gc, rtol=1e-5, atol=1e-6)  # Eq. 4, one term per class


def test_attribute_classes_are_attribute_value_pairs():
    model = CVAEGAN(**TINY_ATTRS)
    labels = torch.tensor([[1.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    masks = model.class_groups(labels)
    # attribute 0 is on in every image (one class), attribute 1 is on in one and off in two (two classes)
    assert [m.tolist() for m in masks] == [[True, True, True], [True, False, True], [False, True, False]]
    x = torch.rand(3, 1, 32, 32) * 2 - 1
    out = _losses(model, x, labels)
    assert torch.isfinite(torch.stack([v.sum() for v in out.values()])).all()
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    logits = model.clf(torch.cat([x, x, x]))[0][:3]  # C's batch norm sees 3N images in losses(): only shapes here
    assert logits.shape == (3, 2) and bce(logits, labels).ndim == 0


def test_each_network_gets_the_gradient_of_its_own_loss():
    """Algorithm 1: θ_D descends L_D, θ_C L_C, θ_G λ2 L_G + λ3 L_GD + λ4 L_GC, θ_E λ1 L_KL + λ2 L_G. In particular
    L_GD and L_GC, which reach E through D's and C's batch norm over [x_r; x_f; x_p], must not train E."""
    torch.manual_seed(0)
    model = CVAEGAN(**TINY, lambda_gd=0.3, lambda_gc=0.2)
    x, labels = torch.rand(4, 1, 32, 32) * 2 - 1, torch.tensor([0, 1, 1, 2])
    hp = model.hparams
    weights = {"d": 1, "c": 1, "kl": hp.lambda_kl, "rec": hp.lambda_rec, "gd": hp.lambda_gd, "gc": hp.lambda_gc}
    out = _losses(model, x, labels)
    terms = {k: w * out[k] for k, w in weights.items()}
    own = {"D": terms["d"], "C": terms["c"], "G": terms["rec"] + terms["gd"] + terms["gc"]}
    own["E"] = terms["kl"] + terms["rec"]
    nets = {"D": model.disc, "C": model.clf, "G": model.gen, "E": model.encoder}
    expected = {k: torch.autograd.grad(own[k], list(nets[k].parameters()), retain_graph=True) for k in nets}
    leak = torch.autograd.grad(terms["gd"] + terms["gc"], list(model.encoder.parameters()), retain_graph=True)
    assert max(g.abs().max() for g in leak) > 0  # the batch-norm path exists: a joint G+E backward would be wrong
    got = model.network_gradients(terms)
    for k in nets:
        assert [p for p, _ in got[k]] == list(nets[k].parameters())
        for (_, g), e in zip(got[k], expected[k]):
            torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-7)


def test_training_step_updates_every_network_from_the_same_parameters(tmp_path):
    """Simultaneous updates: with SGD(lr) every network moves by -lr · (its loss's gradient at the starting
    parameters), whatever the order of the steps."""
    import lightning as L
    from torch.utils.data import DataLoader

    torch.manual_seed(0)
    model = CVAEGAN(**TINY, optimizer=lambda p: torch.optim.SGD(p, lr=0.01))
    batch = {"image": torch.rand(4, 1, 32, 32) * 2 - 1, "domain": torch.tensor([0, 1, 2, 2])}
    ref = CVAEGAN(**TINY)
    ref.load_state_dict(model.state_dict())
    torch.manual_seed(5)
    out = ref.losses(batch["image"], batch["domain"])
    hp = ref.hparams
    own = {
        "disc": out["d"],
        "clf": out["c"],
        "gen": hp.lambda_rec * out["rec"] + hp.lambda_gd * out["gd"] + hp.lambda_gc * out["gc"],
        "encoder": hp.lambda_kl * out["kl"] + hp.lambda_rec * out["rec"],
    }
    expected = {}
    for name, loss in own.items():
        grads = torch.autograd.grad(loss, list(getattr(ref, name).parameters()), retain_graph=True)
        expected[name] = [p.detach() - 0.01 * g for p, g in zip(getattr(ref, name).parameters(), grads)]
    trainer = L.Trainer(accelerator="cpu", max_steps=4, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)  # fmt: skip

    class Seeded(torch.utils.data.Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, i):
            torch.manual_seed(5)  # the same random draws in training_step as in ref.losses above (workers: 0)
            return {"image": batch["image"], "domain": batch["domain"]}

    loader = DataLoader(Seeded(), batch_size=None)
    trainer.fit(model, loader)
    for name in own:
        for p, e in zip(getattr(model, name).parameters(), expected[name]):
            torch.testing.assert_close(p.detach(), e, rtol=1e-4, atol=1e-6)


def test_inference_reads_the_source_with_the_classifier_and_decodes_the_target():
    torch.manual_seed(0)
    model = CVAEGAN(**TINY).eval()
    x = torch.rand(3, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        src = model.clf(x)[0].argmax(1)
        expected = model.gen(model.encoder(x, torch.nn.functional.one_hot(src, 3).float())[0],
                             torch.nn.functional.one_hot(torch.tensor([2, 2, 2]), 3).float())  # fmt: skip
        torch.testing.assert_close(model(x, target=2), expected)
        torch.testing.assert_close(model(x, target=2, source=src), expected)
        # the export path (inference_spec's module) is the same function
        spec = model.inference_spec()
        torch.testing.assert_close(spec.module(x, torch.tensor([2])), expected)
        # E and C end in linear layers: other sizes run at the training size and come back at their own
        assert model(torch.rand(2, 1, 40, 24) * 2 - 1, target=1).shape == (2, 1, 40, 24)
    attrs = CVAEGAN(**TINY_ATTRS).eval()
    with torch.no_grad():
        c = attrs.source_condition(x)
        assert set(c.unique().tolist()) <= {0.0, 1.0}
        torch.testing.assert_close(attrs(x), attrs(x, target=c))  # default target: the source (a reconstruction)
        assert attrs(x, target=[2.0, -1.0]).shape == x.shape  # values beyond {0, 1} are allowed


def test_class_conditional_samples_and_morphing():
    torch.manual_seed(0)
    model = CVAEGAN(**TINY)
    z = torch.randn(4, 8)
    a = model.sample(z=z, target=1)
    assert a.shape == (4, 1, 32, 32) and model.training  # the mode is restored
    with torch.no_grad():
        model.eval()
        torch.testing.assert_close(a, model.gen(z, torch.nn.functional.one_hot(torch.ones(4).long(), 3).float()))
        model.train()
    assert not torch.equal(model.sample(z=z, target=0), a)
    assert model.sample(5, target=torch.tensor([0, 1, 2, 0, 1])).shape[0] == 5
    with pytest.raises(ValueError, match="n or the codes"):
        model.sample()
    with pytest.raises(ValueError, match="out of range"):
        model.sample(2, target=3)
    x_a, x_b = torch.rand(2, 1, 32, 32) * 2 - 1, torch.rand(2, 1, 32, 32) * 2 - 1
    frames = model.morph(x_a, x_b, steps=5)
    assert len(frames) == 5
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(frames[0], model(x_a, target=model.source_condition(x_a).argmax(1)))
        torch.testing.assert_close(frames[-1], model(x_b, target=model.source_condition(x_b).argmax(1)))
        # x_b=None: z fixed, only the class moves from 0 to 2
        moved = model.morph(x_a, steps=3, target_a=0, target_b=2)
        torch.testing.assert_close(moved[0], model(x_a, target=0))
        torch.testing.assert_close(moved[-1], model(x_a, target=2))
    with pytest.raises(ValueError, match="steps"):
        model.morph(x_a, steps=1)


def test_labels_layout_and_options_are_checked():
    model = CVAEGAN(**TINY)
    with pytest.raises(KeyError, match="labels='attributes'"):
        model.batch_labels({"image": torch.zeros(1, 1, 32, 32), "attrs": torch.zeros(1, 3)})
    with pytest.raises(ValueError, match="power of 2"):
        CVAEGAN(**{**TINY, "image_size": 48})
    with pytest.raises(ValueError, match="labels"):
        CVAEGAN(**{**TINY, "labels": "classes"})
    with pytest.raises(ValueError, match="domain_names"):
        CVAEGAN(**{**TINY, "domain_names": ["a"]})
    no_cond = CVAEGAN(**{**TINY, "encoder_condition": False})
    assert no_cond.encoder.trunk.layers[0].in_channels == 1
    assert model.encoder.trunk.layers[0].in_channels == 1 + 3


def test_quickstart_recipe_runs_end_to_end(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    exe = Path(sys.executable).with_name("lightning")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "translation_zoo.cli"]
    args = ["fit", "--config", str(ROOT / "recipes" / "quickstart_cvaegan_digits.yaml"), "--trainer.max_epochs=1"]
    args += ["--data.init_args.max_dataset_size=16", "--data.init_args.batch_size=4", "--trainer.limit_val_batches=1"]
    args += ["--trainer.num_sanity_val_steps=0"]
    out = subprocess.run([*cmd, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs" / "quickstart_cvaegan").iterdir()
    metrics = (run_dir / "metrics.csv").read_text()
    assert "val/rec_mse" in metrics and "val/clf_acc" in metrics and "train/gd_epoch" in metrics
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert state["global_step"] == 16  # 16 digits / 4 = 4 iterations, 4 optimiser steps each (D, C, G, E)
    assert state["hyper_parameters"]["domain_names"] == ["Thick", "Slanted", "Wide"]


@pytest.mark.slow
def test_requesting_thick_thickens_held_out_digits_and_keeps_them():
    """The paper's claim in miniature (benchmarks/cvaegan_digits.py: 450 iterations of Algorithm 1, the paper's
    λ, nf 16, batch 32, seed 0): each held-out digit re-generated through the inference path (C reads its
    attributes, E encodes, G decodes) with Thick requested on instead of off gets thicker strokes, measured in
    pixels, where the identity baseline (output = input) changes nothing, and the shipped classifier still reads
    the digit far above chance (0.1). Measured (seed 0): +0.315 ink px per skeleton px (0.34 std), 75 % of the
    digits thicker, paired t = 19.5, 3.3 % cross the median; digit accuracy 0.811 / 0.816 (real digits 0.981); C's
    attribute accuracy 0.92. 95 s on one thread (the other core busy). Seed-sensitive (measured after this test was
    written, benchmarks/RESULTS.md): seed 2 at 450 iterations and seed 1 at 700 move the stroke width the right way
    too (t = 12.0 / 9.5; 62 % / 58 % of digits thicker) but only by +0.065 / +0.088 and keep the digit 0.55-0.62 of
    the time, so this seed-0 test's thresholds hold for seed 0, not for every seed."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from cvaegan_digits import run

    r = run(iterations=450, seed=0)
    print(r)
    m, identity = r["cvaegan"], r["identity"]
    assert identity["thick_delta"] == 0.0 and identity["thick_up"] == 0.0
    assert m["thick_delta"] > 0.15 and m["thick_delta_std"] > 0.15
    assert m["thick_up"] > 0.6 and m["thick_t"] > 10  # most digits thicker; the mean shift is far from noise
    assert min(m["acc_t0"], m["acc_t1"]) > 0.65  # the digit kept (chance 0.1)
    assert m["clf_acc"] > 0.8  # C reads the attributes it conditions E on
