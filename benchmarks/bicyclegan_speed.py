"""One BicycleGAN training iteration, ours vs the official code, side by side (fp32, the paper's size and batch).

    git clone https://github.com/junyanz/BicycleGAN /tmp/official_bicyclegan   # never vendored here
    python benchmarks/bicyclegan_speed.py --official /tmp/official_bicyclegan --repeats 3

Setting: edges2shoes as ``scripts/train_edges2shoes.sh`` trains it -- 256x256, batch 2 (one image per branch),
``input_nc=1``, ``output_nc=3``, ``--use_dropout``, every other option the official default (G ``unet_256`` with z
at every level, E ``resnet_256``, D and D2 ``basic_256_multi``, instance norm, LSGAN, Adam(2e-4, 0.5)).

Runs (each a fresh Python process; the runs of one repeat are interleaved so that load on the machine hits all):

* ``ref``: the official ``BiCycleGANModel`` driven as its ``train.py`` drives it (``set_input`` +
  ``optimize_parameters``), on the same input tensors;
* ``ours``: :class:`~translation_zoo.models.BicycleGAN` driven by ``lightning.Trainer`` exactly as ``lightning fit``
  drives it (an iteration is timed from the end of one batch to the end of the next: data loading, Lightning's
  per-step work and logging included);
* ``ours-fused``: the same with ``fused=True`` (one fused Adam kernel per optimiser; what the recipes use).

Reported: median seconds per iteration (min-max over all timed iterations of all repeats), the ratio to ``ref``, and
peak resident memory of the process (``ru_maxrss``; on a GPU, ``torch.cuda.max_memory_allocated``).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = ("ref", "ours", "ours-fused")


def _inputs(args: argparse.Namespace, n: int):
    import torch

    g = torch.Generator().manual_seed(1234)
    shape_a = (args.batch, args.input_nc, args.size, args.size)
    shape_b = (args.batch, 3, args.size, args.size)
    return [(torch.rand(shape_a, generator=g) * 2 - 1, torch.rand(shape_b, generator=g) * 2 - 1) for _ in range(n)]


def _peak_mb(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def child_ref(args: argparse.Namespace) -> list[float]:
    import contextlib
    import io

    import torch

    sys.path.insert(0, str(Path(args.official).resolve()))
    from models.bicycle_gan_model import BiCycleGANModel  # the official code, outside this repository

    opt = dict(
        isTrain=True, batch_size=args.batch, gpu_ids=[0] if args.device == "cuda" else [], checkpoints_dir="/tmp",
        name="bench", preprocess="resize_and_crop", input_nc=args.input_nc, output_nc=3, nz=8, ngf=64, nef=64, ndf=64,
        netG="unet_256", netE="resnet_256", netD="basic_256_multi", netD2="basic_256_multi", num_Ds=2, norm="instance",
        nl="relu", use_dropout=True, init_type="xavier", init_gain=0.02, where_add="all", upsample="basic",
        conditional_D=False, gan_mode="lsgan", lr=2e-4, beta1=0.5, direction="AtoB", lambda_L1=10.0, lambda_kl=0.01,
        lambda_z=0.5, lambda_GAN=1.0, lambda_GAN2=1.0, use_same_D=False,
    )  # fmt: skip
    torch.manual_seed(0)
    with contextlib.redirect_stdout(io.StringIO()):
        model = BiCycleGANModel(argparse.Namespace(**opt))
    times = []
    for i, (a, b) in enumerate(_inputs(args, args.warmup + args.iters)):
        _sync(args.device)
        start = time.perf_counter()
        model.set_input({"A": a, "B": b, "A_paths": [""] * args.batch, "B_paths": [""] * args.batch})
        model.optimize_parameters()
        _sync(args.device)
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    return times


def child_ours(args: argparse.Namespace, fused: bool) -> list[float]:
    import lightning as L
    import torch
    from torch.utils.data import DataLoader

    from translation_zoo.models.bicyclegan import BicycleGAN

    torch.manual_seed(0)
    model = BicycleGAN(input_nc=args.input_nc, output_nc=3, use_dropout=True, fused=True if fused else None)
    pairs = _inputs(args, args.warmup + args.iters)
    data = [{"A": a[i], "B": b[i]} for a, b in pairs for i in range(args.batch)]
    stamps: list[float] = []

    class Stamp(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            _sync(args.device)
            stamps.append(time.perf_counter())

        def on_train_epoch_start(self, trainer, pl_module):
            stamps.append(time.perf_counter())

    trainer = L.Trainer(
        accelerator="gpu" if args.device == "cuda" else "cpu",
        devices=1,
        max_epochs=1,
        precision="32-true",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
        callbacks=[Stamp()],
    )
    trainer.fit(model, DataLoader(data, batch_size=args.batch, shuffle=False))
    return [b - a for a, b in zip(stamps[:-1], stamps[1:])][args.warmup :]


def child(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    times = child_ref(args) if args.child == "ref" else child_ours(args, fused=args.child == "ours-fused")
    print("RESULT " + json.dumps({"times": times, "peak_mb": _peak_mb(args.device)}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official", default="/tmp/official_bicyclegan", help="a checkout of junyanz/BicycleGAN")
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=RUNS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--input-nc", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--child", choices=RUNS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return
    if "ref" in args.runs and not (Path(args.official) / "models" / "bicycle_gan_model.py").is_file():
        raise SystemExit(f"--official {args.official}: not a junyanz/BicycleGAN checkout (models/bicycle_gan_model.py)")
    results: dict[str, dict[str, list[float]]] = {r: {"times": [], "peak_mb": []} for r in args.runs}
    forwarded = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k not in ("runs", "child")]
    for _ in range(args.repeats):
        for run in args.runs:
            out = subprocess.run(
                [sys.executable, __file__, f"--child={run}", *forwarded], capture_output=True, text=True, check=False
            )
            line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                raise SystemExit(f"{run} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
            r = json.loads(line[len("RESULT ") :])
            results[run]["times"] += r["times"]
            results[run]["peak_mb"].append(r["peak_mb"])
    ref = statistics.median(results["ref"]["times"]) if "ref" in results else None
    print(
        f"\nBicycleGAN training iteration, {args.size}x{args.size}, batch {args.batch}, input_nc {args.input_nc}, "
        f"fp32, {args.device}, {args.threads} threads; {args.repeats} repeats x {args.iters} timed iterations\n"
    )
    print("| run | s / iteration (median, min-max) | vs official | peak memory (MB) |")
    print("|---|---|---|---|")
    for run, r in results.items():
        med = statistics.median(r["times"])
        ratio = f"{ref / med:.2f}x" if ref else "-"
        print(
            f"| {run} | {med:.3f} ({min(r['times']):.3f}-{max(r['times']):.3f}) | {ratio} | {max(r['peak_mb']):.0f} |"
        )


if __name__ == "__main__":
    main()
