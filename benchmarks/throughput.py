"""Training/inference throughput of zoo models, each configuration in a fresh process.

    python benchmarks/throughput.py --model pix2pix --size 256 --batch 1 --precision 32-true bf16-mixed

For each precision: a fresh Python process builds the model with the paper's architecture, runs
``--warmup`` training iterations (one iteration = every player's update on one batch, through Lightning's
Trainer exactly as `lightning fit` runs it), then times ``--iters`` more, ``--repeats`` times. Reports the
median and spread of seconds per iteration, images/s, inference ms/image and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

MODELS = {
    # The official settings of each paper at its paper resolution (CycleGAN: resnet_9blocks for 256x256).
    "pix2pix": ("translation_zoo.models.Pix2Pix", {}),
    "cyclegan": ("translation_zoo.models.CycleGAN", {}),
}


def _child(args: argparse.Namespace) -> dict:
    import importlib

    import lightning as L
    import torch
    from torch.utils.data import DataLoader

    torch.set_num_threads(args.threads)
    module, cls_name = MODELS[args.model][0].rsplit(".", 1)
    cls = getattr(importlib.import_module(module), cls_name)
    torch.manual_seed(0)
    model = cls(**MODELS[args.model][1])
    n_iter = args.warmup + args.iters
    item = {"A": torch.rand(3, args.size, args.size) * 2 - 1, "B": torch.rand(3, args.size, args.size) * 2 - 1}
    loader = DataLoader([item] * (n_iter * args.batch), batch_size=args.batch)
    times: list[float] = []

    class Timer(L.Callback):
        def on_train_batch_start(self, *a):
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, *a):
            times.append(time.perf_counter() - self.t0)

    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        precision=args.precision,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Timer()],
    )
    trainer.fit(model, loader)
    step = times[args.warmup :]
    model.eval()
    x = item["A"].unsqueeze(0).expand(args.batch, -1, -1, -1).contiguous()
    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16, enabled=args.precision.startswith("bf16")):
        for _ in range(2):
            model(x)
        t0 = time.perf_counter()
        for _ in range(args.iters):
            model(x)
        infer = (time.perf_counter() - t0) / args.iters / args.batch
    return {
        "s_per_iter": statistics.median(step),
        "infer_ms_per_image": infer * 1e3,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(MODELS), default="pix2pix")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--precision", nargs="+", default=["32-true", "bf16-mixed"])
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(_child(args)))
        return
    print(f"# {args.model} {args.size}px batch {args.batch}, {args.threads} threads, {args.repeats} processes")
    print("| precision | s/iter (median) | spread (min-max) | images/s | inference ms/image | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for prec in args.precision:
        runs = []
        for _ in range(args.repeats):
            cmd = [sys.executable, __file__, "--child", "--precision", prec]
            for k in ("model", "size", "batch", "warmup", "iters", "threads"):
                cmd += [f"--{k}", str(getattr(args, k))]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
        its = [r["s_per_iter"] for r in runs]
        med = statistics.median(its)
        print(
            f"| {prec} | {med:.3f} | {min(its):.3f}-{max(its):.3f} | {args.batch / med:.2f} | "
            f"{statistics.median(r['infer_ms_per_image'] for r in runs):.1f} | "
            f"{max(r['peak_rss_mb'] for r in runs):.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
