"""StyleGAN2 training iterations, ours vs the official PyTorch code, side by side on this machine (fp32).

    flock /tmp/heavy.lock python benchmarks/stylegan2_speed.py --official /tmp/stylegan2-ada-pytorch
    flock /tmp/heavy.lock python benchmarks/stylegan2_speed.py --official /tmp/stylegan2-ada-pytorch \\
        --size 256 --batch 64                                       # the paper's size and batch (a GPU's job)

The official code is NVlabs/stylegan2-ada-pytorch; give the folder holding its ``training/`` and ``torch_utils/``
(nothing of it is in this repository; without ``--official`` only ours runs). Every run is a fresh Python process
(peak memory is its own); runs are interleaved over the repeats so that a change in the machine's load hits all.

The configuration is ``--preset`` (``paper256``: channel_base 16384, channel_max 512, 8 mapping layers, mbstd group
8, γ 1, lr 0.0025, path length 2 / every 4, R1 every 16, style mixing 0.9, G_ema 20 kimg) at ``--size`` with
``--batch`` (default 32 px and 8: the official per-GPU batch of paper256, 64 over 8 GPUs; 256 px with batch 64 takes
minutes per iteration on a 2-core CPU). Both sides are fp32 (official ``num_fp16_res=0``: its fp16 layers are a
GPU feature) with ``conv_clamp`` 256. One timed "iteration" is one training batch; 16 consecutive batches are timed
after one warm-up batch, so the mean includes the lazy regularisation as the schedule runs it (path length on 4 of
16 batches, R1 on 1 of 16).

* ``official``: ``training/networks.py`` Generator / Discriminator and ``training/loss.py`` ``StyleGAN2Loss``
  driven by the body of ``training/training_loop.py``'s loop: per phase (Gmain, Greg, Dmain, Dreg, the lazy ones
  every 4 / 16 batches) zero_grad, ``requires_grad_``, ``accumulate_gradients`` with the interval as gain,
  ``nan_to_num`` of the gradients and the Adam step (lr and betas with the lazy correction), then the G_ema update.
  Its custom ops run their reference implementations on the CPU.
* ``ours``: :class:`translation_zoo.models.stylegan2.StyleGAN2` driven by ``lightning.Trainer`` as ``lightning
  fit`` drives it (a batch is timed from the end of one to the end of the next: Lightning's work and logging
  included). ``ours/fused``: ``fused=True`` (one fused Adam kernel per optimiser, the same update).

Output: a markdown table: seconds per iteration (median, min-max over all timed batches of all repeats), the ratio
official / ours (above 1: ours is faster) and the peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = ("official", "ours", "ours/fused")


def _reals(args: argparse.Namespace):
    import torch

    g = torch.Generator().manual_seed(1234)
    return torch.rand(args.batch, 3, args.size, args.size, generator=g) * 2 - 1


def child_official(args: argparse.Namespace) -> list[float]:
    import torch

    sys.path.insert(0, str(Path(args.official).resolve()))
    from torch_utils import misc
    from training.loss import StyleGAN2Loss
    from training.networks import Discriminator, Generator

    from translation_zoo.models.stylegan2 import PRESETS

    cfg = PRESETS[args.preset]
    torch.manual_seed(0)
    net = dict(channel_base=cfg["channel_base"], channel_max=512, num_fp16_res=0, conv_clamp=256)
    G = Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=args.size, img_channels=3,
                  mapping_kwargs=dict(num_layers=cfg["mapping_layers"]), synthesis_kwargs=net).train()  # fmt: skip
    D = Discriminator(c_dim=0, img_resolution=args.size, img_channels=3, block_kwargs={}, mapping_kwargs={},
                      epilogue_kwargs=dict(mbstd_group_size=cfg["mbstd_group_size"]), **net).train()  # fmt: skip
    G.requires_grad_(False)
    D.requires_grad_(False)
    G_ema = copy.deepcopy(G).eval()
    loss = StyleGAN2Loss(torch.device("cpu"), G.mapping, G.synthesis, D, r1_gamma=cfg["r1_gamma"])
    phases = []
    for name, module, interval in (("G", G, 4), ("D", D, 16)):
        c = interval / (interval + 1)
        opt = torch.optim.Adam(module.parameters(), lr=cfg["lr"] * c, betas=(0.0, 0.99**c), eps=1e-8)
        phases += [(name + "main", module, opt, 1), (name + "reg", module, opt, interval)]
    real = _reals(args)
    c_empty = torch.zeros(args.batch, 0)
    ema_beta = 0.5 ** (args.batch / (cfg["ema_kimg"] * 1000))

    def step(batch_idx: int) -> None:
        for name, module, opt, interval in phases:
            if batch_idx % interval != 0:
                continue
            gen_z = torch.randn(args.batch, 512)
            opt.zero_grad(set_to_none=True)
            module.requires_grad_(True)
            loss.accumulate_gradients(phase=name, real_img=real, real_c=c_empty, gen_z=gen_z, gen_c=c_empty,
                                      sync=True, gain=interval)  # fmt: skip
            module.requires_grad_(False)
            for param in module.parameters():
                if param.grad is not None:
                    misc.nan_to_num(param.grad, nan=0, posinf=1e5, neginf=-1e5, out=param.grad)
            opt.step()
        with torch.no_grad():
            for p_ema, p in zip(G_ema.parameters(), G.parameters()):
                p_ema.copy_(p.lerp(p_ema, ema_beta))
            for b_ema, b in zip(G_ema.buffers(), G.buffers()):
                b_ema.copy_(b)

    times = []
    for batch_idx in range(1 + args.batches):
        t0 = time.perf_counter()
        step(batch_idx)
        times.append(time.perf_counter() - t0)
    return times[1:]


def child_ours(args: argparse.Namespace, fused: bool) -> list[float]:
    import lightning as L
    import torch
    from torch.utils.data import DataLoader

    from translation_zoo.models.stylegan2 import StyleGAN2

    torch.manual_seed(0)
    model = StyleGAN2.from_preset(args.preset, image_size=args.size, fused=True if fused else None)
    real = _reals(args)
    loader = DataLoader([{"image": real}] * (1 + args.batches), batch_size=None)
    ends: list[float] = []

    class Probe(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if batch_idx == 0:
                ends.append(time.perf_counter())

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            ends.append(time.perf_counter())

    trainer = L.Trainer(
        accelerator="cpu", devices=1, max_epochs=1, precision="32-true", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, callbacks=[Probe()],
    )  # fmt: skip
    trainer.fit(model, loader)
    times = [ends[i] - ends[i - 1] for i in range(1, len(ends))]
    return times[1:]


def run_child(args: argparse.Namespace, run: str) -> dict:
    cmd = [sys.executable, __file__, "--child", run, "--preset", args.preset, "--size", str(args.size)]
    cmd += ["--batch", str(args.batch), "--batches", str(args.batches), "--threads", str(args.threads)]
    if args.official:
        cmd += ["--official", args.official]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{run} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--official", help="folder of NVlabs/stylegan2-ada-pytorch (its training/ and torch_utils/)")
    p.add_argument("--preset", choices=("paper256", "stylegan2"), default="paper256")
    p.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS))
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--batches", type=int, default=16, help="timed batches per process (after one warm-up batch)")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--child", choices=RUNS, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.child:
        import torch

        torch.set_num_threads(args.threads)
        times = child_official(args) if args.child == "official" else child_ours(args, args.child == "ours/fused")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
        print(json.dumps({"iter_s": times, "peak_rss_gib": peak}))
        return

    runs = list(args.runs)
    if "official" in runs and not (args.official and (Path(args.official) / "training" / "networks.py").exists()):
        print("official code not given or not found (--official): timing ours only")
        runs.remove("official")
    import platform

    import torch

    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads, fp32")
    print(f"{args.preset} at {args.size}x{args.size}, batch {args.batch}; {args.repeats} process(es) x {args.batches} "
          "timed batches per run\n")  # fmt: skip
    results = {run: {"iter_s": [], "peak_rss_gib": 0.0} for run in runs}
    for _ in range(args.repeats):
        for run in runs:
            r = run_child(args, run)
            results[run]["iter_s"] += r["iter_s"]
            results[run]["peak_rss_gib"] = max(results[run]["peak_rss_gib"], r["peak_rss_gib"])
    print("| run | s / iteration (median) | min-max | official / this | peak RSS GiB |")
    print("|---|---|---|---|---|")
    base = statistics.mean(results["official"]["iter_s"]) if "official" in results else None
    for run, r in results.items():
        t = r["iter_s"]
        ratio = f"{base / statistics.mean(t):.2f}" if base else "-"
        print(f"| {run} | {statistics.median(t):.3f} (mean {statistics.mean(t):.3f}) | {min(t):.3f}-{max(t):.3f} "
              f"| {ratio} | {r['peak_rss_gib']:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
