"""Does ALAE learn to draw digits, and does its autoencoder keep the digit? Scored on embedded real data.

    python benchmarks/alae_digits.py                                # the slow test's setting
    python benchmarks/alae_digits.py --batches 600 --seeds 0 1 2
    python benchmarks/alae_digits.py --option use_ema=false --option lr=0.0005   # model options (YAML values)

ALAE (the paper's MNIST MLP configuration, ``translation_zoo/models/alae.py``) trains on the embedded demo
``mnist_digits`` (the 4,000 MNIST digits the shipped digit classifier was trained on, 32x32 grey, as the official
MNIST records: digits padded to 32x32) for a fixed number of batches. Then, with the averaged networks the official
code samples with, before (initialised) and after training:

* samples: FID of 1,000 samples against the 1,000 held-out real digits in the classifier's feature space
  (``digits_mnist``), and the digits the classifier finds in at least 1 % of them (as benchmarks/backbones_digits.py);
* reconstructions G(E(x)) of the 1,000 held-out digits (never trained on): the digit classifier's accuracy on them
  against the true labels (chance: 0.1), and their FID.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml

from translation_zoo.data import DemoImageFolderDataModule
from translation_zoo.metrics import DigitFeatures, FrechetDistance, digit_split
from translation_zoo.models import TranslationGAN

#: The paper's MNIST MLP configuration as it is (official mnist_fc.yaml: latent 50, F 6 layers, 1024-unit G and E,
#: equalised-lr Adam 0.002 with β = (0, 0.99), R1 γ 10, EMA half-life 10,000 images), batch 128.
OPTIONS: dict[str, Any] = {"image_size": 32}
BATCH_SIZE = 128
BATCHES = 500


def _backbones():
    path = Path(__file__).resolve().parent / "backbones_digits.py"
    spec = importlib.util.spec_from_file_location("backbones_digits", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def alae_class() -> type[TranslationGAN]:
    from translation_zoo.models.alae import ALAE

    return ALAE


@torch.no_grad()
def score_reconstructions(model) -> dict[str, float]:
    """Digit accuracy and FID of G(E(x)) for the held-out digits x (digits_mnist classifier)."""
    extractor = DigitFeatures("mnist")
    _, _, x_test, y_test = digit_split("mnist")
    model.eval()
    rec = torch.cat([model.reconstruct(x) for x in x_test.split(250)])
    feats, logits = extractor.features_and_logits(rec)
    fid = FrechetDistance(extractor.num_features)
    fid.update(extractor(x_test), real=True)
    fid.update(feats, real=False)
    return {"rec_acc": float((logits.argmax(1) == y_test).float().mean()), "rec_fid": float(fid.compute())}


def train_and_score(
    seed: int = 0,
    batches: int = BATCHES,
    options: dict[str, Any] | None = None,
    batch_size: int = BATCH_SIZE,
    seconds: float | None = None,
) -> dict[str, float]:
    """Train ALAE on mnist_digits for ``batches`` batches (or ``seconds``); sample and reconstruction scores
    before and after."""
    backbones = _backbones()
    L.seed_everything(seed, verbose=False)
    model = alae_class()(**(OPTIONS if options is None else options))
    result = {f"before_{k}": v for k, v in {**backbones.score(model), **score_reconstructions(model)}.items()}
    L.seed_everything(seed, verbose=False)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[backbones.Budget(None if seconds else batches, seconds)],
    )
    model.train()
    t0 = time.perf_counter()
    trainer.fit(model, datamodule=DemoImageFolderDataModule(batch_size=batch_size))
    result["train_seconds"] = time.perf_counter() - t0
    result["batches"] = trainer.fit_loop.epoch_loop._batches_that_stepped
    result.update({f"after_{k}": v for k, v in {**backbones.score(model), **score_reconstructions(model)}.items()})
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, default=BATCHES)
    p.add_argument("--seconds", type=float, help="train for this wall-clock time instead of a number of batches")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="an ALAE option (YAML value)")
    args = p.parse_args()
    options = dict(OPTIONS)
    for item in args.option:
        key, value = item.split("=", 1)
        options[key] = yaml.safe_load(value)
    torch.set_num_threads(args.threads)
    print(f"options: {options}")
    print(
        "| seed | batches | train s | FID untrained | FID trained | classes (>= 1 %) | rarest "
        "| rec. acc. untrained | rec. acc. trained | rec. FID trained |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        r = train_and_score(seed, args.batches, options, seconds=args.seconds)
        print(
            f"| {seed} | {r['batches']} | {r['train_seconds']:.1f} | {r['before_fid']:.1f} | {r['after_fid']:.1f} "
            f"| {r['after_classes']}/10 | {100 * r['after_rarest']:.1f} % | {r['before_rec_acc']:.3f} "
            f"| {r['after_rec_acc']:.3f} | {r['after_rec_fid']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
