"""Does DualGAN translate MNIST digits into UCI digits, and keep the digit? Scored against "no translation".

    python benchmarks/dualgan_digits.py --epochs 2 --seeds 0 1 2

Trains DualGAN on the embedded "mnist_uci" task (A = MNIST digits, B = UCI handwritten digits, 32x32 grey), then
translates the held-out MNIST test digits with G_A: A -> B and scores them in the feature space of a small CNN
trained only on real UCI digits (``digits_uci``): FID against the distinct real UCI test digits (is G_A(a) a UCI
digit?) and that classifier's accuracy w.r.t. the source digit's label (does G_A keep the digit? chance: 0.1).
Baselines: the untranslated MNIST digits scored as if they were translations ("no translation"), and the
initialised G_A ("before").
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import lightning as L
import torch

from translation_zoo.data import DemoUnpairedDataModule
from translation_zoo.metrics import score_translations
from translation_zoo.models.dualgan import DualGAN


@torch.no_grad()
def score(translate: Callable[[torch.Tensor], torch.Tensor], loader) -> dict[str, float]:
    """FID and class accuracy of ``translate(A)`` in the UCI classifier's space; each real B counted once."""
    values = score_translations(translate, loader, ("fid", "acc"), "digits_uci")
    return {"fid": values["fid_digits_uci"], "acc": values["acc_digits_uci"]}


def train_and_score(
    epochs: int = 2,
    seed: int = 0,
    ngf: int = 16,
    max_dataset_size: int = 1600,
    batch_size: int = 8,
    lr: float = 5e-5,
    n_critic: int = 1,
    batches_per_epoch: int | None = None,
    **model_kw: object,
) -> dict[str, float]:
    """Train a small DualGAN on mnist_uci; return FID/accuracy of no translation, before and after training.

    ``model_kw``: further :class:`DualGAN` options (e.g. ``lambda_A``, ``clip_value``)."""
    L.seed_everything(seed, verbose=False)
    data = DemoUnpairedDataModule(batch_size=batch_size, max_dataset_size=max_dataset_size, num_workers=0)
    # 32x32 images: four U-Net levels (innermost 2x2) and three critic levels (a 2x2 map of scores), the
    # official layouts scaled down from 256 px; everything else at the paper's defaults unless given.
    model = DualGAN(
        input_nc=1, output_nc=1, ngf=ngf, ndf=ngf, num_downs=4, n_layers_D=3, lr=lr, n_critic=n_critic, **model_kw
    )
    data.prepare_data()
    data.setup("test")
    test_loader = data.test_dataloader()
    model.eval()
    result = {f"{k}_identity": v for k, v in score(lambda a: a, test_loader).items()}
    result.update({f"{k}_before": v for k, v in score(model, test_loader).items()})
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=epochs,
        limit_train_batches=batches_per_epoch,
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
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--ngf", type=int, default=16)
    p.add_argument("--max-dataset-size", type=int, default=1600)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--n-critic", type=int, default=1)
    p.add_argument("--batches-per-epoch", type=int, default=None)
    p.add_argument("--gan-mode", choices=["wgan", "wgan-gp"], default="wgan", help="clipping (paper) or the code's GP")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(
        "| seed | epochs | FID no translation | FID before | FID after | acc no translation | acc before | acc after "
        "| train s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        r = train_and_score(
            args.epochs,
            seed,
            args.ngf,
            args.max_dataset_size,
            args.batch_size,
            args.lr,
            args.n_critic,
            args.batches_per_epoch,
            gan_mode=args.gan_mode,
        )
        print(
            f"| {seed} | {args.epochs} | {r['fid_identity']:.2f} | {r['fid_before']:.2f} | {r['fid_after']:.2f} | "
            f"{r['acc_identity']:.3f} | {r['acc_before']:.3f} | {r['acc_after']:.3f} | {r['train_seconds']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
