"""Quality benchmark: the loss ablations of pix2pix (Table 1) and CycleGAN (Table 4) on the embedded real data.

    python benchmarks/quality.py                 # the full run of benchmarks/RESULTS.md (~15 min, 2-core CPU)
    python benchmarks/quality.py --quick         # smoke test (~1-2 min): tiny budget, numbers meaningless

pix2pix on ``mnist_edges`` (Canny edges -> MNIST digit, paired): "L1" (``lambda_gan=0``), "cGAN"
(``lambda_l1=0``) and "L1+cGAN" (the paper's objective). CycleGAN on ``mnist_uci`` (MNIST -> UCI digits,
unpaired): "Cycle alone" (``lambda_gan=0``) and "CycleGAN" (full objective). Every variant of a task gets
the same architecture, data, epochs, steps per epoch, batch size and seeds; only the ablated weight differs.

Each trained model is scored by its own ``test_step`` (``trainer.test``) on the task's whole test split:
FID / KID in the feature space of a small CNN trained on real digits of the *target* domain (``digits_mnist``,
``digits_uci``), the accuracy of that classifier on the translations w.r.t. the source digit's label (does the
output keep the input's class? -- the digits analogue of the paper's FCN-score), and for the paired task L1 /
PSNR / SSIM against the ground truth (images mapped to [0, 1]). Reference rows put the numbers on a scale:
real target-domain digits from the training split (the best a generator can hope for with this many test
images) and the untranslated input.

Training draws random batches from the whole training split (``limit_train_batches`` of a shuffled loader), so
a budget smaller than an epoch still sees every digit class in every epoch.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any

import lightning as L
import torch

from translation_zoo.data import DemoPairedDataModule, DemoUnpairedDataModule, label_from_path
from translation_zoo.metrics import PAIRED_METRICS, TranslationMetrics
from translation_zoo.models import CycleGAN, Pix2Pix

PIX2PIX_METRICS = ["fid", "kid", "acc", "l1", "psnr", "ssim"]
CYCLEGAN_METRICS = ["fid", "kid", "acc"]
# name -> (model class, feature extractor, metrics, {variant: the ablated hyper-parameters})
TASKS: dict[str, tuple[type[L.LightningModule], str, list[str], dict[str, dict[str, float]]]] = {
    "pix2pix": (
        Pix2Pix,
        "digits_mnist",
        PIX2PIX_METRICS,
        {"L1": {"lambda_gan": 0.0}, "cGAN": {"lambda_l1": 0.0}, "L1+cGAN": {}},
    ),
    "cyclegan": (CycleGAN, "digits_uci", CYCLEGAN_METRICS, {"Cycle alone": {"lambda_gan": 0.0}, "CycleGAN": {}}),
}
# Training batches per epoch: CycleGAN's step (six generator passes) costs ~8x pix2pix's here.
DEFAULT_STEPS = {"pix2pix": 150, "cyclegan": 60}
# Columns of the tables: (metric key as logged under test/, header, decimals).
COLUMNS = {
    "pix2pix": [
        ("fid_digits_mnist", "FID ↓", 2),
        ("kid_digits_mnist", "KID ↓", 3),
        ("acc_digits_mnist", "class acc ↑", 3),
        ("l1", "L1 ↓", 4),
        ("psnr", "PSNR ↑", 2),
        ("ssim", "SSIM ↑", 3),
    ],
    "cyclegan": [
        ("fid_digits_uci", "FID ↓", 2),
        ("kid_digits_uci", "KID ↓", 3),
        ("acc_digits_uci", "class acc ↑", 3),
        ("cyc_a", "‖F(G(a))−a‖₁", 4),
    ],
}


def data_module(task: str, batch_size: int) -> L.LightningDataModule:
    if task == "pix2pix":
        return DemoPairedDataModule("mnist_edges", batch_size=batch_size, num_workers=0)
    return DemoUnpairedDataModule("mnist_uci", batch_size=batch_size, num_workers=0)


def build_model(task: str, variant: str, ngf: int, epochs: int) -> L.LightningModule:
    cls, extractor, metrics, variants = TASKS[task]
    arch = {"netG": "unet_5d"} if task == "pix2pix" else {"netG": "resnet_6blocks"}
    # The papers' LR policy (constant, then linear decay to ~0), compressed into the budget.
    schedule = {"n_epochs": math.ceil(epochs / 2), "n_epochs_decay": epochs // 2}
    return cls(
        input_nc=1,
        output_nc=1,
        ngf=ngf,
        ndf=ngf,
        val_metrics=metrics,
        feature_extractor=extractor,
        **arch,
        **schedule,
        **variants[variant],
    )


def train_and_test(task: str, variant: str, seed: int, args: argparse.Namespace) -> dict[str, float]:
    """Train one variant from seed ``seed`` and return its test metrics (plus ``train_s``)."""
    L.seed_everything(seed, verbose=False)
    model = build_model(task, variant, args.ngf, args.epochs)
    data = data_module(task, args.batch_size)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=args.epochs,
        limit_train_batches=args.steps or DEFAULT_STEPS[task],
        limit_val_batches=0,  # scored once at the end, on the test split
        limit_test_batches=args.test_batches,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    t0 = time.perf_counter()
    trainer.fit(model, datamodule=data)
    train_s = time.perf_counter() - t0
    L.seed_everything(seed + 1000, verbose=False)  # pix2pix keeps dropout on at test time (paper §3.2)
    (result,) = trainer.test(model, datamodule=data, verbose=False)
    out = {k.removeprefix("test/"): float(v) for k, v in result.items()}
    out["train_s"] = train_s
    return out


def _labels(paths: Iterable[str]) -> torch.Tensor:
    return torch.tensor([label_from_path(p) for p in paths])


@torch.no_grad()
def reference_rows(task: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Scores of real images in place of translations, with the same metrics and test split."""
    _, extractor, metrics, _ = TASKS[task]
    data = data_module(task, args.batch_size)
    data.prepare_data()
    data.setup("fit")
    data.setup("test")
    test = [b for i, b in enumerate(data.test_dataloader()) if args.test_batches is None or i < args.test_batches]
    n_test = sum(len(b["A_path"]) for b in test)
    # Real target-domain digits from the training split, as many as the test split has sources.
    L.seed_everything(0, verbose=False)
    train_b: list[tuple[torch.Tensor, list[str]]] = []
    for b in data.train_dataloader():
        if sum(len(p) for _, p in train_b) >= n_test:
            break
        train_b.append((b["B"], b["B_path"]))

    def score(fakes: Callable[[int, dict[str, Any]], tuple[torch.Tensor, list[str]]], names: list[str]):
        suite = TranslationMetrics(names, extractor, paired=any(m in PAIRED_METRICS for m in names))
        seen: set[str] = set()
        for i, batch in enumerate(test):
            fake, fake_paths = fakes(i, batch)
            real = batch["B"]
            if task == "cyclegan":  # count each real B once, as the models' test_step does
                keep = [j for j, p in enumerate(batch["B_path"]) if p not in seen and not seen.add(p)]
                real = real[keep]
            suite.update(fake, real, _labels(fake_paths))
        return {k: float(v) for k, v in suite.compute().items()}

    unpaired = [m for m in metrics if m in ("fid", "kid", "acc")]
    rows = {
        # The input itself, scored as if it were a translation.
        "input (no translation)": score(lambda i, b: (b["A"], b["A_path"]), metrics if task == "pix2pix" else unpaired),
    }
    if len(train_b) >= len(test):
        rows["real targets (train split)"] = score(lambda i, b: train_b[i], unpaired)
    return rows


def fmt(values: list[float], decimals: int) -> str:
    if not values:
        return "–"
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.{decimals}f}"
    return f"{mean:.{decimals}f} ± {statistics.stdev(values):.{decimals}f}"


def table(task: str, runs: dict[str, list[dict[str, float]]], refs: dict[str, dict[str, float]]) -> str:
    cols = COLUMNS[task]
    lines = ["| variant | " + " | ".join(h for _, h, _ in cols) + " | train s |", "|---" * (len(cols) + 2) + "|"]
    for name, results in runs.items():
        cells = [fmt([r[k] for r in results if k in r], d) for k, _, d in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {fmt([r['train_s'] for r in results], 0)} |")
    for name, r in refs.items():
        cells = [fmt([r[k]] if k in r else [], d) for k, _, d in cols]
        lines.append(f"| *{name}* | " + " | ".join(cells) + " | – |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=["pix2pix", "cyclegan"])
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help=f"training batches per epoch, random from the whole train split (default: {DEFAULT_STEPS})",
    )
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--ngf", type=int, default=16, help="generator and discriminator width (paper 64)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--test-batches", type=int, default=None, help="limit the test split (default: all of it)")
    # One thread: these small networks lost up to 15x to thread contention with 2 threads on the shared 2-core
    # machine the results were measured on; on an idle machine, try --threads 2.
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", help="also write every result to this file")
    p.add_argument("--quick", action="store_true", help="smoke test: 1 epoch of 3 steps, 2 test batches, ngf 8")
    args = p.parse_args()
    if args.quick:
        args.epochs, args.test_batches, args.ngf = 1, 2, 8
        args.steps = args.steps or 3
    torch.set_num_threads(args.threads)

    print(
        f"# torch {torch.__version__}, lightning {L.__version__}, {platform.processor() or platform.machine()}, "
        f"{args.threads} threads; {args.epochs} epochs x {args.steps or DEFAULT_STEPS} steps, batch {args.batch_size}, "
        f"ngf=ndf={args.ngf}, seeds {args.seeds}",
        flush=True,
    )
    everything: dict[str, Any] = {"args": vars(args), "torch": torch.__version__}
    t_start = time.perf_counter()
    for task in args.tasks:
        runs: dict[str, list[dict[str, float]]] = {}
        for variant in TASKS[task][3]:
            for seed in args.seeds:
                r = train_and_test(task, variant, seed, args)
                runs.setdefault(variant, []).append(r)
                rounded = {k: round(v, 4) for k, v in r.items()}
                print(f"  {task} {variant} seed {seed}: {json.dumps(rounded)}", flush=True)
        refs = reference_rows(task, args)
        everything[task] = {"runs": runs, "references": refs}
        print(f"\n## {task}\n\n{table(task, runs, refs)}\n", flush=True)
    total = time.perf_counter() - t_start
    print(f"total {total / 60:.1f} min", flush=True)
    everything["total_s"] = total
    if args.json:
        with open(args.json, "w") as f:
            json.dump(everything, f, indent=2)


if __name__ == "__main__":
    main()
