"""One CUT / FastCUT training iteration, ours against the official code, side by side, fp32.

    python benchmarks/cut_speed.py --reference /path/to/contrastive-unpaired-translation
    python benchmarks/cut_speed.py --reference ... --modes fastcut --runs ref ours ours+fused --iters 4 --repeats 3

Paper settings (``--CUT_mode CUT`` / ``FastCUT`` defaults): resnet_9blocks G and basic D, both anti-aliased, instance
norm, LSGAN, PatchNCE on layers 0,4,8,12,16 with 256 patches and the 256-d MLP head, batch 1, 256x256 RGB.

Every run is a fresh Python process with ``--threads`` torch threads, and the runs are interleaved (repeat 1 of every
run, then repeat 2, ...) so that a change of the machine's load hits them alike. The parent holds an exclusive
``flock`` on ``--lock`` (default ``/tmp/heavy.lock``) for the whole measurement, so other heavy jobs that take the
same lock do not run beside it.

* ``ref``: the official ``CUTModel`` (from ``--reference``, a checkout kept outside this repository) driven as its
  ``train.py`` drives it: ``data_dependent_initialize`` + ``setup`` on the first batch, then ``set_input`` +
  ``optimize_parameters``.
* ``ours``: :class:`translation_zoo.models.cut.CUT` under ``lightning.Trainer`` exactly as ``lightning fit`` runs it;
  an iteration is timed from the end of one batch to the end of the next (loader and Lightning's per-step work
  included). ``ours+fused``: with the fused Adam of the recipes.

Both get the same input tensors. FastCUT's random flips alternate in both (flip, no flip, ...: half the iterations
flipped, the expectation) so that neither gets luckier draws. Output: a markdown table per mode with seconds per
iteration (median and min-max over every timed iteration of every repeat), the ratio to ``ref`` and peak resident
memory (``ru_maxrss`` of the process; in parentheses above what the imports alone take).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import io
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

RUNS = ("ref", "ours", "ours+fused")
MODE_OPTIONS = {  # the official option defaults of each --CUT_mode
    "cut": {"nce_idt": True, "lambda_NCE": 1.0, "flip_equivariance": False, "n_epochs": 200, "n_epochs_decay": 200},
    "fastcut": {"nce_idt": False, "lambda_NCE": 10.0, "flip_equivariance": True, "n_epochs": 150, "n_epochs_decay": 50},
}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _inputs(args: argparse.Namespace):
    import torch

    g = torch.Generator().manual_seed(1234)  # the same A and B in every run
    shape = (args.batch, 3, args.size, args.size)
    return torch.rand(shape, generator=g) * 2 - 1, torch.rand(shape, generator=g) * 2 - 1


def _alternating():
    state = {"n": 0}

    def flip() -> bool:
        state["n"] += 1
        return state["n"] % 2 == 1

    return flip


def child_ref(args: argparse.Namespace) -> dict:
    import numpy as np
    import torch

    sys.path.insert(0, str(Path(args.reference).resolve()))
    from models.cut_model import CUTModel

    base = rss_mb()
    opt = types.SimpleNamespace(
        isTrain=True, gpu_ids=[], checkpoints_dir=str(Path(args.tmp) / "ref_checkpoints"), name="bench",
        preprocess="resize_and_crop", CUT_mode=args.mode, input_nc=3, output_nc=3, ngf=64, ndf=64, netD="basic",
        netG="resnet_9blocks", n_layers_D=3, normG="instance", normD="instance", init_type="xavier", init_gain=0.02,
        no_dropout=True, no_antialias=False, no_antialias_up=False, batch_size=args.batch, direction="AtoB",
        gan_mode="lsgan", lambda_GAN=1.0, nce_layers="0,4,8,12,16", nce_includes_all_negatives_from_minibatch=False,
        netF="mlp_sample", netF_nc=256, nce_T=0.07, num_patches=256, pool_size=0, lr=2e-4, beta1=0.5, beta2=0.999,
        lr_policy="linear", epoch_count=1, continue_train=False, verbose=False, epoch="latest", pretrained_name=None,
        lr_decay_iters=50, **MODE_OPTIONS[args.mode],
    )  # fmt: skip
    torch.manual_seed(0)
    np.random.seed(0)
    coin = _alternating()
    np.random.random = lambda: 0.1 if coin() else 0.9  # the official flip draw: np.random.random() < 0.5
    a, b = _inputs(args)
    data = {"A": a, "B": b, "A_paths": ["a"] * args.batch, "B_paths": ["b"] * args.batch}
    with contextlib.redirect_stdout(io.StringIO()):  # the official code prints its networks
        model = CUTModel(opt)
        model.data_dependent_initialize(data)  # train.py's first batch: creates F and its optimiser
        model.setup(opt)
    times = []
    for i in range(args.warmup + args.iters):
        t0 = time.perf_counter()
        model.set_input(data)
        model.optimize_parameters()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    return {"iter_s": times, "base_rss_mb": base}


def child_ours(args: argparse.Namespace, fused: bool) -> dict:
    import lightning as L
    import torch
    from torch.utils.data import DataLoader

    from translation_zoo.models import cut as cut_module

    base = rss_mb()
    torch.manual_seed(0)
    model = cut_module.CUT(mode=args.mode, fused=True if fused else None)
    cut_module.coin_flip = _alternating()
    a, b = _inputs(args)
    items = [{"A": a[i], "B": b[i], "A_path": "a", "B_path": "b"} for i in range(args.batch)]
    ends: list[float] = []

    class Probe(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            ends.append(time.perf_counter())

    trainer = L.Trainer(
        accelerator="cpu", devices=1, max_epochs=1, precision="32-true", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, callbacks=[Probe()],
    )  # fmt: skip
    # One batch more than timed: iteration i is the time from the end of batch i - 1 to the end of batch i.
    trainer.fit(model, DataLoader(items * (1 + args.warmup + args.iters), batch_size=args.batch))
    return {"iter_s": [ends[i] - ends[i - 1] for i in range(1 + args.warmup, len(ends))], "base_rss_mb": base}


def child_main(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    res = child_ref(args) if args.child == "ref" else child_ours(args, fused=args.child == "ours+fused")
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(res))


def run_child(args: argparse.Namespace, run: str, mode: str) -> dict:
    cmd = [sys.executable, __file__, "--child", run, "--mode", mode]
    for k in ("size", "batch", "warmup", "iters", "threads", "reference", "tmp"):
        v = getattr(args, k)
        if v is not None:
            cmd += [f"--{k}", str(v)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"run {run} of {mode} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(mode: str, runs: list[str], results: dict[str, list[dict]]) -> str:
    med = {r: statistics.median([t for res in results[r] for t in res["iter_s"]]) for r in runs}
    lines = [
        f"### {mode}: {ARGS.size}x{ARGS.size}, batch {ARGS.batch}, {ARGS.threads} threads, fp32",
        "",
        "| run | s/iter median | min-max | vs ref | peak RSS MB (above imports) |",
        "|---|---|---|---|---|",
    ]
    for r in runs:
        times = [t for res in results[r] for t in res["iter_s"]]
        rss = max(res["peak_rss_mb"] for res in results[r])
        above = max(res["peak_rss_mb"] - res["base_rss_mb"] for res in results[r])
        ratio = f"{med['ref'] / med[r]:.2f}x" if "ref" in med else "–"
        lines.append(f"| {r} | {med[r]:.2f} | {min(times):.2f}-{max(times):.2f} | {ratio} | {rss:.0f} ({above:.0f}) |")
    return "\n".join(lines)


ARGS: argparse.Namespace


def main() -> None:
    global ARGS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference", help="checkout of taesungp/contrastive-unpaired-translation (for the ref run)")
    p.add_argument("--modes", nargs="+", choices=sorted(MODE_OPTIONS), default=["cut", "fastcut"])
    p.add_argument("--runs", nargs="+", choices=RUNS, default=["ref", "ours"])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--iters", type=int, default=4, help="timed iterations per run (even: FastCUT's flips alternate)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lock", default="/tmp/heavy.lock", help="file to flock for the whole measurement ('' = none)")
    p.add_argument("--tmp", default="/tmp/cut_speed")
    p.add_argument("--json", help="also write the raw timings to this file")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--mode", help=argparse.SUPPRESS)
    args = ARGS = p.parse_args()
    if args.child:
        child_main(args)
        return
    if "ref" in args.runs and not args.reference:
        raise SystemExit("the ref run needs --reference /path/to/contrastive-unpaired-translation")
    with contextlib.ExitStack() as stack:
        if args.lock:
            lock = stack.enter_context(open(args.lock, "a"))  # noqa: SIM115 (closed by the stack)
            fcntl.flock(lock, fcntl.LOCK_EX)
        import torch

        print(
            f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.1f}; {args.warmup} warm-up + {args.iters} timed iterations x "
            f"{args.repeats} repeats per run",
            flush=True,
        )
        everything = {}
        for mode in args.modes:
            results: dict[str, list[dict]] = {r: [] for r in args.runs}
            for rep in range(args.repeats):
                for run in args.runs:
                    res = run_child(args, run, mode)
                    results[run].append(res)
                    print(f"  {mode} {run} repeat {rep}: {[round(t, 2) for t in res['iter_s']]} s", flush=True)
            everything[mode] = results
            print("\n" + report(mode, args.runs, results) + "\n", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=2))


if __name__ == "__main__":
    main()
