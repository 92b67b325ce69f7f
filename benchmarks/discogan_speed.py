"""DiscoGAN training speed and memory, side by side with the official code (SKTBrain/DiscoGAN), fp32, on this CPU.

    python benchmarks/discogan_speed.py --reference /path/to/SKTBrain-DiscoGAN --repeats 3

``--reference`` is a checkout of https://github.com/SKTBrain/DiscoGAN, used unmodified: only its
``discogan/model.py`` (``Generator``, ``Discriminator``) is imported (with a stand-in for its unused ``import ipdb``).
Its training loop lives inside ``main()`` of the Python 2 script ``discogan/image_translation.py`` (print
statements, data loading through ``cv2``/``scipy.misc``), which cannot be imported; ``ref_iteration`` below drives
the official networks and criteria exactly as that loop does, with two adaptations to today's PyTorch on a CPU:
no ``.cuda()`` on the feature-matching targets, and BCE targets shaped like D's (N, 1, 1, 1) output (the
official (N, 1) targets are rejected by today's ``BCELoss``).

Runs, each in a fresh Python process, interleaved (repeat 1 of every run, then repeat 2, ...):

* ``ours``: ``translation_zoo.models.discogan.DiscoGAN`` with the official settings (64x64, 3 channels, ngf = ndf =
  64, batch 64), driven by ``lightning.Trainer`` as ``lightning fit`` drives it; an iteration is timed from the end
  of one batch to the end of the next, so the data loader and Lightning's per-step work are included.
* ``ours-fused``: the same with ``fused=True`` (one fused Adam kernel per optimiser, same update rule).
* ``ref``: the official networks, criteria and Adam(2e-4, (0.5, 0.999), weight_decay=1e-5), one iteration per batch.

Both alternate the players as the official schedule does (D on every third iteration, G on the others), so one
schedule cycle is 3 iterations: after ``--warmup-cycles`` cycles, ``--cycles`` cycles are timed and an iteration's
time is a cycle's time / 3 (the median over every timed cycle of every repeat is reported, with min-max).
Peak RSS is the process's maximum resident set size (``getrusage``), and in brackets its growth over the RSS after
imports.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

RUNS = ("ours", "ours-fused", "ref")
CYCLE = 3  # the official update_interval: 1 D step + 2 G steps


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _inputs(args: argparse.Namespace):
    import torch

    g = torch.Generator().manual_seed(1234)  # the same A and B for every run
    shape = (args.batch, 3, args.size, args.size)
    return torch.rand(shape, generator=g) * 2 - 1, torch.rand(shape, generator=g) * 2 - 1  # in [-1, 1]


def child_ours(args: argparse.Namespace, fused: bool) -> dict:
    import lightning as L
    import torch
    from torch.utils.data import DataLoader

    from translation_zoo.models.discogan import DiscoGAN

    base_rss = rss_mb()
    torch.manual_seed(0)
    model = DiscoGAN(image_size=args.size, fused=True if fused else None)
    a, b = _inputs(args)
    n_batches = CYCLE * (args.warmup_cycles + args.cycles)
    items = [{"A": a[i], "B": b[i], "A_path": "a", "B_path": "b"} for i in range(args.batch)]
    loader = DataLoader(items * n_batches, batch_size=args.batch)
    ends: list[float] = []

    class Probe(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if batch_idx == 0:
                ends.append(time.perf_counter())

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            ends.append(time.perf_counter())

    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        precision="32-true",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[Probe()],
    )
    trainer.fit(model, loader)
    first = CYCLE * args.warmup_cycles
    cycles = [(ends[first + CYCLE * (k + 1)] - ends[first + CYCLE * k]) / CYCLE for k in range(args.cycles)]
    return {"iter_s": cycles, "base_rss_mb": base_rss}


def child_ref(args: argparse.Namespace) -> dict:
    import torch
    from torch import nn, optim

    sys.modules.setdefault("ipdb", types.ModuleType("ipdb"))  # model.py imports it and never uses it
    sys.path.insert(0, str(Path(args.reference).resolve() / "discogan"))
    from model import Discriminator, Generator

    base_rss = rss_mb()
    torch.manual_seed(0)
    generator_A, generator_B = Generator(), Generator()  # generator_B: A -> B, generator_A: B -> A
    discriminator_A, discriminator_B = Discriminator(), Discriminator()
    recon_criterion, gan_criterion, feat_criterion = nn.MSELoss(), nn.BCELoss(), nn.HingeEmbeddingLoss()
    gen_params = [*generator_A.parameters(), *generator_B.parameters()]
    dis_params = [*discriminator_A.parameters(), *discriminator_B.parameters()]
    optim_gen = optim.Adam(gen_params, lr=2e-4, betas=(0.5, 0.999), weight_decay=0.00001)
    optim_dis = optim.Adam(dis_params, lr=2e-4, betas=(0.5, 0.999), weight_decay=0.00001)
    a, b = _inputs(args)
    A, B = a * 0.5 + 0.5, b * 0.5 + 0.5  # the official images are in [0, 1]

    def get_fm_loss(real_feats, fake_feats):
        losses = 0
        for real_feat, fake_feat in zip(real_feats, fake_feats):
            l2 = (real_feat.mean(0) - fake_feat.mean(0)) * (real_feat.mean(0) - fake_feat.mean(0))
            losses += feat_criterion(l2, torch.ones(l2.size()))
        return losses

    def get_gan_loss(dis_real, dis_fake):
        ones, zeros = torch.ones_like(dis_real), torch.zeros_like(dis_fake)
        dis_loss = gan_criterion(dis_real, ones) * 0.5 + gan_criterion(dis_fake, zeros) * 0.5
        return dis_loss, gan_criterion(dis_fake, torch.ones_like(dis_fake))

    def ref_iteration(iters: int) -> None:
        for net in (generator_A, generator_B, discriminator_A, discriminator_B):
            net.zero_grad()
        AB, BA = generator_B(A), generator_A(B)
        ABA, BAB = generator_A(AB), generator_B(BA)
        recon_loss_A, recon_loss_B = recon_criterion(ABA, A), recon_criterion(BAB, B)
        A_dis_real, A_feats_real = discriminator_A(A)
        A_dis_fake, A_feats_fake = discriminator_A(BA)
        dis_loss_A, gen_loss_A = get_gan_loss(A_dis_real, A_dis_fake)
        fm_loss_A = get_fm_loss(A_feats_real, A_feats_fake)
        B_dis_real, B_feats_real = discriminator_B(B)
        B_dis_fake, B_feats_fake = discriminator_B(AB)
        dis_loss_B, gen_loss_B = get_gan_loss(B_dis_real, B_dis_fake)
        fm_loss_B = get_fm_loss(B_feats_real, B_feats_fake)
        rate = 0.01 if iters < 10000 else 0.5  # gan_curriculum, starting_rate, default_rate
        gen_loss_A_total = (gen_loss_B * 0.1 + fm_loss_B * 0.9) * (1.0 - rate) + recon_loss_A * rate
        gen_loss_B_total = (gen_loss_A * 0.1 + fm_loss_A * 0.9) * (1.0 - rate) + recon_loss_B * rate
        gen_loss, dis_loss = gen_loss_A_total + gen_loss_B_total, dis_loss_A + dis_loss_B
        if iters % CYCLE == 0:  # update_interval
            dis_loss.backward()
            optim_dis.step()
        else:
            gen_loss.backward()
            optim_gen.step()

    ends = [time.perf_counter()]
    for it in range(CYCLE * (args.warmup_cycles + args.cycles)):
        ref_iteration(it)
        ends.append(time.perf_counter())
    first = CYCLE * args.warmup_cycles
    cycles = [(ends[first + CYCLE * (k + 1)] - ends[first + CYCLE * k]) / CYCLE for k in range(args.cycles)]
    return {"iter_s": cycles, "base_rss_mb": base_rss}


def child_main(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    res = child_ref(args) if args.child == "ref" else child_ours(args, fused=args.child == "ours-fused")
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(res))


def run_child(args: argparse.Namespace, run: str) -> dict:
    cmd = [sys.executable, __file__, "--child", run]
    for k in ("size", "batch", "warmup_cycles", "cycles", "threads", "reference"):
        v = getattr(args, k)
        if v is not None:
            cmd += [f"--{k.replace('_', '-')}", str(v)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"run {run} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference", help="checkout of SKTBrain/DiscoGAN (needed for the ref run)")
    p.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS))
    p.add_argument("--size", type=int, default=64, help="image side (official 64)")
    p.add_argument("--batch", type=int, default=64, help="batch size (official 64)")
    p.add_argument("--warmup-cycles", type=int, default=1, help="untimed schedule cycles of 3 iterations")
    p.add_argument("--cycles", type=int, default=2, help="timed schedule cycles of 3 iterations per process")
    p.add_argument("--repeats", type=int, default=3, help="fresh processes per run, interleaved")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child_main(args)
    if "ref" in args.runs and not args.reference:
        raise SystemExit("the ref run needs --reference /path/to/SKTBrain-DiscoGAN")
    if "ref" in args.runs and args.size != 64:
        raise SystemExit("the official networks are built for 64x64 (--size 64)")
    load0 = os.getloadavg()
    print(f"# {' '.join(sys.argv)}")
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {args.threads} threads, load average "
        f"at start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}; {args.size}x{args.size}, batch {args.batch}, fp32; "
        f"{args.repeats} interleaved repeats x {args.cycles} timed cycles of {CYCLE} iterations after "
        f"{args.warmup_cycles} warm-up cycle(s)"
    )
    results: dict[str, list[dict]] = {run: [] for run in args.runs}
    for _ in range(args.repeats):
        for run in args.runs:
            results[run].append(run_child(args, run))
    summary = {}
    for run, rs in results.items():
        its = [t for r in rs for t in r["iter_s"]]
        summary[run] = {
            "s_per_iter_median": statistics.median(its),
            "s_per_iter_min": min(its),
            "s_per_iter_max": max(its),
            "n_cycles": len(its),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
            "delta_rss_mb": max(r["peak_rss_mb"] - r["base_rss_mb"] for r in rs),
        }
    ref = summary.get("ref")
    print()
    print("| run | s/iter median | min-max | images/s | speed vs ref | peak RSS MB (growth) |")
    print("|---|---|---|---|---|---|")
    for run, s in summary.items():
        ratio = f"{ref['s_per_iter_median'] / s['s_per_iter_median']:.2f}x" if ref else "-"
        print(
            f"| {run} | {s['s_per_iter_median']:.2f} | {s['s_per_iter_min']:.2f}-{s['s_per_iter_max']:.2f} "
            f"| {args.batch / s['s_per_iter_median']:.1f} | {ratio} "
            f"| {s['peak_rss_mb']:.0f} ({s['delta_rss_mb']:.0f}) |",
            flush=True,
        )
    load1 = os.getloadavg()
    print(f"\n# load average at end {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"argv": sys.argv, "load": [load0, load1], "runs": summary}, indent=1))


if __name__ == "__main__":
    main()
