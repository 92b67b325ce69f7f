"""Per-layer convolution kernels for pix2pix at 256x256, batch 1: oneDNN (NCHW, channels-last) vs PyTorch native.

    python benchmarks/conv_layers.py

For every convolution of pix2pix's unet_256 generator and 70x70 PatchGAN (paper sizes, ngf = ndf = 64), times one
training pass of that layer alone: forward, then the gradients of input (except for the first layer, whose input
is data), weight and bias. Kernels: oneDNN on NCHW tensors (PyTorch's default on a CPU), oneDNN on channels-last
tensors, and PyTorch's native im2col + GEMM kernels (oneDNN switched off, as ``NativeSmallConv`` does). Reports the
median of ``--repeats`` after 2 warm-ups, the achieved GFLOP/s, and the kernel ``NativeSmallConv`` picks (native
when the output has at most ``max_output_pixels`` positions). The sums at the bottom compare whole-network choices.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from translation_zoo.callbacks.fastpaths import _output_pixels

# (kind, in channels, out channels, input side, stride) of the official unet_256 and basic D (kernel 4, padding 1).
DOWN = [
    (3, 64, 256),
    (64, 128, 128),
    (128, 256, 64),
    (256, 512, 32),
    (512, 512, 16),
    (512, 512, 8),
    (512, 512, 4),
    (512, 512, 2),
]
UP = [
    (512, 512, 1),
    (1024, 512, 2),
    (1024, 512, 4),
    (1024, 512, 8),
    (1024, 256, 16),
    (512, 128, 32),
    (256, 64, 64),
    (128, 3, 128),
]
DISC = [(6, 64, 256, 2), (64, 128, 128, 2), (128, 256, 64, 2), (256, 512, 32, 1), (512, 1, 31, 1)]
LAYERS = (
    [("G conv", ci, co, px, 2) for ci, co, px in DOWN]
    + [("G convT", ci, co, px, 2) for ci, co, px in UP]
    + [("D conv", ci, co, px, s) for ci, co, px, s in DISC]
)
KERNELS = ("oneDNN NCHW", "oneDNN channels-last", "native")


def layer(kind: str, cin: int, cout: int, stride: int) -> nn.Module:
    return nn.ConvTranspose2d(cin, cout, 4, 2, 1) if "convT" in kind else nn.Conv2d(cin, cout, 4, stride, 1)


def time_pass(module: nn.Module, x: torch.Tensor, kernel: str, repeats: int) -> float:
    if kernel == "oneDNN channels-last":
        module = module.to(memory_format=torch.channels_last)
        x = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_(x.requires_grad)
    inputs = [t for t in (x, *module.parameters()) if t.requires_grad]
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = kernel != "native"
    try:
        times = []
        for _ in range(repeats + 2):
            start = time.perf_counter()
            y = module(x)
            torch.autograd.grad(y, inputs, torch.ones_like(y))
            times.append(time.perf_counter() - start)
    finally:
        torch.backends.mkldnn.enabled = previous
    return statistics.median(times[2:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-output-pixels", type=int, default=64, help="NativeSmallConv's threshold")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"# python benchmarks/conv_layers.py --repeats {args.repeats} --threads {args.threads}\n")
    print("| layer | in -> out | " + " | ".join(f"{k} ms" for k in KERNELS) + " | fastest | NativeSmallConv |")
    print("|---|---|" + "---|" * (len(KERNELS) + 2))
    totals = dict.fromkeys((*KERNELS, "fastest", "NativeSmallConv (NCHW)"), 0.0)
    for kind, cin, cout, px, stride in LAYERS:
        module = layer(kind, cin, cout, stride)
        x = torch.randn(1, cin, px, px, requires_grad=cin not in (3, 6))
        ms = {k: 1000 * time_pass(module, x, k, args.repeats) for k in KERNELS}
        with torch.no_grad():
            out = module(x).shape[-1]
        native = _output_pixels(module, x) <= args.max_output_pixels
        picked = ms["native"] if native else ms["oneDNN NCHW"]
        for k in KERNELS:
            totals[k] += ms[k]
        fastest = min(ms, key=ms.get)
        totals["fastest"] += ms[fastest]
        totals["NativeSmallConv (NCHW)"] += picked
        cells = " | ".join(f"**{v:.1f}**" if k == fastest else f"{v:.1f}" for k, v in ms.items())
        print(f"| {kind} {cin}->{cout} | {px}->{out} px | {cells} | {fastest} | {'native' if native else 'oneDNN'} |")
    print("\n| whole network, one pass per layer | ms |\n|---|---|")
    for k, v in totals.items():
        print(f"| {k} | {v:.0f} |")


if __name__ == "__main__":
    main()
