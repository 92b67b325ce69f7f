"""Paper-specific behaviour of pix2pix and CycleGAN beyond the zoo-wide contract."""

import pytest
import torch

from translation_zoo.models import CycleGAN, Pix2Pix
from translation_zoo.models.base import linear_decay_factor


def test_linear_policy_constant_then_decays_to_zero():
    f = [linear_decay_factor(e, n_epochs=3, n_epochs_decay=4) for e in range(8)]
    assert f[:3] == [1.0, 1.0, 1.0]
    assert all(a > b for a, b in zip(f[2:], f[3:]))  # strictly decreasing after n_epochs
    assert f[3 + 4] == 0.0  # reaches 0 after the decay epochs


def test_scheduler_follows_policy():
    m = Pix2Pix(**Pix2Pix.tiny_config, lr=1.0, n_epochs=2, n_epochs_decay=2)
    opts, scheds = m.configure_optimizers()
    lrs = []
    for _ in range(5):
        lrs.append(opts[0].param_groups[0]["lr"])
        opts[0].step()  # no grads: a no-op, but keeps the optimizer-then-scheduler order torch expects
        scheds[0].step()
    assert lrs == pytest.approx([1.0, 1.0, 2 / 3, 1 / 3, 0.0])
    assert opts[0].defaults["betas"] == (0.5, 0.999)


def test_pix2pix_paper_defaults():
    m = Pix2Pix()
    hp = m.hparams
    assert (hp.netG, hp.netD, hp.norm, hp.gan_mode, hp.lambda_l1, hp.lr, hp.beta1) == (
        "unet_256",
        "basic",
        "batch",
        "vanilla",
        100.0,
        2e-4,
        0.5,
    )
    assert m.disc.model[0].in_channels == 6  # conditional D on concat(A, B)


def test_pix2pix_paper_inference_keeps_state_and_is_stochastic():
    # unet_6d: one decoder block with dropout (num_downs - 5), so inference is stochastic in paper mode.
    m = Pix2Pix(**{**Pix2Pix.tiny_config, "netG": "unet_6d"}).eval()
    x = torch.randn(2, 1, 64, 64)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    a, b = m(x), m(x)
    assert not torch.equal(a, b)  # dropout at test time (paper §3.2)
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())  # BN stats untouched
    assert not m.gen.training  # modes restored
    det = Pix2Pix(**{**Pix2Pix.tiny_config, "netG": "unet_6d"}, eval_mode=True).eval()
    assert torch.equal(det(x), det(x))


def test_cyclegan_paper_defaults_and_directions():
    m = CycleGAN(**CycleGAN.tiny_config)
    full = CycleGAN()
    hp = full.hparams
    assert (hp.netG, hp.norm, hp.gan_mode, hp.lambda_A, hp.lambda_B, hp.lambda_identity, hp.pool_size) == (
        "resnet_9blocks",
        "instance",
        "lsgan",
        10.0,
        10.0,
        0.5,
        50,
    )
    x = torch.randn(1, 1, 32, 32)
    torch.testing.assert_close(m(x, direction="b2a"), m.gen_b2a(x))
    torch.testing.assert_close(m(x), m.gen_a2b(x))
    with pytest.raises(ValueError, match="direction"):
        m(x, direction="sideways")
    with pytest.raises(ValueError, match="lambda_identity"):
        CycleGAN(input_nc=1, output_nc=3)


def test_cyclegan_visual_rows():
    m = CycleGAN(**CycleGAN.tiny_config).eval()
    rows = m.visuals({"A": torch.randn(2, 1, 32, 32), "B": torch.randn(2, 1, 32, 32)})
    assert len(rows) == 2 and all(len(r) == 3 for r in rows)  # A | G(A) | F(G(A)) and B | F(B) | G(F(B))
    torch.testing.assert_close(rows[0][2], m.gen_b2a(rows[0][1]))
