"""One U-GAT-IT training iteration, ours vs the official PyTorch code, side by side on this machine (fp32).

    flock /tmp/heavy.lock python benchmarks/ugatit_speed.py --official /path/to/UGATIT-pytorch --models full light

The official code is znxlwm/UGATIT-pytorch; give the folder holding its ``networks.py`` (nothing of it is in this
repository). Every measurement is a fresh Python process, so peak memory is the run's own. Runs of one model are
interleaved (repeat 1 of every run, then repeat 2, ...) so that a change in the machine's load hits all alike.

* ``official``: the official ``networks.py`` (``ResnetGenerator``, ``Discriminator`` with 7 and 5 layers,
  ``RhoClipper``) and its Adam optimisers (lr 1e-4, betas (0.5, 0.999), weight decay 1e-4), stepped by the body of
  the official ``UGATIT.train()`` loop: the LR decay check, the D step (two generator calls, eight discriminator
  calls, D's loss back-propagated through both generators as the official code does), the G step (six generator
  calls, four discriminator calls) and the ρ clipping. The official loop itself cannot run on current PyTorch (it
  calls ``iterator.next()``), and it loads images from disk; here both implementations get the same tensors.
* ``ours``: :class:`translation_zoo.models.UGATIT` with the same settings, driven by ``lightning.Trainer`` exactly
  as ``lightning fit`` drives it (an iteration is timed from the end of one batch to the end of the next, so
  Lightning's per-step work and logging are included). ``ours/fused``: with ``fused=True`` (one fused Adam kernel,
  the same update; what the recipes set).

Models: ``full`` (the paper's model, 671M parameters) and ``light`` (``--light True``, 134M), both at 256x256 RGB,
batch 1, ``--ch 64``, ``--n_res 4``. The full model needs 16-20 GiB of memory per process (peak RSS column).

Output: a markdown table per model: seconds per iteration (median and min-max over every timed iteration of every
repeat), the ratio official / ours (above 1: ours is faster), and the peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = ("official", "ours", "ours/fused")


def _inputs(size: int):
    import torch

    g = torch.Generator().manual_seed(1234)  # the same A and B for every run
    return torch.rand(1, 3, size, size, generator=g) * 2 - 1, torch.rand(1, 3, size, size, generator=g) * 2 - 1


def child_official(args: argparse.Namespace) -> list[float]:
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, str(Path(args.official).resolve()))
    from networks import Discriminator, ResnetGenerator, RhoClipper

    torch.manual_seed(0)
    light, ch, size = args.model == "light", 64, args.size
    gen_a2b = ResnetGenerator(3, 3, ngf=ch, n_blocks=4, img_size=size, light=light)
    gen_b2a = ResnetGenerator(3, 3, ngf=ch, n_blocks=4, img_size=size, light=light)
    dis_ga, dis_gb = Discriminator(3, ndf=ch, n_layers=7), Discriminator(3, ndf=ch, n_layers=7)
    dis_la, dis_lb = Discriminator(3, ndf=ch, n_layers=5), Discriminator(3, ndf=ch, n_layers=5)
    opt = dict(lr=1e-4, betas=(0.5, 0.999), weight_decay=1e-4)
    g_optim = torch.optim.Adam(itertools.chain(gen_a2b.parameters(), gen_b2a.parameters()), **opt)
    d_optim = torch.optim.Adam(
        itertools.chain(dis_ga.parameters(), dis_gb.parameters(), dis_la.parameters(), dis_lb.parameters()), **opt
    )
    clipper = RhoClipper(0, 1)
    real_a, real_b = _inputs(size)
    iteration, lr = 1_000_000, 1e-4

    def mse(x, target):
        return F.mse_loss(x, torch.full_like(x, target))

    def bce(x, target):
        return F.binary_cross_entropy_with_logits(x, torch.full_like(x, target))

    def step(it: int) -> None:
        if it > iteration // 2:  # the official decay_flag check (never true here)
            for o in (g_optim, d_optim):
                o.param_groups[0]["lr"] -= lr / (iteration // 2)
        d_optim.zero_grad()
        fake_a2b, _, _ = gen_a2b(real_a)
        fake_b2a, _, _ = gen_b2a(real_b)
        loss_d = 0
        for dis, real, fake in ((dis_ga, real_a, fake_b2a), (dis_la, real_a, fake_b2a), (dis_gb, real_b, fake_a2b),
                                (dis_lb, real_b, fake_a2b)):  # fmt: skip
            real_logit, real_cam, _ = dis(real)
            fake_logit, fake_cam, _ = dis(fake)  # not detached, as in the official code
            loss_d = loss_d + mse(real_logit, 1) + mse(fake_logit, 0) + mse(real_cam, 1) + mse(fake_cam, 0)
        loss_d.backward()
        d_optim.step()

        g_optim.zero_grad()
        fake_a2b, cam_a2b, _ = gen_a2b(real_a)
        fake_b2a, cam_b2a, _ = gen_b2a(real_b)
        fake_a2b2a, _, _ = gen_b2a(fake_a2b)
        fake_b2a2b, _, _ = gen_a2b(fake_b2a)
        fake_a2a, cam_a2a, _ = gen_b2a(real_a)
        fake_b2b, cam_b2b, _ = gen_a2b(real_b)
        loss_g = 0
        for dis, fake in ((dis_ga, fake_b2a), (dis_la, fake_b2a), (dis_gb, fake_a2b), (dis_lb, fake_a2b)):
            logit, cam, _ = dis(fake)
            loss_g = loss_g + mse(logit, 1) + mse(cam, 1)
        loss_g = loss_g + 10 * (F.l1_loss(fake_a2b2a, real_a) + F.l1_loss(fake_b2a2b, real_b))
        loss_g = loss_g + 10 * (F.l1_loss(fake_a2a, real_a) + F.l1_loss(fake_b2b, real_b))
        loss_g = loss_g + 1000 * (bce(cam_b2a, 1) + bce(cam_a2a, 0) + bce(cam_a2b, 1) + bce(cam_b2b, 0))
        loss_g.backward()
        g_optim.step()
        gen_a2b.apply(clipper)
        gen_b2a.apply(clipper)
        # The official loop prints both losses every iteration (a sync, as our logging is).
        float(loss_d), float(loss_g)

    times = []
    for it in range(1, 1 + args.warmup + args.iters):
        t0 = time.perf_counter()
        step(it)
        times.append(time.perf_counter() - t0)
    return times[args.warmup :]


def child_ours(args: argparse.Namespace, fused: bool) -> list[float]:
    import lightning as L
    import torch
    from torch.utils.data import DataLoader

    from translation_zoo.models.ugatit import UGATIT

    torch.manual_seed(0)
    model = UGATIT(img_size=args.size, light=args.model == "light", fused=True if fused else None)
    a, b = _inputs(args.size)
    loader = DataLoader([{"A": a[0], "B": b[0], "A_path": "a", "B_path": "b"}] * (args.warmup + args.iters))
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
    return times[args.warmup :]


def run_child(args: argparse.Namespace, run: str, model: str) -> dict:
    cmd = [sys.executable, __file__, "--child", run, "--models", model, "--size", str(args.size)]
    cmd += ["--warmup", str(args.warmup), "--iters", str(args.iters), "--threads", str(args.threads)]
    if args.official:
        cmd += ["--official", args.official]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{run} {model} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--official", help="folder of the official code (its networks.py)")
    p.add_argument("--models", nargs="+", choices=("full", "light"), default=["full", "light"])
    p.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS))
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--iters", type=int, default=2, help="timed iterations per process")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--child", choices=RUNS, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.child:
        import torch

        torch.set_num_threads(args.threads)
        args.model = args.models[0]
        if args.child == "official":
            times = child_official(args)
        else:
            times = child_ours(args, fused=args.child == "ours/fused")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
        print(json.dumps({"iter_s": times, "peak_rss_gib": peak}))
        return

    if "official" in args.runs and not args.official:
        raise SystemExit("--official: the folder holding the official networks.py (znxlwm/UGATIT-pytorch)")
    import platform

    import torch

    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads, fp32, ")
    print(f"batch 1 at {args.size}x{args.size}; {args.repeats} processes x {args.iters} timed iterations per run\n")
    for model in args.models:
        results: dict[str, dict] = {run: {"iter_s": [], "peak_rss_gib": 0.0} for run in args.runs}
        for _ in range(args.repeats):
            for run in args.runs:
                r = run_child(args, run, model)
                results[run]["iter_s"] += r["iter_s"]
                results[run]["peak_rss_gib"] = max(results[run]["peak_rss_gib"], r["peak_rss_gib"])
        ref = statistics.median(results["official"]["iter_s"]) if "official" in results else None
        print(f"### U-GAT-IT {model}\n")
        print("| run | s / iteration (median) | min - max | official / run | peak RSS (GiB) |")
        print("|---|---|---|---|---|")
        for run, r in results.items():
            med = statistics.median(r["iter_s"])
            ratio = f"{ref / med:.2f}x" if ref else "-"
            print(
                f"| {run} | {med:.2f} | {min(r['iter_s']):.2f} - {max(r['iter_s']):.2f} | {ratio} | "
                f"{r['peak_rss_gib']:.1f} |",
                flush=True,
            )
        print()


if __name__ == "__main__":
    main()
