"""Does UNIT translate MNIST digits into UCI digits, and keep the digit? Scored against "no translation".

    python benchmarks/unit_digits.py --iterations 200 --seeds 0 1 2 --ngf 8 --lr 4e-4 --n-shared 2   # slow test

Trains UNIT on the embedded "mnist_uci" task (A = MNIST digits, B = UCI handwritten digits, 32x32 grey) at the
official settings scaled to a CPU (ngf = ndf = 16, 2 down-samplings, 2 residual blocks of which 1 shared, 3-layer
discriminators at 2 scales; the official losses and weights, Adam 1e-4 with weight decay 1e-4), batch 8 (paper 1),
then translates the 500 held-out MNIST test digits with G2(E1(x)) and scores them in the feature space of a small CNN
trained only on real UCI digits (``digits_uci``): FID against the distinct real UCI test digits (is the translation
a UCI digit?) and that classifier's accuracy w.r.t. the source digit's label (is the digit kept? chance: 0.1).
Baselines: the untranslated MNIST digits scored as if they were translations ("no translation"), and the
initialised model ("before").
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import lightning as L
import torch
import yaml

from translation_zoo.data import DemoUnpairedDataModule
from translation_zoo.metrics import score_translations
from translation_zoo.models.unit import UNIT

SETTINGS = dict(input_nc=1, output_nc=1, n_downsample=2, n_res=2, n_shared=1, n_layers_d=3, num_scales=2)


@torch.no_grad()
def score(translate: Callable[[torch.Tensor], torch.Tensor], loader) -> dict[str, float]:
    """FID and class accuracy of ``translate(A)`` in the UCI classifier's space; each real B counted once."""
    values = score_translations(translate, loader, ("fid", "acc"), "digits_uci")
    return {"fid": values["fid_digits_uci"], "acc": values["acc_digits_uci"]}


def train_and_score(
    iterations: int = 300,
    seed: int = 0,
    ngf: int = 16,
    batch_size: int = 8,
    max_dataset_size: int = 1600,
    **model_kw: object,
) -> dict[str, float]:
    """Train a small UNIT for ``iterations`` batches on mnist_uci; FID/accuracy of no translation, before and after
    training. ``model_kw``: further :class:`UNIT` options (e.g. ``n_shared``, ``lr``)."""
    L.seed_everything(seed, verbose=False)
    data = DemoUnpairedDataModule(batch_size=batch_size, max_dataset_size=max_dataset_size, num_workers=0)
    model = UNIT(**{**SETTINGS, "ngf": ngf, "ndf": ngf, **model_kw})
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
    p.add_argument("--iterations", type=int, default=300)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--ngf", type=int, default=16, help="ngf = ndf (paper 64)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-dataset-size", type=int, default=1600)
    p.add_argument("--n-shared", type=int, default=1, help="shared residual blocks (0: the official master code)")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="further UNIT options, e.g. lambda_cyc=20 n_res=3"
    )
    args = p.parse_args()
    extra = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    torch.set_num_threads(args.threads)
    print(
        "| seed | iterations | FID no translation | FID before | FID after | acc no translation | acc before "
        "| acc after | train s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        r = train_and_score(
            args.iterations,
            seed,
            args.ngf,
            args.batch_size,
            args.max_dataset_size,
            **{"n_shared": args.n_shared, "lr": args.lr, **extra},
        )
        print(
            f"| {seed} | {args.iterations} | {r['fid_identity']:.2f} | {r['fid_before']:.2f} | {r['fid_after']:.2f} | "
            f"{r['acc_identity']:.3f} | {r['acc_before']:.3f} | {r['acc_after']:.3f} | {r['train_seconds']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
