"""Does CycleGAN keep the digit's class? The classic MNIST -> USPS-style check on the embedded real data.

    python benchmarks/cyclegan_digits.py --epochs 3 --seeds 0 1

Trains CycleGAN on the embedded "mnist_uci" task (A = MNIST digits, B = UCI handwritten digits, 32x32 grey),
then translates the held-out MNIST test digits with G: A -> B and classifies them with a small CNN trained only on
real UCI digits (``translation_zoo/metrics/weights/digits_uci.safetensors``). The score is the accuracy against
the source digit's label, before training (the initialised G) and after. For reference it also prints the
UCI classifier's accuracy on the *untranslated* MNIST digits (the domain gap G has to bridge).
"""

from __future__ import annotations

import argparse
import time

import lightning as L
import torch

from translation_zoo.data import DemoUnpairedDataModule, label_from_path
from translation_zoo.metrics import TranslationMetrics
from translation_zoo.models import CycleGAN


@torch.no_grad()
def class_accuracy(translate, loader) -> float:
    """Accuracy of the UCI digit classifier on ``translate(A)`` w.r.t. the labels in A's file names."""
    suite = TranslationMetrics(metrics=("acc",), feature_extractor="digits_uci", paired=False)
    for batch in loader:
        labels = torch.tensor([label_from_path(p) for p in batch["A_path"]])
        suite.update(translate(batch["A"]), batch["B"], labels)
    return float(next(iter(suite.compute().values())))


def train_and_score(
    epochs: int = 3,
    seed: int = 0,
    ngf: int = 16,
    max_dataset_size: int = 1600,
    batch_size: int = 8,
    precision: str = "32-true",
) -> dict[str, float]:
    """Train a small CycleGAN on mnist_uci and return class-preservation accuracies before/after."""
    L.seed_everything(seed, verbose=False)
    data = DemoUnpairedDataModule(batch_size=batch_size, max_dataset_size=max_dataset_size, num_workers=0)
    model = CycleGAN(
        input_nc=1,
        output_nc=1,
        netG="resnet_6blocks",
        ngf=ngf,
        ndf=ngf,
        n_epochs=max(1, epochs // 2),
        n_epochs_decay=epochs - max(1, epochs // 2),
    )
    data.prepare_data()
    data.setup("test")
    test_loader = data.test_dataloader()
    model.eval()
    result = {"identity": class_accuracy(lambda a: a, test_loader), "before": class_accuracy(model, test_loader)}
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=epochs,
        precision=precision,
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
    result["after"] = class_accuracy(model, test_loader)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--ngf", type=int, default=16)
    p.add_argument("--max-dataset-size", type=int, default=1600)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--precision", default="32-true")
    args = p.parse_args()
    print("| seed | epochs | UCI clf on raw MNIST | acc G(A) before | acc G(A) after | train s |")
    print("|---|---|---|---|---|---|")
    for seed in args.seeds:
        r = train_and_score(args.epochs, seed, args.ngf, args.max_dataset_size, args.batch_size, args.precision)
        print(
            f"| {seed} | {args.epochs} | {r['identity']:.3f} | {r['before']:.3f} | {r['after']:.3f} | "
            f"{r['train_seconds']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
