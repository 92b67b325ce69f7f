"""Shared blocks match the official pix2pix/CycleGAN networks layer for layer."""

import pytest
import torch
from torch import nn

from translation_zoo.nn import (
    PatchDiscriminator,
    ResnetGenerator,
    UnetGenerator,
    UnetSkipConnectionBlock,
    define_discriminator,
    define_generator,
    get_norm_layer,
    init_weights,
)


def n_params(m):
    return sum(p.numel() for p in m.parameters())


# Parameter counts (in M, 3 decimals) that the official code prints ("[Network G] Total number of parameters")
# for pix2pix (G, D) and CycleGAN (G_A, D_A) with default options.
@pytest.mark.parametrize(
    "build,expected",
    [
        (lambda: define_generator("unet_256", 3, 3, 64, "batch", True), 54.414),
        (lambda: define_generator("resnet_9blocks", 3, 3, 64, "instance"), 11.378),
        (lambda: define_discriminator("basic", 6, 64, norm="batch"), 2.769),
        (lambda: define_discriminator("basic", 3, 64, norm="instance"), 2.765),
    ],
)
def test_official_parameter_counts(build, expected):
    assert round(n_params(build()) / 1e6, 3) == expected


def test_unet_key_layout_and_dropout_placement():
    g = define_generator("unet_256", 3, 3, 64, "batch", use_dropout=True)
    keys = set(g.state_dict())
    # Outermost down-conv, first inner block's conv and norm, as named in official checkpoints.
    assert {
        "model.model.0.weight",
        "model.model.3.weight",
        "model.model.3.bias",
        "model.model.1.model.1.weight",
    } <= keys
    assert "model.model.0.bias" not in keys  # the outermost down-conv has no bias with batch norm either
    assert "model.model.1.model.1.bias" not in keys  # batch norm follows: no conv bias
    assert "model.model.1.model.2.running_mean" in keys
    assert sum(isinstance(m, nn.Dropout) for m in g.modules()) == 3  # num_downs - 5 innermost decoders
    assert sum(isinstance(m, nn.Dropout) for m in define_generator("unet_128", 3, 3, 8, "batch", True).modules()) == 2


def test_unet_skip_concatenates_input_and_inner_path():
    block = UnetSkipConnectionBlock(4, 8, norm="none", innermost=True)
    x = torch.randn(2, 4, 8, 8)
    out = block(x)
    assert out.shape == (2, 8, 8, 8)
    torch.testing.assert_close(out[:, :4], x)
    torch.testing.assert_close(out[:, 4:], block.model(x))


def test_unet_any_depth_and_size_check():
    g = UnetGenerator(1, 3, num_downs=5, ngf=4)
    assert g(torch.randn(1, 1, 32, 32)).shape == (1, 3, 32, 32)
    with pytest.raises(ValueError, match="divisible by 32"):
        g(torch.randn(1, 1, 48, 40))
    with pytest.raises(ValueError, match="num_downs"):
        UnetGenerator(num_downs=4)


def test_resnet_generator_layout():
    g = ResnetGenerator(3, 3, ngf=8, norm="instance", n_blocks=6)
    assert isinstance(g.model[0], nn.ReflectionPad2d) and g.model[1].kernel_size == (7, 7)
    assert g.model[1].bias is not None  # instance norm without affine: the conv keeps its bias
    assert "model.10.conv_block.1.weight" in g.state_dict()  # 4th residual block, as in official checkpoints
    assert isinstance(g.model[-1], nn.Tanh)
    y = g(torch.randn(2, 3, 36, 36))
    assert y.shape == (2, 3, 36, 36) and y.abs().max() <= 1


def test_patchgan_receptive_field_is_70():
    d = PatchDiscriminator(3, 8, n_layers=3, norm="none")
    for m in d.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.constant_(m.weight, 1.0)
    x = torch.zeros(1, 3, 140, 140, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = x.grad[0].abs().sum(0).sum(1).nonzero()
    assert rows.max() - rows.min() + 1 == 70


def test_pixel_discriminator_is_1x1():
    d = define_discriminator("pixel", 3, 8)
    assert d(torch.randn(2, 3, 16, 16)).shape == (2, 1, 16, 16)


def test_norm_factory_and_errors():
    assert isinstance(get_norm_layer("batch")(4), nn.BatchNorm2d)
    inst = get_norm_layer("instance")(4)
    assert isinstance(inst, nn.InstanceNorm2d) and not inst.affine
    assert isinstance(get_norm_layer("syncbatch")(4), nn.SyncBatchNorm)
    assert isinstance(get_norm_layer("none")(4), nn.Identity)
    with pytest.raises(ValueError, match="norm must be one of"):
        get_norm_layer("group")
    with pytest.raises(ValueError, match="netG"):
        define_generator("vgg", 3, 3)


@pytest.mark.parametrize("init_type", ["normal", "xavier", "kaiming", "orthogonal"])
def test_init_weights(init_type):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(16, 64, 3), nn.BatchNorm2d(64), nn.Linear(64, 32))
    init_weights(net, init_type, 0.02)
    conv, bn, lin = net
    assert conv.bias.abs().sum() == 0 and lin.bias.abs().sum() == 0
    if init_type == "normal":
        assert abs(conv.weight.std().item() - 0.02) < 0.002
        assert abs(bn.weight.mean().item() - 1.0) < 0.01 and abs(bn.weight.std().item() - 0.02) < 0.01
    if init_type == "orthogonal":
        w = lin.weight / 0.02
        torch.testing.assert_close(w @ w.T, torch.eye(32), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="init_type"):
        init_weights(net, "uniform")


def test_moving_average_halves_after_one_half_life_and_copies_buffers_on_request():
    """nn.ema: θ_ema ← β θ_ema + (1 − β) θ; β = ½ after ``half_life`` images; buffers only with copy_buffers."""
    from translation_zoo.nn import half_life_beta, moving_average_copy, update_moving_average

    net = torch.nn.BatchNorm2d(3)
    ema = moving_average_copy(net)
    assert not any(p.requires_grad for p in ema.parameters())
    with torch.no_grad():
        net.weight.fill_(3.0)  # ema.weight stays 1
        net.running_mean.fill_(5.0)
    assert half_life_beta(64, 64) == 0.5
    update_moving_average([(net, ema)], half_life_beta(64, 64))
    torch.testing.assert_close(ema.weight, torch.full((3,), 2.0))
    assert bool((ema.running_mean == 0).all())  # parameters only by default (StarGAN v2, ALAE)
    update_moving_average([(net, ema)], 0.0, copy_buffers=True)  # StyleGAN2 copies the buffers
    torch.testing.assert_close(ema.weight, net.weight)
    assert bool((ema.running_mean == 5).all())
    with pytest.raises(ValueError, match="beta"):
        update_moving_average([(net, ema)], 1.5)
    with pytest.raises(ValueError, match="parameters"):
        update_moving_average([(net, torch.nn.Linear(2, 2, bias=False))], 0.5)
