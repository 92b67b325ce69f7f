"""Every training fast path against the plain fp32 NCHW path: gradients, not only outputs.

For each norm the zoo uses (batch, instance, none) and batch sizes 1 and 2, the zoo's networks (ResNet and U-Net
generators, PatchGAN) are run on the same batch and weights plainly and with each fast path: channels-last (with
the instance-norm guard that :class:`ChannelsLast` installs), native small-input convolutions, bf16 autocast;
fused Adam is compared on the update it makes. The last tests train whole models through Lightning with the fast
settings and check the weights after a few steps, and show that the instance-norm guard is needed and works.
"""

from __future__ import annotations

import contextlib
import copy

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from translation_zoo.callbacks import ChannelsLast, NativeSmallConv
from translation_zoo.callbacks.fastpaths import (
    guard_instance_norm,
    restore_small_conv,
    to_channels_last,
    use_native_small_conv,
)
from translation_zoo.models import CycleGAN, Pix2Pix
from translation_zoo.nn import define_discriminator, define_generator

NORMS = ("batch", "instance", "none")
BATCHES = (1, 2)
NETS = {
    # Dropout off: its random mask is drawn in memory order, so it would differ between formats by design.
    "resnet": lambda norm: define_generator("resnet_2blocks", 3, 3, 8, norm, use_dropout=False),
    "unet": lambda norm: define_generator("unet_5d", 3, 3, 8, norm, use_dropout=False),
    "patchgan": lambda norm: define_discriminator("basic", 3, 8, 3, norm),
}


def rel_err(got: torch.Tensor, ref: torch.Tensor) -> float:
    return ((got.double() - ref.double()).norm() / ref.double().norm().clamp_min(1e-30)).item()


def grads(net: nn.Module, x: torch.Tensor, target: torch.Tensor, fast=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(input gradient, all parameter gradients flattened) of an L2 loss, optionally under a fast path."""
    x = x.clone().requires_grad_()
    net.zero_grad(set_to_none=True)
    with fast() if fast is not None else contextlib.nullcontext():
        out = net(x)
    ((out.float() - target) ** 2).mean().backward()
    return x.grad.float(), torch.cat([p.grad.flatten().float() for p in net.parameters()])


def make_case(net_name: str, norm: str, batch: int):
    torch.manual_seed(0)
    net = NETS[net_name](norm)
    x = torch.rand(batch, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        target = torch.randn_like(net(x))
    return net, x, target


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("net_name", sorted(NETS))
def test_channels_last_gradients(net_name: str, norm: str, batch: int) -> None:
    net, x, target = make_case(net_name, norm, batch)
    ref_x, ref_p = grads(copy.deepcopy(net), x, target)
    fast = copy.deepcopy(net).to(memory_format=torch.channels_last)
    guard_instance_norm(fast)  # what ChannelsLast installs
    got_x, got_p = grads(fast, to_channels_last(x), to_channels_last(target))
    assert rel_err(got_x, ref_x) < 1e-4
    assert rel_err(got_p, ref_p) < 1e-4


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("net_name", sorted(NETS))
def test_native_small_conv_gradients(net_name: str, norm: str, batch: int) -> None:
    net, x, target = make_case(net_name, norm, batch)
    ref_x, ref_p = grads(copy.deepcopy(net), x, target)
    fast = copy.deepcopy(net)
    converted = use_native_small_conv(fast, max_output_pixels=10**9)  # every convolution takes the native path
    assert converted
    got_x, got_p = grads(fast, x, target)
    assert rel_err(got_x, ref_x) < 1e-4
    assert rel_err(got_p, ref_p) < 1e-4
    restore_small_conv(converted)
    assert all(type(m) in (nn.Conv2d, nn.ConvTranspose2d) for m in converted)


def test_native_small_conv_default_takes_the_tiny_outputs_only(monkeypatch) -> None:
    """The default threshold (64 output positions) routes exactly unet_256's layers with outputs of 8x8 px or less.

    Per layer measurements (``benchmarks/conv_layers.py``): native kernels win there, oneDNN from 16x16 outputs.
    """
    from translation_zoo.callbacks import fastpaths

    net = define_generator("unet_256", 3, 3, 2, "batch", use_dropout=False)  # ngf 2: the paper's sizes, cheaply
    use_native_small_conv(net)
    native = []
    real_apply = fastpaths._NativeConvolution.apply
    monkeypatch.setattr(
        fastpaths._NativeConvolution, "apply", lambda x, *a: native.append(tuple(x.shape[-2:])) or real_apply(x, *a)
    )
    net(torch.rand(1, 3, 256, 256))
    # Inputs of the native layers: down-sampling convolutions from 16, 8, 4, 2 px; up-sampling ones from 1, 2, 4 px.
    assert sorted(native) == sorted([(16, 16), (8, 8), (4, 4), (2, 2), (1, 1), (2, 2), (4, 4)])
    native.clear()
    net(torch.rand(2, 3, 256, 256))  # batch 2 doubles every output: the 8x8-px layers go back to oneDNN
    assert sorted(native) == sorted([(8, 8), (4, 4), (2, 2), (1, 1), (2, 2)])


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("net_name", sorted(NETS))
def test_bf16_autocast_gradients(net_name: str, norm: str, batch: int) -> None:
    """bf16-mixed keeps fp32 weights but computes in bf16 (8-bit mantissa, ~0.4% per rounding).

    Through these random-weight nets that compounds to 1-22% (measured: up to 0.22 on input gradients, 0.15 on
    weight gradients, worst with instance norm); a broken path is off by ~1 or more (see the guard test below).
    Whether that noise matters is a training question: RESULTS.md compares fp32 and bf16 quickstart runs.
    """
    net, x, target = make_case(net_name, norm, batch)
    ref_x, ref_p = grads(copy.deepcopy(net), x, target)
    got_x, got_p = grads(copy.deepcopy(net), x, target, fast=lambda: torch.autocast("cpu", torch.bfloat16))
    assert rel_err(got_x, ref_x) < 0.3
    assert rel_err(got_p, ref_p) < 0.3


def test_instance_norm_guard_is_needed_and_works() -> None:
    """The torch 2.15 CPU bug the guard exists for, and the guard fixing it (against float64)."""
    torch.manual_seed(0)
    net = define_generator("resnet_2blocks", 3, 3, 8, "instance", use_dropout=False).double()
    x = torch.rand(1, 3, 32, 32, dtype=torch.float64) * 2 - 1
    target = torch.randn(1, 3, 32, 32, dtype=torch.float64)
    ref_x, ref_p = grads(net, x, target)
    fast = copy.deepcopy(net).float().to(memory_format=torch.channels_last)
    xc, tc = to_channels_last(x.float()), to_channels_last(target.float())
    raw_x, _ = grads(fast, xc, tc)
    handles = guard_instance_norm(fast)
    assert len(handles) == sum(isinstance(m, nn.InstanceNorm2d) for m in fast.modules()) > 0
    got_x, got_p = grads(fast, xc, tc)
    assert rel_err(got_x, ref_x) < 1e-5 and rel_err(got_p, ref_p) < 1e-5
    if rel_err(raw_x, ref_x) < 1e-3:
        pytest.skip("this torch build computes batch-1 channels-last instance-norm gradients correctly")
    assert rel_err(raw_x, ref_x) > 0.1  # without the guard: wrong


def test_fused_adam_matches_the_default_update() -> None:
    torch.manual_seed(0)
    plain = Pix2Pix(**Pix2Pix.tiny_config)
    fused = Pix2Pix(**Pix2Pix.tiny_config, fused=True)
    fused.load_state_dict(plain.state_dict())
    (opt_plain, _), _ = plain.configure_optimizers()
    (opt_fused, _), _ = fused.configure_optimizers()
    assert opt_fused.defaults["fused"] is True and not opt_plain.defaults.get("fused")
    params_plain, params_fused = list(plain.gen.parameters()), list(fused.gen.parameters())
    for _ in range(3):
        for p, q in zip(params_plain, params_fused):
            p.grad = torch.randn_like(p)
            q.grad = p.grad.clone()
        opt_plain.step()
        opt_fused.step()
    for p, q in zip(params_plain, params_fused):
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-7)


class GradientRecorder(L.Callback):
    """Keeps every player's gradients (flattened, in parameter order) just before each optimiser step."""

    def __init__(self) -> None:
        self.grads: list[torch.Tensor] = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        self.grads.append(torch.cat([p.grad.detach().flatten().clone() for p in params]))


def _train(model_cls, config: dict, batch: int, callbacks: list, steps: int = 1):
    """A few training iterations on fixed random data; returns the model and the recorded gradients."""
    L.seed_everything(0, verbose=False)
    model = model_cls(**config)
    torch.manual_seed(1)
    items = [{"A": torch.rand(1, 32, 32) * 2 - 1, "B": torch.rand(1, 32, 32) * 2 - 1} for _ in range(batch * steps)]
    recorder = GradientRecorder()
    trainer = L.Trainer(
        accelerator="cpu", devices=1, max_steps=2 * steps, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[*callbacks, recorder],
    )
    torch.manual_seed(2)
    trainer.fit(model, DataLoader(items, batch_size=batch))
    return model, recorder.grads


@pytest.mark.parametrize(
    "model_cls,config,batch",
    [
        (CycleGAN, dict(CycleGAN.tiny_config), 1),  # instance norm at batch 1: the guarded case
        (CycleGAN, dict(CycleGAN.tiny_config), 2),
        (Pix2Pix, dict(Pix2Pix.tiny_config, use_dropout=False), 2),  # batch norm
    ],
    ids=["cyclegan-instance-1", "cyclegan-instance-2", "pix2pix-batch-2"],
)
def test_fast_settings_train_like_the_plain_path(model_cls, config: dict, batch: int) -> None:
    """ChannelsLast + NativeSmallConv + fused Adam through Lightning: the same gradients at every update.

    (Weights are not compared: Adam turns rounding noise in gradients that are zero in exact arithmetic, such as
    the biases before instance norms, into steps of up to the learning rate in either direction.)
    """
    plain, plain_grads = _train(model_cls, config, batch, [])
    fast, fast_grads = _train(
        model_cls, dict(config, fused=True), batch, [ChannelsLast(), NativeSmallConv(max_output_pixels=10**9)]
    )
    assert len(fast_grads) == len(plain_grads) == 2  # one iteration: one update per player
    for i, (got, ref) in enumerate(zip(fast_grads, plain_grads)):
        assert rel_err(got, ref) < 1e-4, f"update {i}: gradients differ by {rel_err(got, ref):.2e}"
    # The callbacks restored the default format and module classes when fitting ended.
    assert all(p.is_contiguous() for p in fast.parameters())
    assert not any(type(m).__name__.startswith("_Native") for m in fast.modules())
