import math

import pytest
import torch

from translation_zoo.losses import GANLoss, ImagePool, gradient_penalty


def test_vanilla_and_lsgan_values():
    zeros = torch.zeros(2, 1, 4, 4)
    assert GANLoss("vanilla")(zeros, True).item() == pytest.approx(math.log(2))
    ones = torch.ones(2, 1, 4, 4)
    assert GANLoss("lsgan")(ones, True).item() == 0
    assert GANLoss("lsgan")(ones, False).item() == 1


def test_hinge_and_wgan():
    pred = torch.tensor([[-2.0, 0.5, 3.0]])
    hinge = GANLoss("hinge")
    assert hinge(pred, True).item() == pytest.approx((3 + 0.5 + 0) / 3)
    assert hinge(pred, False).item() == pytest.approx((0 + 1.5 + 4) / 3)
    assert hinge(pred, True, for_discriminator=False).item() == pytest.approx(-0.5)
    w = GANLoss("wgangp")
    assert w(pred, True).item() == pytest.approx(-0.5) and w(pred, False).item() == pytest.approx(0.5)


def test_multiscale_predictions_are_averaged():
    loss = GANLoss("lsgan")
    preds = [torch.ones(1, 1, 4, 4), torch.zeros(1, 1, 2, 2)]
    assert loss(preds, True).item() == pytest.approx(0.5)


def test_unknown_mode():
    with pytest.raises(ValueError, match="gan_mode"):
        GANLoss("wasserstein")


@pytest.mark.parametrize("scale,expected", [(1.0, 0.0), (2.0, 1.0), (3.0, 4.0)])
def test_gradient_penalty_of_linear_critic(scale, expected):
    w = torch.randn(3 * 4 * 4)
    w = scale * w / w.norm()

    def critic(x):
        return x.flatten(1) @ w

    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(expected, abs=1e-4)


def test_image_pool_fills_then_mixes():
    torch.manual_seed(0)
    pool = ImagePool(4)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    torch.testing.assert_close(pool.query(first), first)  # filling: returns the current fakes
    assert len(pool) == 4
    returned_history = 0
    for i in range(200):
        new = torch.full((1, 1, 1, 1), 100.0 + i)
        out = pool.query(new)
        returned_history += int(out.item() != new.item())
    assert 70 < returned_history < 130  # about half from the history
    assert len(pool) == 4


def test_image_pool_zero_and_state_roundtrip():
    x = torch.randn(3, 2, 4, 4)
    torch.testing.assert_close(ImagePool(0).query(x), x)
    pool = ImagePool(5)
    pool.query(x)
    state = pool.state_dict()
    other = ImagePool(5)
    other.load_state_dict(state)
    assert len(other) == 3
    torch.testing.assert_close(torch.stack(other.images), x)
    with pytest.raises(ValueError, match="pool_size"):
        ImagePool(7).load_state_dict(state)


def test_image_pool_moves_with_module():
    pool = ImagePool(2)
    pool.query(torch.randn(2, 1, 2, 2))
    pool.to(torch.float64)
    assert all(im.dtype == torch.float64 for im in pool.images)
