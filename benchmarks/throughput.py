"""Training and inference throughput of zoo models, side by side with the official implementation.

    python benchmarks/throughput.py --model pix2pix cyclegan --runs ours/32-true ours/fast ref/32-true \\
        --reference /path/to/pytorch-CycleGAN-and-pix2pix --repeats 3

Every run is a fresh Python process: it builds the model with the paper's settings (pix2pix: unet_256, basic D,
batch norm, vanilla GAN; CycleGAN: resnet_9blocks, instance norm, LSGAN, pool 50; both batch 1 at 256x256 unless
told otherwise), counts the FLOPs of one training iteration with ``torch.utils.flop_counter.FlopCounterMode``,
runs ``--warmup`` iterations, times ``--iters`` more, then times generator inference. The runs of one model are
interleaved (repeat 1 of every run, then repeat 2, ...), so a change in the machine's load hits all of them alike;
the machine's matmul and convolution peaks (fp32 and bf16) are measured in the same rotation.

A run is ``IMPL/PRECISION[/OPTIONS]``:

* ``ours``: the zoo's LightningModule driven by ``lightning.Trainer`` exactly as ``lightning fit`` drives it
  (an iteration is timed from the end of one batch to the end of the next, so the data loader and Lightning's
  per-step work are included).
* ``bare``: the zoo's networks and losses in a plain PyTorch loop with the same math as ``ours`` (no
  Lightning): ``ours`` vs ``bare`` is Lightning's per-step cost, logging included.
* ``ref``: the official model classes (``--reference`` checkout) driven as the official ``train.py`` drives them:
  ``set_input`` + ``optimize_parameters`` on the same input tensors; bf16 via ``torch.autocast``.
* ``PRECISION``: ``32-true`` or ``bf16-mixed`` (Lightning's names).
* ``OPTIONS`` (``+``-separated): ``fused`` (fused Adam), ``cl`` (channels-last, with the instance-norm guard for
  ours), ``small`` (``NativeSmallConv``: native CPU kernels for convolutions on tiny inputs).
* ``ours/fast`` and ``ours/fast-bf16``: the settings the recipes use (see ``FAST``).

Output: a markdown table per model with seconds per iteration (median and min-max over every timed iteration
of every repeat), iterations and images per second, the ratio to ``ref/32-true``, inference ms per image,
GFLOP per iteration, achieved GFLOP/s and its share of the measured peak, and peak resident memory.
"""

from __future__ import annotations

import argparse
import contextlib
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

MODELS = {
    # The official settings of each paper at its paper resolution.
    "pix2pix": ("translation_zoo.models.Pix2Pix", {}),
    "cyclegan": ("translation_zoo.models.CycleGAN", {}),
}
# The recommended fast settings per model (what the recipes enable), by measurement on a 2-core AVX-512 CPU
# without native bf16: see benchmarks/RESULTS.md. bf16-mixed is listed separately because it only pays off on
# CPUs with AVX512-BF16/AMX and on recent GPUs.
FAST = {
    "pix2pix": "32-true/fused+small",
    "cyclegan": "32-true/fused",
}
FAST_BF16 = {
    "pix2pix": "bf16-mixed/fused+cl",
    "cyclegan": "bf16-mixed/fused",
}
OPTIONS = ("fused", "cl", "small")
PRECISIONS = ("32-true", "bf16-mixed")


def parse_run(run: str, model: str) -> tuple[str, str, frozenset[str]]:
    """``"ours/32-true/fused+cl"`` -> ("ours", "32-true", {"fused", "cl"}); expands ``ours/fast``."""
    if run == "ours/fast":
        run = "ours/" + FAST[model]
    elif run == "ours/fast-bf16":
        run = "ours/" + FAST_BF16[model]
    parts = run.split("/")
    if len(parts) not in (2, 3) or parts[0] not in ("ours", "bare", "ref") or parts[1] not in PRECISIONS:
        raise SystemExit(
            f"bad run {run!r}: expected IMPL/PRECISION[/OPT+OPT], IMPL ours|bare|ref, PRECISION {PRECISIONS}"
        )
    opts = frozenset(parts[2].split("+")) if len(parts) == 3 and parts[2] else frozenset()
    if opts - set(OPTIONS):
        raise SystemExit(f"bad options {sorted(opts - set(OPTIONS))} in {run!r}; choose from {OPTIONS}")
    return parts[0], parts[1], opts


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# ------------------------------------------------------------------------------------------ child processes
def _inputs(args: argparse.Namespace):
    import torch

    g = torch.Generator().manual_seed(1234)  # the same A and B for every run
    shape = (args.batch, args.channels, args.size, args.size)
    return torch.rand(shape, generator=g) * 2 - 1, torch.rand(shape, generator=g) * 2 - 1


def _time_inference(forward, x, iters: int, bf16: bool) -> float:
    import torch

    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
        forward(x)
        t0 = time.perf_counter()
        for _ in range(iters):
            forward(x)
    return (time.perf_counter() - t0) / iters / x.shape[0]


def _build_model(args: argparse.Namespace, opts: frozenset[str]):
    """The zoo model of ``args.model`` with the paper's settings and the run's overrides, seeded."""
    import importlib

    import torch

    module, cls_name = MODELS[args.model][0].rsplit(".", 1)
    torch.manual_seed(0)
    kwargs = dict(MODELS[args.model][1], fused=True if "fused" in opts else None)
    if args.ngf:
        kwargs.update(ngf=args.ngf, ndf=args.ngf)
    if args.model_args:
        kwargs.update(json.loads(args.model_args))
    return getattr(importlib.import_module(module), cls_name)(**kwargs)


def child_ours(args: argparse.Namespace, precision: str, opts: frozenset[str]) -> dict:
    import lightning as L
    import torch
    from torch.utils.data import DataLoader
    from torch.utils.flop_counter import FlopCounterMode

    from translation_zoo.callbacks import ChannelsLast, NativeSmallConv

    base_rss = rss_mb()
    model = _build_model(args, opts)
    a, b = _inputs(args)
    n_batches = 1 + args.warmup + args.iters  # batch 0 counts FLOPs
    items = [{"A": a[i], "B": b[i], "A_path": "a", "B_path": "b"} for i in range(args.batch)]
    loader = DataLoader(items * n_batches, batch_size=args.batch)
    result: dict = {}

    class Probe(L.Callback):
        def __init__(self) -> None:
            self.ends: list[float] = []

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if batch_idx == 0:
                self.flops = FlopCounterMode(display=False)
                self.flops.__enter__()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if batch_idx == 0:
                self.flops.__exit__(None, None, None)
                result["flop_per_iter"] = self.flops.get_total_flops()
            self.ends.append(time.perf_counter())

        def on_train_end(self, trainer, pl_module):
            # Inside fit, so the fast paths (installed by callbacks until teardown) apply to inference too.
            pl_module.eval()
            x = a.contiguous(memory_format=torch.channels_last) if "cl" in opts else a
            result["infer_s_per_image"] = _time_inference(pl_module, x, args.infer_iters, precision != "32-true")
            pl_module.train()

    probe = Probe()
    callbacks: list[L.Callback] = [probe]
    if "small" in opts:
        callbacks.append(NativeSmallConv())
    if "cl" in opts:
        callbacks.append(ChannelsLast())
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        precision=precision,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=callbacks,
    )
    trainer.fit(model, loader)
    ends = probe.ends
    result["iter_s"] = [ends[i] - ends[i - 1] for i in range(1 + args.warmup, len(ends))]
    result["base_rss_mb"] = base_rss
    return result


def child_bare(args: argparse.Namespace, precision: str, opts: frozenset[str]) -> dict:
    """Our model's networks and losses, stepped by a plain loop (the official train.py's structure)."""
    import torch
    import torch.nn.functional as F

    from translation_zoo.callbacks.fastpaths import guard_instance_norm, to_channels_last, use_native_small_conv

    base_rss = rss_mb()
    model = _build_model(args, opts)
    (opt_g, opt_d), _ = model.configure_optimizers()
    a, b = _inputs(args)
    if "small" in opts:
        use_native_small_conv(model)
    if "cl" in opts:
        model.to(memory_format=torch.channels_last)
        guard_instance_norm(model)
        a, b = to_channels_last(a), to_channels_last(b)
    hp, gan = model.hparams, model.criterion_gan
    bf16 = precision != "32-true"

    def update(opt, loss):
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def requires_grad(nets, flag):
        for net in nets:
            for p in net.parameters():
                p.requires_grad_(flag)

    def pix2pix_iteration():
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            fake_b = model.gen(a)
            requires_grad([model.disc], True)
            loss_d = 0.5 * gan(model.disc(torch.cat([a, fake_b.detach()], 1)), False) + 0.5 * gan(
                model.disc(torch.cat([a, b], 1)), True
            )
        update(opt_d, loss_d)
        requires_grad([model.disc], False)
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            loss_g = hp.lambda_l1 * F.l1_loss(fake_b, b) + gan(
                model.disc(torch.cat([a, fake_b], 1)), True, for_discriminator=False
            )
        update(opt_g, loss_g)

    def cyclegan_iteration():
        m = model
        requires_grad([m.disc_a, m.disc_b], False)
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            fake_b, fake_a = m.gen_a2b(a), m.gen_b2a(b)
            rec_a, rec_b = m.gen_b2a(fake_b), m.gen_a2b(fake_a)
            loss_g = (
                gan(m.disc_b(fake_b), True, for_discriminator=False)
                + gan(m.disc_a(fake_a), True, for_discriminator=False)
                + hp.lambda_A * F.l1_loss(rec_a, a)
                + hp.lambda_B * F.l1_loss(rec_b, b)
                + hp.lambda_B * hp.lambda_identity * F.l1_loss(m.gen_a2b(b), b)
                + hp.lambda_A * hp.lambda_identity * F.l1_loss(m.gen_b2a(a), a)
            )
        update(opt_g, loss_g)
        requires_grad([m.disc_a, m.disc_b], True)
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            pooled_b, pooled_a = m.fake_b_pool.query(fake_b), m.fake_a_pool.query(fake_a)
            loss_d = m._disc_loss(m.disc_b, b, pooled_b) + m._disc_loss(m.disc_a, a, pooled_a)
        update(opt_d, loss_d)

    iteration = pix2pix_iteration if args.model == "pix2pix" else cyclegan_iteration
    return _time_loop(args, iteration, model.gen if args.model == "pix2pix" else model.gen_a2b, a, bf16, base_rss)


def _time_loop(args: argparse.Namespace, iteration, generator, a, bf16: bool, base_rss: float) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as flops:
        iteration()
    for _ in range(args.warmup):
        iteration()
    times = []
    for _ in range(args.iters):
        t0 = time.perf_counter()
        iteration()
        times.append(time.perf_counter() - t0)
    return {
        "iter_s": times,
        "flop_per_iter": flops.get_total_flops(),
        "infer_s_per_image": _time_inference(generator, a, args.infer_iters, bf16),
        "base_rss_mb": base_rss,
    }


def child_ref(args: argparse.Namespace, precision: str, opts: frozenset[str]) -> dict:
    import torch

    sys.path.insert(0, str(Path(args.reference).resolve()))
    base_rss = rss_mb()
    # The official command-line options of train.py for each paper, as the `opt` namespace its models read.
    opt = types.SimpleNamespace(
        isTrain=True, gpu_ids=[], checkpoints_dir=str(Path(args.tmp) / "ref_checkpoints"), name="bench",
        preprocess="resize_and_crop", input_nc=3, output_nc=3, ngf=args.ngf or 64, ndf=args.ngf or 64, netD="basic",
        n_layers_D=3, init_type="normal", init_gain=0.02, lr=2e-4, beta1=0.5, direction="AtoB", continue_train=False,
        verbose=False, epoch_count=1, n_epochs=100, n_epochs_decay=100, niter=100, niter_decay=100, lr_policy="linear",
    )
    if args.model == "cyclegan":
        from models.cycle_gan_model import CycleGANModel as RefModel

        opt.__dict__.update(
            model="cycle_gan", netG="resnet_9blocks", norm="instance", no_dropout=True, gan_mode="lsgan",
            pool_size=50, lambda_A=10.0, lambda_B=10.0, lambda_identity=0.5, dataset_mode="unaligned",
        )
    else:
        from models.pix2pix_model import Pix2PixModel as RefModel

        opt.__dict__.update(
            model="pix2pix", netG="unet_256", norm="batch", no_dropout=False, gan_mode="vanilla", pool_size=0,
            lambda_L1=100.0, dataset_mode="aligned",
        )
    torch.manual_seed(0)
    with contextlib.redirect_stdout(io.StringIO()):  # the official code prints its network summaries
        model = RefModel(opt)
    a, b = _inputs(args)
    if "fused" in opts:
        for optimizer in model.optimizers:
            for group in optimizer.param_groups:
                group["fused"] = True
    if "cl" in opts:
        for name in model.model_names:
            getattr(model, "net" + name).to(memory_format=torch.channels_last)
        a, b = a.contiguous(memory_format=torch.channels_last), b.contiguous(memory_format=torch.channels_last)
    bf16 = precision != "32-true"
    data = {"A": a, "B": b, "A_paths": ["a"] * args.batch, "B_paths": ["b"] * args.batch}

    def iteration():
        model.set_input(data)
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            model.optimize_parameters()

    net_g = model.netG_A if args.model == "cyclegan" else model.netG  # official test.py: train mode without --eval
    return _time_loop(args, iteration, net_g, a, bf16, base_rss)


def child_peak(args: argparse.Namespace) -> dict:
    """Best-of-N GFLOP/s of a big matmul and a big 3x3 convolution, fp32 and bf16."""
    import torch
    import torch.nn.functional as F

    def best(fn, flop: float, n: int = 5) -> float:
        fn()
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return flop / min(ts) / 1e9

    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        m = torch.randn(2048, 2048, dtype=dtype)
        out[f"matmul_{name}"] = best(lambda m=m: m @ m, 2 * 2048**3)
        x = torch.randn(2, 256, 64, 64, dtype=dtype)
        w = torch.randn(256, 256, 3, 3, dtype=dtype)
        out[f"conv_{name}"] = best(lambda x=x, w=w: F.conv2d(x, w, padding=1), 2 * 2 * 256 * 256 * 9 * 64 * 64)
    return out


def child_main(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    if args.child == "peak":
        res = child_peak(args)
    else:
        impl, precision, opts = parse_run(args.child, args.model)
        res = {"ours": child_ours, "bare": child_bare, "ref": child_ref}[impl](args, precision, opts)
    if args.child != "peak":
        res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(res))


# ------------------------------------------------------------------------------------------------ parent
def run_child(args: argparse.Namespace, spec: str, model: str) -> dict:
    cmd = [sys.executable, __file__, "--child", spec, "--model", model]
    keys = ("size", "batch", "channels", "warmup", "iters", "infer_iters", "threads", "ngf", "model_args", "reference")
    for k in (*keys, "tmp"):
        v = getattr(args, k)
        if v is not None:
            cmd += [f"--{k.replace('_', '-')}", str(v)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"run {spec} of {model} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fmt_s(v: float) -> str:
    return f"{v:.2f}" if v >= 0.1 else f"{v * 1e3:.1f}ms"


def report(model: str, runs: list[str], results: dict[str, list[dict]], peaks: list[dict], args) -> dict:
    peak = {k: statistics.median(p[k] for p in peaks) for k in peaks[0]} if peaks else {}
    summary: dict = {"model": model, "peak_gflops": peak, "runs": {}}
    for run in runs:
        rs = results[run]
        its = [t for r in rs for t in r["iter_s"]]
        per_process = [statistics.median(r["iter_s"]) for r in rs]
        med = statistics.median(its)
        flop = statistics.median(r["flop_per_iter"] for r in rs)
        bf16 = "bf16" in parse_run(run, model)[1]
        summary["runs"][run] = {
            "s_per_iter_median": med,
            "s_per_iter_min": min(its),
            "s_per_iter_max": max(its),
            "process_medians": per_process,
            "n_iters": len(its),
            "gflop_per_iter": flop / 1e9,
            "gflops": flop / med / 1e9,
            "peak_key": "conv_bf16" if bf16 else "conv_fp32",
            "infer_ms_per_image": 1e3 * statistics.median(r["infer_s_per_image"] for r in rs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
            "delta_rss_mb": max(r["peak_rss_mb"] - r["base_rss_mb"] for r in rs),
        }
    ref = summary["runs"].get("ref/32-true")
    print(f"\n### {model}: {args.size}x{args.size}, batch {args.batch}, {args.threads} threads")
    if peak:
        print(
            "Measured peak GFLOP/s (median of the repeats): "
            + ", ".join(f"{k.replace('_', ' ')} {v:.0f}" for k, v in peak.items())
        )
    print()
    print(
        "| run | s/iter median | min-max | it/s | images/s | vs ref/32-true | infer ms/image | GFLOP/iter | GFLOP/s "
        "| % of conv peak | peak RSS MB (above imports) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for run, s in summary["runs"].items():
        ratio = f"{ref['s_per_iter_median'] / s['s_per_iter_median']:.2f}x" if ref else "-"
        if ref:
            s["ratio_vs_ref"] = ref["s_per_iter_median"] / s["s_per_iter_median"]
        share = f"{100 * s['gflops'] / peak[s['peak_key']]:.0f}%" if peak else "-"
        print(
            f"| {run} | {fmt_s(s['s_per_iter_median'])} | {fmt_s(s['s_per_iter_min'])}-{fmt_s(s['s_per_iter_max'])} "
            f"| {1 / s['s_per_iter_median']:.3f} | {args.batch / s['s_per_iter_median']:.3f} | {ratio} "
            f"| {s['infer_ms_per_image']:.0f} | {s['gflop_per_iter']:.0f} | {s['gflops']:.1f} | {share} "
            f"| {s['peak_rss_mb']:.0f} ({s['delta_rss_mb']:.0f}) |",
            flush=True,
        )
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", nargs="+", choices=sorted(MODELS), default=["pix2pix", "cyclegan"])
    p.add_argument("--runs", nargs="+", default=["ours/32-true", "ours/fast", "ref/32-true"])
    p.add_argument("--reference", help="checkout of junyanz/pytorch-CycleGAN-and-pix2pix (needed for ref/... runs)")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--ngf", type=int, help="override ngf and ndf (e.g. 8, to expose per-step overhead)")
    p.add_argument("--channels", type=int, default=3, help="image channels (set input_nc/output_nc to match)")
    p.add_argument(
        "--model-args", help='JSON of constructor arguments for ours/bare runs, e.g. \'{"netG": "unet_5d"}\''
    )
    p.add_argument("--warmup", type=int, default=1, help="iterations before timing (after the FLOP-count one)")
    p.add_argument("--iters", type=int, default=3, help="timed iterations per process")
    p.add_argument("--infer-iters", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3, help="fresh processes per run, interleaved")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--no-peak", action="store_true", help="skip the matmul/conv peak measurement")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--tmp", default="/tmp/translation_zoo_bench")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        args.model = args.model[0]
        return child_main(args)
    for model in args.model:
        for run in args.runs:
            if parse_run(run, model)[0] == "ref" and not args.reference:
                raise SystemExit(f"run {run} needs --reference /path/to/pytorch-CycleGAN-and-pix2pix")
            if parse_run(run, model)[0] == "ref" and (args.model_args or args.channels != 3):
                raise SystemExit("--model-args and --channels apply to ours/bare runs only")
    load0 = os.getloadavg()
    print(f"# {' '.join(sys.argv)}")
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average at start "
        f"{load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}; {args.repeats} interleaved repeats x {args.iters} timed "
        f"iterations after {args.warmup} warm-up"
    )
    summaries = []
    for model in args.model:
        results: dict[str, list[dict]] = {run: [] for run in args.runs}
        peaks = []
        for _ in range(args.repeats):
            if not args.no_peak:
                peaks.append(run_child(args, "peak", model))
            for run in args.runs:
                results[run].append(run_child(args, run, model))
        summaries.append(report(model, args.runs, results, peaks, args))
    load1 = os.getloadavg()
    print(f"\n# load average at end {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"argv": sys.argv, "load_start": load0, "load_end": load1, "models": summaries}, indent=1)
        )


if __name__ == "__main__":
    main()
