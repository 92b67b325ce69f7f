"""Official pix2pix/CycleGAN checkpoints: key mapping, architecture inference, outputs, errors, round trip.

Nothing can be downloaded here, so the official networks are re-implemented below from the structure of
junyanz/pytorch-CycleGAN-and-pix2pix ``models/networks.py`` (module nesting and indices, the ``use_bias`` rule,
in-place activations, norm factory), independently of ``translation_zoo.nn``. Their ``state_dict()`` is what the
official ``save_networks`` writes; their forward is the official forward.
"""

from __future__ import annotations

import pickle
import warnings

import pytest
import torch
from torch import nn

from translation_zoo import from_official
from translation_zoo.hub import OfficialWeightsError, read_state_dict, save_official, to_official
from translation_zoo.models import CycleGAN, Pix2Pix

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Payload:
    """An arbitrary object: unpickling it would run code from the file, which weights_only must refuse."""


# ------------------------------------------------------------------------------ official reference networks
def official_norm(norm: str):
    """Current official ``get_norm_layer``: BN with stats; IN without affine or stats; Identity for none."""
    if norm == "batch":
        return lambda c: nn.BatchNorm2d(c, affine=True, track_running_stats=True)
    if norm == "instance":
        return lambda c: nn.InstanceNorm2d(c, affine=False, track_running_stats=False)
    return lambda c: nn.Identity()


class RefResnetBlock(nn.Module):
    def __init__(self, dim: int, norm: str, dropout: bool):
        super().__init__()
        n, bias = official_norm(norm), norm == "instance"  # official: use_bias only for InstanceNorm
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), n(dim), nn.ReLU(True)]
        layers += [nn.Dropout(0.5)] if dropout else []
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), n(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


class RefResnetGenerator(nn.Module):
    def __init__(self, in_nc: int, out_nc: int, ngf: int, norm: str, dropout: bool, n_blocks: int):
        super().__init__()
        n, bias = official_norm(norm), norm == "instance"
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_nc, ngf, 7, bias=bias), n(ngf), nn.ReLU(True)]
        for c in (ngf, 2 * ngf):
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=bias), n(2 * c), nn.ReLU(True)]
        layers += [RefResnetBlock(4 * ngf, norm, dropout) for _ in range(n_blocks)]
        for c in (4 * ngf, 2 * ngf):
            layers += [
                nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                n(c // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class RefUnetBlock(nn.Module):
    def __init__(self, outer, inner, in_nc=None, sub=None, outermost=False, innermost=False, norm="batch", drop=False):
        super().__init__()
        n, bias = official_norm(norm), norm == "instance"
        down = nn.Conv2d(in_nc or outer, inner, 4, 2, 1, bias=bias)
        self.outermost = outermost
        if outermost:
            layers = [down, sub, nn.ReLU(True), nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1), nn.Tanh()]
        elif innermost:
            layers = [
                nn.LeakyReLU(0.2, True),
                down,
                nn.ReLU(True),
                nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias),
            ]
            layers.append(n(outer))
        else:
            layers = [nn.LeakyReLU(0.2, True), down, n(inner), sub, nn.ReLU(True)]
            layers += [nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1, bias=bias), n(outer)]
            layers += [nn.Dropout(0.5)] if drop else []
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        # As in the official code: the in-place LeakyReLU has already rewritten x when cat reads it.
        return torch.cat([x, self.model(x)], 1)


class RefUnetGenerator(nn.Module):
    def __init__(self, in_nc: int, out_nc: int, num_downs: int, ngf: int, norm: str, dropout: bool):
        super().__init__()
        block = RefUnetBlock(8 * ngf, 8 * ngf, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = RefUnetBlock(8 * ngf, 8 * ngf, sub=block, norm=norm, drop=dropout)
        for mult in (4, 2, 1):
            block = RefUnetBlock(mult * ngf, 2 * mult * ngf, sub=block, norm=norm)
        self.model = RefUnetBlock(out_nc, ngf, in_nc=in_nc, sub=block, outermost=True, norm=norm)

    def forward(self, x):
        return self.model(x)


class RefNLayerDiscriminator(nn.Module):
    def __init__(self, in_nc: int, ndf: int, n_layers: int, norm: str):
        super().__init__()
        n, bias = official_norm(norm), norm == "instance"
        layers = [nn.Conv2d(in_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for i in range(1, n_layers + 1):
            prev, mult = mult, min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=bias),
                n(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class RefPixelDiscriminator(nn.Module):
    def __init__(self, in_nc: int, ndf: int, norm: str):
        super().__init__()
        n, bias = official_norm(norm), norm == "instance"
        self.net = nn.Sequential(
            nn.Conv2d(in_nc, ndf, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, 2 * ndf, 1, bias=bias),
            n(2 * ndf),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * ndf, 1, 1, bias=bias),
        )

    def forward(self, x):
        return self.net(x)


def ref_generator(netG: str, in_nc: int, out_nc: int, ngf: int, norm: str, dropout: bool) -> nn.Module:
    if netG.startswith("unet"):
        return RefUnetGenerator(in_nc, out_nc, {"unet_128": 7, "unet_256": 8}[netG], ngf, norm, dropout)
    return RefResnetGenerator(in_nc, out_nc, ngf, norm, dropout, int(netG[len("resnet_") : -len("blocks")]))


def ref_discriminator(netD: str, in_nc: int, ndf: int, norm: str, n_layers: int = 3) -> nn.Module:
    if netD == "pixel":
        return RefPixelDiscriminator(in_nc, ndf, norm)
    return RefNLayerDiscriminator(in_nc, ndf, 3 if netD == "basic" else n_layers, norm)


def randomise(net: nn.Module, seed: int) -> nn.Module:
    """Trained-looking weights: every parameter and batch-norm statistic random (not the init values)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(100)
            elif name.endswith("running_var") or (name.endswith("weight") and t.dim() == 1):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=g) * (0.05 if t.dim() == 4 else 0.3))
    return net.eval()


def image(n: int, c: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, atol=1e-5, rtol=1e-4)


# ------------------------------------------------------------------------------------------------ imports
# (model, netG, input_nc, output_nc, ngf, norm, dropout, netD, n_layers_D, ndf, image size)
CASES = [
    ("pix2pix", "unet_256", 3, 3, 4, "batch", True, "basic", 3, 4, 256),
    ("pix2pix", "unet_128", 1, 3, 4, "instance", True, "pixel", 3, 4, 128),
    ("cyclegan", "resnet_9blocks", 3, 3, 4, "instance", False, "basic", 3, 4, 64),
    ("cyclegan", "resnet_6blocks", 1, 3, 4, "batch", True, "n_layers", 2, 4, 48),
    ("cyclegan", "resnet_6blocks", 3, 3, 4, "none", False, "n_layers", 4, 4, 64),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[5]}-{c[7]}")
def test_official_weights_load_without_options_and_match_the_official_forward(case, tmp_path):
    name, netG, in_nc, out_nc, ngf, norm, dropout, netD, n_layers, ndf, size = case
    if name == "pix2pix":
        refs = {
            "G": ref_generator(netG, in_nc, out_nc, ngf, norm, dropout),
            "D": ref_discriminator(netD, in_nc + out_nc, ndf, norm, n_layers),
        }
    else:
        refs = {
            "G_A": ref_generator(netG, in_nc, out_nc, ngf, norm, dropout),
            "G_B": ref_generator(netG, out_nc, in_nc, ngf, norm, dropout),
            "D_A": ref_discriminator(netD, out_nc, ndf, norm, n_layers),  # official D_A judges domain B
            "D_B": ref_discriminator(netD, in_nc, ndf, norm, n_layers),
        }
    files = {}
    for i, (k, net) in enumerate(refs.items()):
        randomise(net, seed=i)
        files[k] = tmp_path / f"latest_net_{k}.pth"
        torch.save(net.state_dict(), files[k])  # what the official save_networks writes

    model = from_official(name, **files)  # no options: everything is read from the weights

    hp = model.hparams
    assert (hp.netG, hp.input_nc, hp.output_nc, hp.ngf, hp.norm, hp.ndf) == (netG, in_nc, out_nc, ngf, norm, ndf)
    assert hp.netD == netD and (netD == "pixel" or hp.n_layers_D == n_layers)
    assert hp.use_dropout == dropout
    assert not model.training
    a, b = image(2, in_nc, size, 1), image(2, out_nc, size, 2)
    with torch.no_grad():
        if name == "pix2pix":
            gen = model.gen
            assert close(gen(a), refs["G"](a))  # eval mode: the official --eval
            assert close(model.disc(torch.cat([a, b], 1)), refs["D"](torch.cat([a, b], 1)))
            # Paper test mode (the official test.py without --eval): dropout on and batch statistics. The same seed
            # draws the same dropout masks, since both networks apply their dropouts in the same order.
            refs["G"].train()
            torch.manual_seed(7)
            expected = refs["G"](a)
            torch.manual_seed(7)
            assert close(model(a), expected)
        else:
            assert close(model(a, direction="a2b"), refs["G_A"](a))
            assert close(model(b, direction="b2a"), refs["G_B"](b))
            assert close(model.disc_b(b), refs["D_A"](b)) and close(model.disc_a(a), refs["D_B"](a))


def test_data_parallel_prefix_and_pre_0_4_instance_norm_statistics_are_handled():
    ref = randomise(RefResnetGenerator(3, 3, 4, "instance", False, 2), 0)
    old = {}
    for key, value in ref.state_dict().items():
        old[f"module.{key}"] = value
    for name, m in ref.named_modules():
        if isinstance(m, nn.InstanceNorm2d):  # what PyTorch < 0.4 saved for every InstanceNorm
            old[f"module.{name}.running_mean"] = torch.randn(m.num_features)
            old[f"module.{name}.running_var"] = torch.rand(m.num_features) + 1
            old[f"module.{name}.num_batches_tracked"] = torch.tensor(3)
    with pytest.warns(UserWarning, match="G_B"):  # a one-direction release: gen_b2a keeps random weights
        model = from_official("cyclegan", G_A=old)
    assert model.hparams.norm == "instance" and model.hparams.netG == "resnet_2blocks"
    x = image(1, 3, 32)
    with torch.no_grad():
        assert close(model(x), ref(x))


def test_batch_norm_without_step_counter_loads():
    # Batch norm saved before PyTorch 0.4.1 has no num_batches_tracked.
    ref = randomise(RefUnetGenerator(1, 1, 7, 4, "batch", True), 0)
    sd = {k: v for k, v in ref.state_dict().items() if not k.endswith("num_batches_tracked")}
    model = from_official("pix2pix", G=sd, eval_mode=True)
    x = image(1, 1, 128)
    with torch.no_grad():
        assert close(model(x), ref(x))


# ------------------------------------------------------------------------------------------------- errors
def resnet9(in_nc=3, out_nc=3, norm="instance", ngf=4) -> dict:
    return RefResnetGenerator(in_nc, out_nc, ngf, norm, False, 9).state_dict()


def test_wrong_netG_names_the_architecture_found():
    with pytest.raises(OfficialWeightsError) as e:
        from_official("pix2pix", G=resnet9(), netG="unet_256")
    msg = str(e.value)
    assert "netG='resnet_9blocks'" in msg and "model.10.conv_block" in msg and "you passed netG='unet_256'" in msg


def test_wrong_norm_says_which_norm_to_pass():
    with pytest.raises(OfficialWeightsError, match=r"batch-norm running statistics.*pass norm='batch'"):
        from_official("cyclegan", G_A=resnet9(norm="batch"), G_B=resnet9(norm="batch"), norm="instance")
    with pytest.raises(OfficialWeightsError, match=r"instance norm.*pass norm='instance'"):
        from_official("cyclegan", G_A=resnet9(), norm="batch")


def test_wrong_channels_say_which_option_to_set():
    with pytest.raises(OfficialWeightsError, match=r"input_nc=1.*you passed input_nc=3"):
        from_official("pix2pix", G=RefUnetGenerator(1, 3, 8, 4, "batch", True).state_dict(), input_nc=3)
    d = RefNLayerDiscriminator(4, 4, 3, "batch").state_dict()  # D for 1 + 3 channels, G for 3 + 3
    with pytest.raises(OfficialWeightsError, match=r"D: its first conv takes 4 channels.*input_nc \+ output_nc"):
        from_official("pix2pix", G=RefUnetGenerator(3, 3, 8, 4, "batch", True).state_dict(), D=d)


def test_inconsistent_networks_and_unknown_files_are_rejected(tmp_path):
    with pytest.raises(OfficialWeightsError, match="disagree on ngf"):
        from_official("cyclegan", G_A=resnet9(ngf=4), G_B=resnet9(ngf=8))
    with pytest.raises(OfficialWeightsError, match="unrecognised generator"):
        from_official("pix2pix", G={"fc.weight": torch.zeros(2, 2)})
    with pytest.raises(OfficialWeightsError, match="another model"):
        from_official("pix2pix", G_A=resnet9())
    with pytest.raises(OfficialWeightsError, match=r"import for .hidt.: model must be one of \[.*.cyclegan."):
        from_official("hidt", G=resnet9())
    with pytest.raises(FileNotFoundError, match="nothing.pth"):
        from_official("pix2pix", G=tmp_path / "nothing.pth")
    lightning = tmp_path / "last.ckpt"
    torch.save({"state_dict": {}, "pytorch-lightning_version": "2.6"}, lightning)
    with pytest.raises(OfficialWeightsError, match="Lightning checkpoint"):
        from_official("pix2pix", G=lightning)


def test_files_are_read_with_weights_only(tmp_path):
    # A pickle holding an arbitrary object must be refused, not executed (torch.load(weights_only=True)).
    path = tmp_path / "latest_net_G.pth"
    torch.save({"model.1.weight": torch.zeros(1), "extra": Payload()}, path)
    with pytest.raises(OfficialWeightsError, match="weights_only=True"):
        read_state_dict(path, "G")
    with open(path, "wb") as f:  # a non-torch pickle too
        pickle.dump({"x": Payload()}, f, protocol=2)
    with pytest.raises(OfficialWeightsError, match="weights_only=True"):
        read_state_dict(path, "G")


# ---------------------------------------------------------------------------------------------- round trip
def test_round_trip_through_official_files(tmp_path):
    model = CycleGAN(input_nc=1, output_nc=3, ngf=4, ndf=4, netG="resnet_6blocks", lambda_identity=0).eval()
    paths = save_official(model, tmp_path, epoch=5)
    assert sorted(p.name for p in paths.values()) == [f"5_net_{n}.pth" for n in ("D_A", "D_B", "G_A", "G_B")]

    # The official networks load the files strictly, and compute what our model computes.
    ref_a = RefResnetGenerator(1, 3, 4, "instance", False, 6)
    ref_a.load_state_dict(torch.load(paths["G_A"], weights_only=True), strict=True)
    ref_da = RefNLayerDiscriminator(3, 4, 3, "instance")
    ref_da.load_state_dict(torch.load(paths["D_A"], weights_only=True), strict=True)
    x, y = image(1, 1, 32), image(1, 3, 32)
    with torch.no_grad():
        assert close(ref_a.eval()(x), model(x)) and close(ref_da(y), model.disc_b(y))

    again = from_official("cyclegan", **paths)
    assert again.hparams.lambda_identity == 0  # 1 vs 3 channels: the identity loss cannot apply
    before, after = to_official(model), to_official(again)
    for net in before:
        assert before[net].keys() == after[net].keys()
        assert all(torch.equal(v, after[net][k]) for k, v in before[net].items()), net


def test_to_official_pix2pix_names_and_keys():
    model = Pix2Pix(input_nc=3, output_nc=3, ngf=4, ndf=4, netG="unet_128", norm="instance")
    out = to_official(model)
    assert set(out) == {"G", "D"}
    ref_g = RefUnetGenerator(3, 3, 7, 4, "instance", True)
    ref_d = RefNLayerDiscriminator(6, 4, 3, "instance")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ref_g.load_state_dict(out["G"], strict=True)
        ref_d.load_state_dict(out["D"], strict=True)
    assert all(t.device.type == "cpu" for t in out["G"].values())
