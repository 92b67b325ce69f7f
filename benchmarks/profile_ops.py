"""Where a training iteration's time goes: torch.profiler top operators, by category, for zoo models.

    python benchmarks/profile_ops.py --model pix2pix cyclegan --runs ours/32-true ours/fast

(Not named ``profile.py``: that would shadow the standard library's ``profile``, which ``cProfile`` imports.)

Each run is a fresh process (runs are named as in ``throughput.py``: ``ours/PRECISION[/OPTIONS]``, ``ours/fast``).
The model trains through ``lightning.Trainer`` on a fixed random batch; after ``--warmup`` iterations the
profiler records ``--iters`` iterations. Reported per run: the top operators by self CPU time (summed over
threads, so they can exceed the wall time on several cores), a breakdown by category, and the wall time that no
operator accounts for (Python, Lightning and the profiler itself).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import MODELS, parse_run  # noqa: E402

CATEGORIES = (
    # (category, substrings of operator names), first match wins
    ("conv backward", ("convolution_backward",)),
    ("conv forward", ("convolution", "conv2d", "conv_transpose")),
    ("norm", ("batch_norm", "instance_norm", "group_norm")),
    ("optimizer math", ("_fused_adam", "lerp", "addcdiv", "addcmul", "sqrt", "_foreach")),
    ("copy / fill / layout", ("copy_", "fill_", "zero_", "clone", "contiguous", "_to_copy", "cat", "empty")),
    ("padding", ("pad",)),
    ("activations", ("relu", "threshold", "tanh", "sigmoid", "leaky")),
)


def category(name: str) -> str:
    for cat, keys in CATEGORIES:
        if any(k in name for k in keys):
            return cat
    return "other elementwise / reductions"


def child(args: argparse.Namespace) -> dict:
    import importlib

    import lightning as L
    import torch
    from torch.profiler import ProfilerActivity, profile
    from torch.utils.data import DataLoader

    from translation_zoo.callbacks import ChannelsLast, NativeSmallConv

    torch.set_num_threads(args.threads)
    _, precision, opts = parse_run(args.child, args.model)
    module, cls_name = MODELS[args.model][0].rsplit(".", 1)
    torch.manual_seed(0)
    model = getattr(importlib.import_module(module), cls_name)(fused=True if "fused" in opts else None)
    g = torch.Generator().manual_seed(1234)
    item = {
        "A": torch.rand(3, args.size, args.size, generator=g) * 2 - 1,
        "B": torch.rand(3, args.size, args.size, generator=g) * 2 - 1,
    }
    first, last = args.warmup, args.warmup + args.iters
    out: dict = {}

    class Profiler(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if batch_idx == first:
                self.prof = profile(activities=[ProfilerActivity.CPU])
                self.prof.__enter__()
                self.t0 = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if batch_idx == last - 1:
                wall = (time.perf_counter() - self.t0) / args.iters
                self.prof.__exit__(None, None, None)
                ops = {}
                for e in self.prof.key_averages():
                    if e.key.startswith("aten::") or e.key.startswith("mkldnn"):
                        ops[e.key] = (e.self_cpu_time_total / 1e6 / args.iters, e.count // args.iters)
                optimizer = sum(
                    e.cpu_time_total for e in self.prof.key_averages() if e.key.startswith("Optimizer.step#")
                )
                out.update(wall_s=wall, ops=ops, optimizer_s=optimizer / 1e6 / args.iters)

    callbacks: list[L.Callback] = [Profiler()]
    if "small" in opts:
        callbacks.append(NativeSmallConv())
    if "cl" in opts:
        callbacks.append(ChannelsLast())
    trainer = L.Trainer(
        accelerator="cpu", devices=1, max_steps=2 * last, precision=precision, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        callbacks=callbacks,
    )
    trainer.fit(model, DataLoader([item] * last, batch_size=1))
    return out


def report(model: str, run: str, res: dict, top: int) -> None:
    ops = res["ops"]
    busy = sum(t for t, _ in ops.values())
    print(f"\n#### {model} {run}: {res['wall_s']:.2f} s wall per iteration (profiled)\n")
    print("| operator | self CPU s/iter | share of op time | calls/iter |")
    print("|---|---|---|---|")
    for name, (t, n) in sorted(ops.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"| `{name}` | {t:.3f} | {100 * t / busy:.1f}% | {n} |")
    cats: dict[str, float] = {}
    for name, (t, _) in ops.items():
        cats[category(name)] = cats.get(category(name), 0.0) + t
    print("\n| category | self CPU s/iter | share |")
    print("|---|---|---|")
    for cat, t in sorted(cats.items(), key=lambda kv: -kv[1]):
        print(f"| {cat} | {t:.3f} | {100 * t / busy:.1f}% |")
    print(f"| (optimizer step, all its ops) | {res['optimizer_s']:.3f} | {100 * res['optimizer_s'] / busy:.1f}% |")
    print(
        f"\nOperators account for {busy:.2f} CPU-s per iteration over {res['wall_s']:.2f} s wall on "
        f"{os.cpu_count()} cores."
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", nargs="+", choices=sorted(MODELS), default=["pix2pix", "cyclegan"])
    p.add_argument("--runs", nargs="+", default=["ours/32-true", "ours/fast"])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=2)
    p.add_argument("--top", type=int, default=12)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        args.model = args.model[0]
        print(json.dumps(child(args)))
        return
    load = os.getloadavg()
    print(f"# {' '.join(sys.argv)}\n# load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for model in args.model:
        for run in args.runs:
            parse_run(run, model)
            cmd = [sys.executable, __file__, "--child", run, "--model", model]
            for k in ("size", "warmup", "iters", "threads"):
                cmd += [f"--{k}", str(getattr(args, k))]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                raise RuntimeError(proc.stderr[-3000:])
            report(model, run, json.loads(proc.stdout.strip().splitlines()[-1]), args.top)
    load = os.getloadavg()
    print(f"\n# load average at end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
