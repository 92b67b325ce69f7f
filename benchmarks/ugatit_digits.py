"""Does U-GAT-IT translate MNIST digits into UCI digits, and keep the digit? Scored against "no translation".

    python benchmarks/ugatit_digits.py --iterations 100 --seeds 0 1 2        # the slow test's setting

Trains U-GAT-IT on the embedded "mnist_uci" task (A = MNIST digits, B = UCI handwritten digits, 32x32 grey) at
the paper's settings scaled to a CPU (the full model, ngf = ndf = 16, 2 residual blocks, global/local
discriminators with 5 and 3 layers, Adam 1e-4, the official schedule over ``--iterations``: constant for the first
half, then linear to 0), batch 8 (paper 1), then translates the 500 held-out MNIST test digits with G_s→t and scores
them in the feature space of a small CNN trained only on real UCI digits (``digits_uci``): FID against the distinct
real UCI test digits (is G(a) a UCI digit?) and that classifier's accuracy w.r.t. the source digit's label (does G
keep the digit? chance: 0.1). Baselines: the untranslated MNIST digits scored as if they were translations ("no
translation"), and the initialised G ("before").
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import lightning as L
import torch

from translation_zoo.data import DemoUnpairedDataModule
from translation_zoo.metrics import score_translations
from translation_zoo.models.ugatit import UGATIT


@torch.no_grad()
def score(translate: Callable[[torch.Tensor], torch.Tensor], loader) -> dict[str, float]:
    """FID and class accuracy of ``translate(A)`` in the UCI classifier's space; each real B counted once."""
    values = score_translations(translate, loader, ("fid", "acc"), "digits_uci")
    return {"fid": values["fid_digits_uci"], "acc": values["acc_digits_uci"]}


def train_and_score(
    iterations: int = 100,
    seed: int = 0,
    ngf: int = 16,
    batch_size: int = 8,
    max_dataset_size: int = 1600,
    **model_kw: object,
) -> dict[str, float]:
    """Train a small U-GAT-IT for ``iterations`` batches on mnist_uci; FID/accuracy of no translation, before and
    after training. ``model_kw``: further :class:`UGATIT` options (e.g. ``light``, ``lr``)."""
    L.seed_everything(seed, verbose=False)
    data = DemoUnpairedDataModule(batch_size=batch_size, max_dataset_size=max_dataset_size, num_workers=0)
    options = dict(input_nc=1, output_nc=1, ngf=ngf, ndf=ngf, n_res=2, img_size=32, n_layers_global=5)
    model = UGATIT(**{**options, "n_layers_local": 3, "n_iterations": iterations, **model_kw})
    data.prepare_data()
    data.setup("test")
    test_loader = data.test_dataloader()
    model.eval()
    result = {f"{k}_identity": v for k, v in score(lambda a: a, test_loader).items()}
    result.update({f"{k}_before": v for k, v in score(model, test_loader).items()})
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=2 * iterations,  # Lightning counts the D and the G step of every iteration
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    model.train()
    t0 = time.perf_counter()
    trainer.fit(model, datamodule=data)
    result["train_seconds"] = time.perf_counter() - t0
    model.eval()
    result.update({f"{k}_after": v for k, v in score(model, test_loader).items()})
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--ngf", type=int, default=16, help="ngf = ndf (paper 64)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-dataset-size", type=int, default=1600)
    p.add_argument("--light", action="store_true", help="the official light model")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(
        "| seed | iterations | FID no translation | FID before | FID after | acc no translation | acc before "
        "| acc after | train s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        r = train_and_score(args.iterations, seed, args.ngf, args.batch_size, args.max_dataset_size, light=args.light)
        print(
            f"| {seed} | {args.iterations} | {r['fid_identity']:.2f} | {r['fid_before']:.2f} | {r['fid_after']:.2f} | "
            f"{r['acc_identity']:.3f} | {r['acc_before']:.3f} | {r['acc_after']:.3f} | {r['train_seconds']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
