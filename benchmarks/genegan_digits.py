"""GeneGAN on real digits: transplanting the "thick stroke" object from a reference, measured in pixels.

    python benchmarks/genegan_digits.py                                  # the slow test's settings
    python benchmarks/genegan_digits.py --iterations 600 --set lr=5e-5   # the official learning rate

GeneGAN trains on 4,000 MNIST digits (``digit_split("mnist")``: the shipped digit classifier's training part, 32x32
grey) labelled with the ``digits_attrs`` demo's ``Thick`` attribute measured from the pixels (stroke width above the
training median): Au = thick digits, B0 = thin ones. Each batch is split into its thick and thin halves as
:class:`~translation_zoo.models.genegan.GeneGAN` does with any attribute batch. Then the 1,000 held-out digits are
scored (each thin digit gets a thick held-out digit as its reference, drawn with a fixed seed):

* ``transplant_delta``: mean stroke width (ink pixels per skeleton pixel,
  :func:`translation_zoo.data.multidomain.digit_attributes`) of ``model(x, reference=r)`` minus that of
  ``model(x, target=1)`` — the same network with the digit's own object feature, the identity edit (the baseline:
  what the autoencoder alone does to the stroke); ``transplant_t``: the paired t statistic of that difference;
  ``transplant_delta_std``: the delta in units of the real held-out digits' stroke-width standard deviation;
  ``identity_delta``: the baseline's own change, stroke width of ``model(x, target=1)`` minus that of x;
* ``removal_delta``: for the thick held-out digits, stroke width of ``model(x, target=0)`` (object feature nulled)
  minus ``model(x, target=1)`` (negative: thinner);
* ``thick_flip``: the fraction of thin digits whose transplanted version measures above the training median while
  their identity edit does not;
* ``acc_transplant`` / ``acc_identity`` / ``acc_removed``: the shipped MNIST classifier's accuracy on those outputs
  w.r.t. the real labels (the digit kept); ``acc_real`` on the real digits.

Settings (``GENEGAN_DIGITS``): the official architecture at 32x32 grey with narrower networks (ngf = ndf = 16
instead of 128: C16-C32-C64 splitter, a 64x4x4 feature of which the last 16 channels are the object), the
official losses and weights, RMSProp(decay 0.8), weight clip 0.01, one critic step per generator step, batch 64
(about 31 thick/thin pairs), 300 iterations. Not official, for a run of a minute on one thread: no 100-step critic
boost at every 500th iteration, and a learning rate of 5e-4 instead of 5e-5 (``--set`` to change either).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from translation_zoo.data.multidomain import digit_attributes
from translation_zoo.metrics import DigitFeatures, digit_split
from translation_zoo.models.genegan import GeneGAN

GENEGAN_DIGITS: dict[str, Any] = {
    "input_nc": 1,
    "image_size": 32,
    "ngf": 16,
    "ndf": 16,
    "labels": "attributes",
    "n_domains": 1,
    "attribute": 0,
    "domain_names": ["Thick"],
    "n_critic_boost": 1,
    "lr": 5e-4,
}


class Digits(Dataset):
    """``{"image", "attrs"}`` items: digits (1, 32, 32) in [-1, 1] and the Thick flag (1,)."""

    def __init__(self, x: torch.Tensor, thick: torch.Tensor) -> None:
        self.x, self.thick = x, thick

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.x[i], "attrs": self.thick[i : i + 1]}


def stroke_width(x: torch.Tensor) -> np.ndarray:
    """Measured stroke width of digits (N, 1, S, S) in [-1, 1]."""
    return digit_attributes(x[:, 0].clamp(-1, 1).numpy())[:, 0]


def train(model: GeneGAN, data: Dataset, iterations: int, batch_size: int, seed: int) -> float:
    """``iterations`` generator iterations (each after its critic steps); seconds taken."""
    L.seed_everything(seed, verbose=False)
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, drop_last=True)
    steps = sum(model.critic_steps(i) + 1 for i in range(iterations))  # Lightning counts every optimiser step
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=-1,
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    start = time.perf_counter()
    trainer.fit(model, loader)
    return time.perf_counter() - start


@torch.no_grad()
def evaluate(
    model: GeneGAN, x_te: torch.Tensor, y_te: torch.Tensor, thick_te: torch.Tensor, median: float,
    classifier: DigitFeatures, seed: int = 0,
) -> dict[str, float]:  # fmt: skip
    model.eval()
    thin, thick = (~thick_te).nonzero().flatten(), thick_te.nonzero().flatten()
    g = torch.Generator().manual_seed(seed)
    refs = thick[torch.randint(len(thick), (len(thin),), generator=g)]
    x, r = x_te[thin], x_te[refs]
    transplanted = torch.cat([model(xb, reference=rb) for xb, rb in zip(x.split(250), r.split(250))])
    identity = torch.cat([model(xb, target=1) for xb in x.split(250)])
    w_real, w_t, w_id = stroke_width(x), stroke_width(transplanted), stroke_width(identity)
    diff = w_t - w_id
    out: dict[str, float] = {
        "transplant_delta": float(diff.mean()),
        "transplant_t": float(diff.mean() / (diff.std(ddof=1) / np.sqrt(len(diff)))),
        "transplant_delta_std": float(diff.mean() / stroke_width(x_te).std()),
        "identity_delta": float((w_id - w_real).mean()),
        "thick_flip": float(((w_t > median) & (w_id <= median)).mean()),
    }
    xt = x_te[thick]
    removed = torch.cat([model(xb, target=0) for xb in xt.split(250)])
    kept = torch.cat([model(xb, target=1) for xb in xt.split(250)])
    out["removal_delta"] = float((stroke_width(removed) - stroke_width(kept)).mean())

    def acc(images: torch.Tensor, labels: torch.Tensor) -> float:
        return float((classifier.features_and_logits(images)[1].argmax(1) == labels).float().mean())

    out["acc_transplant"] = acc(transplanted, y_te[thin])
    out["acc_identity"] = acc(identity, y_te[thin])
    out["acc_removed"] = acc(removed, y_te[thick])
    out["acc_real"] = acc(x_te, y_te)
    return out


def run(
    iterations: int = 300, seed: int = 0, batch_size: int = 64, options: dict[str, Any] | None = None
) -> dict[str, Any]:
    x_tr, _, x_te, y_te = digit_split("mnist")
    w_tr = stroke_width(x_tr)
    median = float(np.median(w_tr))
    thick_tr = torch.from_numpy(w_tr > median).float()
    thick_te = torch.from_numpy(stroke_width(x_te) > median)
    torch.manual_seed(seed)
    model = GeneGAN(**{**GENEGAN_DIGITS, **(options or {})})
    seconds = train(model, Digits(x_tr, thick_tr), iterations, batch_size, seed)
    result = evaluate(model, x_te, y_te, thick_te, median, DigitFeatures("mnist"), seed)
    return {"iterations": iterations, "seed": seed, "batch_size": batch_size, "seconds": round(seconds, 1), **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--set", nargs="*", default=[], help="model options KEY=VALUE (e.g. lr=5e-5)")
    args = parser.parse_args()
    options = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    for seed in args.seeds:
        r = run(args.iterations, seed, args.batch_size, options)
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}))


if __name__ == "__main__":
    main()
