"""Opt-in training fast paths, each checked against the plain fp32 NCHW path on gradients (``tests/test_fastpaths.py``).

* :class:`ChannelsLast` trains in the channels-last (NHWC) memory format. It always installs
  :func:`guard_instance_norm`: on torch 2.15's CPU build, ``InstanceNorm2d`` backward at batch size 1 returns wrong
  input gradients (relative error ~1.4 against float64) when the incoming gradient is channels-last, as it is in a
  channels-last network (batch 2, BatchNorm and ``group_norm`` are right). That silently corrupts CycleGAN training.
  The guard hands those norms an NCHW gradient, so channels-last is simply not applied there.
* :class:`NativeSmallConv` runs convolutions with tiny outputs (the U-Net bottleneck: 512-1024 channels at
  1-8 px outputs) through PyTorch's native im2col + GEMM kernels instead of oneDNN, whose per-call overheads
  (weight re-layout, primitive set-up) outweigh the arithmetic of those layers (1.1-3.7x slower fp32 training per
  layer, ``benchmarks/conv_layers.py``). Same convolution, same weights, only the kernel changes.

Measured advice for this zoo on a 2-core AVX-512 CPU without native bf16 (``benchmarks/RESULTS.md``): fused Adam
(the models' ``fused=True``) helps both models and :class:`NativeSmallConv` helps pix2pix at 256x256; channels-last
slowed both end to end (it wins on some mid-size layers, loses 2x on the U-Net's transposed convolutions; instance
norm returns NCHW outputs); bf16-mixed is 2.5x slower on CPUs without AVX512-BF16/AMX (measured conv peak: fp32
146 GFLOP/s, bf16 49) and a large win on recent GPUs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import lightning as L
import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

# ------------------------------------------------------------------------------------------- channels last


def _contiguous(grad: torch.Tensor) -> torch.Tensor:
    return grad.contiguous()


def _instance_norm_guard(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
    # What breaks is a channels-last *gradient* arriving at a batch-1 instance norm (whatever its input's format):
    # the layers after it (convolutions with channels-last weights) produce one. Only batch 1 is wrong. A tensor
    # hook (not a wrapper op) so that in-place activations after the norm keep working.
    if isinstance(output, torch.Tensor) and output.dim() == 4 and output.shape[0] == 1 and output.requires_grad:
        output.register_hook(_contiguous)


def guard_instance_norm(module: nn.Module) -> list[RemovableHandle]:
    """Make every instance norm in ``module`` receive contiguous (NCHW) gradients at batch size 1.

    The forward pass is unchanged; in the backward pass a channels-last gradient is copied to NCHW before it
    reaches the norm (one copy per such layer). Returns the hook handles (``handle.remove()`` undoes it).
    """
    return [
        m.register_forward_hook(_instance_norm_guard)
        for m in module.modules()
        if isinstance(m, nn.modules.instancenorm._InstanceNorm)
    ]


def to_channels_last(batch: Any) -> Any:
    """Convert every 4-D floating-point tensor of a batch (tensor, dict, list or tuple) to channels-last."""
    if isinstance(batch, torch.Tensor):
        if batch.dim() == 4 and batch.is_floating_point():
            return batch.contiguous(memory_format=torch.channels_last)
        return batch
    if isinstance(batch, dict):
        return {k: to_channels_last(v) for k, v in batch.items()}
    if type(batch) in (list, tuple):
        return type(batch)(to_channels_last(v) for v in batch)
    return batch


class ChannelsLast(L.Callback):
    """Train with weights and input batches in the channels-last memory format.

    Helps convolution-heavy models with batch norm on CPUs and GPUs (pix2pix); see the module docstring for where
    it does not. The instance-norm guard (:func:`guard_instance_norm`) is always installed. The model is returned
    to the default (NCHW) format when fitting ends, so exports and checkpoints look as without the callback.
    """

    def __init__(self) -> None:
        self._handles: list[RemovableHandle] = []

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        # Before the optimisers exist (Lightning creates them after the callbacks' setup), so their state tensors
        # are created in the same format as the parameters.
        pl_module.to(memory_format=torch.channels_last)
        self._handles = guard_instance_norm(pl_module)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int):
        # The zoo's batches are dicts: convert in place, the training step receives this same object.
        if isinstance(batch, dict):
            batch.update(to_channels_last(batch))

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        for h in self._handles:
            h.remove()
        self._handles = []
        pl_module.to(memory_format=torch.contiguous_format)


# ------------------------------------------------------------------------------------- native small conv


@contextmanager
def _onednn_disabled() -> Iterator[None]:
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = previous


class _NativeConvolution(torch.autograd.Function):
    """``aten.convolution`` forward and backward with oneDNN switched off (PyTorch picks its native kernels)."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
        with _onednn_disabled():
            out = torch.ops.aten.convolution(
                x, weight, bias, stride, padding, dilation, transposed, output_padding, groups
            )
        ctx.save_for_backward(x, weight)
        ctx.conv = (None if bias is None else list(bias.shape), stride, padding, dilation, transposed, output_padding)
        ctx.groups = groups
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        bias_sizes, stride, padding, dilation, transposed, output_padding = ctx.conv
        mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], bias_sizes is not None and ctx.needs_input_grad[2]]
        with _onednn_disabled():
            gx, gw, gb = torch.ops.aten.convolution_backward(
                grad, x, weight, bias_sizes, stride, padding, dilation, transposed, output_padding, ctx.groups, mask
            )
        return gx, gw, gb, None, None, None, None, None, None


def _output_pixels(module: nn.modules.conv._ConvNd, x: torch.Tensor) -> int:
    """batch x height x width of the convolution's output."""
    n = x.shape[0]
    for size, k, s, p, d, i in zip(
        x.shape[-2:], module.kernel_size, module.stride, module.padding, module.dilation, range(2)
    ):
        if module.transposed:
            n *= (size - 1) * s - 2 * p + d * (k - 1) + module.output_padding[i] + 1
        else:
            n *= (size + 2 * p - d * (k - 1) - 1) // s + 1
    return n


def _use_native(module: nn.modules.conv._ConvNd, x: torch.Tensor) -> bool:
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and module.weight.dtype == torch.float32
        and not torch.is_autocast_enabled("cpu")
        and module.padding_mode == "zeros"
        and isinstance(module.padding, tuple)  # not padding="same"/"valid" strings
        and x.dim() == 4
        and _output_pixels(module, x) <= module._native_max_pixels
    )


class _NativeSmallConv2d(nn.Conv2d):
    _native_max_pixels: int

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _use_native(self, x):
            return super().forward(x)
        return _NativeConvolution.apply(
            x, self.weight, self.bias, list(self.stride), list(self.padding), list(self.dilation), False, [0, 0],
            self.groups,
        )


class _NativeSmallConvTranspose2d(nn.ConvTranspose2d):
    _native_max_pixels: int

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if output_size is not None or not _use_native(self, x):
            return super().forward(x, output_size)
        return _NativeConvolution.apply(
            x, self.weight, self.bias, list(self.stride), list(self.padding), list(self.dilation), True,
            list(self.output_padding), self.groups,
        )


_NATIVE_CLASSES = {nn.Conv2d: _NativeSmallConv2d, nn.ConvTranspose2d: _NativeSmallConvTranspose2d}


def use_native_small_conv(module: nn.Module, max_output_pixels: int = 64) -> list[nn.Module]:
    """Route the 2-D (transposed) convolutions of ``module`` to native kernels when their output is small.

    A convolution takes the native path when it runs on a CPU in fp32 (not under autocast) and its output has at
    most ``max_output_pixels`` = batch x height x width positions; otherwise it behaves exactly as before. Parameters,
    buffers and state-dict keys are untouched (only the modules' classes change). Returns the converted modules,
    for :func:`restore_small_conv`.
    """
    converted = []
    for m in module.modules():
        new_cls = _NATIVE_CLASSES.get(type(m))
        if new_cls is not None:
            m.__class__ = new_cls
            m._native_max_pixels = max_output_pixels
            converted.append(m)
        elif isinstance(m, tuple(_NATIVE_CLASSES.values())):
            m._native_max_pixels = max_output_pixels
    return converted


def restore_small_conv(modules: list[nn.Module]) -> None:
    """Undo :func:`use_native_small_conv`."""
    for m in modules:
        m.__class__ = m.__class__.__mro__[1]
        del m._native_max_pixels


class NativeSmallConv(L.Callback):
    """Train convolutions with tiny outputs with PyTorch's native CPU kernels instead of oneDNN (fp32 only).

    Args:
        max_output_pixels: largest batch x height x width output that takes the native path. The default (64)
            covers pix2pix's U-Net layers with outputs of 8x8 px and below at batch 1, where oneDNN measured
            1.1-3.7x slower per layer (``benchmarks/conv_layers.py``); larger outputs are mixed, so they keep
            oneDNN. Whole pix2pix iteration at 256x256 with fused Adam: 1.17 s -> 0.98 s.
    """

    def __init__(self, max_output_pixels: int = 64) -> None:
        self.max_output_pixels = max_output_pixels
        self._converted: list[nn.Module] = []

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit":
            self._converted = use_native_small_conv(pl_module, self.max_output_pixels)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit":
            restore_small_conv(self._converted)
            self._converted = []


__all__ = [
    "ChannelsLast",
    "NativeSmallConv",
    "guard_instance_norm",
    "restore_small_conv",
    "to_channels_last",
    "use_native_small_conv",
]
