"""Does a CVAE-GAN re-generate a digit with the requested attribute? Measured on held-out digits, against the identity
(copying the input).

    python benchmarks/cvaegan_digits.py                       # the slow test's settings
    python benchmarks/cvaegan_digits.py --iterations 1000 --set lambda_kl=1.0

The model trains on 4,000 MNIST digits (``digit_split("mnist")``: the shipped digit classifier's training part,
32x32 grey), conditioned on the attribute vector c of the ``digits_attrs`` demo (``Thick``, ``Slanted``, ``Wide``:
above the training median of stroke width, slant and ink width, measured from the pixels;
:func:`translation_zoo.data.multidomain.digit_attributes`). Then every one of the 1,000 held-out digits goes through
the model's inference path, ``model(x, target=c)``: C reads x's attributes, E encodes x with them, G decodes with the
target, which is C's reading with ``Thick`` set to 1 (on) and to 0 (off). Scores:

* ``thick_delta``: mean measured stroke width (ink pixels per skeleton pixel) at Thick = 1 minus at Thick = 0;
  ``thick_delta_std``: in units of the real held-out digits' standard deviation. The identity baseline (the output is
  the input whatever the target) scores 0.
* ``thick_up``: the fraction of digits whose stroke width grows from Thick = 0 to Thick = 1; ``thick_t``: the paired
  t statistic of the per-digit differences (identity: no difference at all).
* ``thick_flip``: the fraction of digits measured above the training median at Thick = 1 and not at Thick = 0 (the
  attribute switched on as the data labels it); identity: 0.
* ``acc_t0`` / ``acc_t1``: the shipped MNIST classifier's accuracy on the outputs w.r.t. the real digit labels (the
  digit kept; 0.1 = chance); ``acc_real`` on the real digits (the identity baseline's).
* ``clf_acc``: C's accuracy on the held-out digits' attributes; ``mse``: reconstruction error with the true attributes.

Settings (``CVAEGAN_DIGITS``, the quickstart's): the paper's losses and weights (λ 3, 1, 1e-3, 1e-3), Adam(2e-4,
(0.5, 0.999)), the DCGAN stacks at 32 px with nf 16 (16-32-64 filters, 4x4 features) and z of 32 dimensions,
batch 32 (the model defaults: nf 64, batch 64; a quarter of the filters and half the batch fit a CPU test).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import lightning as L
import numpy as np
import torch
from digit_attrs import THICK, Digits, measured
from torch.utils.data import DataLoader, Dataset

from translation_zoo.data.multidomain import DEMO_ATTRIBUTES
from translation_zoo.metrics import DigitFeatures, digit_split
from translation_zoo.models.cvaegan import CVAEGAN

CVAEGAN_DIGITS: dict[str, Any] = {
    "input_nc": 1,
    "n_domains": len(DEMO_ATTRIBUTES),
    "labels": "attributes",
    "domain_names": list(DEMO_ATTRIBUTES),
    "image_size": 32,
    "nz": 32,
    "nf": 16,
}


def train(model: CVAEGAN, data: Dataset, iterations: int, batch_size: int, seed: int) -> float:
    """``iterations`` iterations of Algorithm 1 (4 optimiser steps each); seconds taken."""
    L.seed_everything(seed, verbose=False)
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, drop_last=True)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=-1,
        max_steps=iterations * 4,  # Lightning counts every optimiser step: D, C, G, E
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
    model: CVAEGAN, x_te: torch.Tensor, y_te: torch.Tensor, a_te: torch.Tensor, thick_median: float,
    classifier: DigitFeatures,
) -> dict[str, float]:  # fmt: skip
    model.eval()
    real = measured(x_te)[:, THICK]
    out: dict[str, float] = {}
    decoded = {}
    for t in (0.0, 1.0):
        parts = []
        for xb in x_te.split(250):
            target = model.source_condition(xb)  # C's reading of the digit's attributes ...
            target[:, THICK] = t  # ... with Thick requested on / off
            parts.append(model(xb, target=target))
        decoded[t] = torch.cat(parts)
    t0, t1 = measured(decoded[0.0])[:, THICK], measured(decoded[1.0])[:, THICK]
    out["thick_t0"], out["thick_t1"] = float(t0.mean()), float(t1.mean())
    out["thick_delta"] = float((t1 - t0).mean())
    out["thick_delta_std"] = out["thick_delta"] / float(real.std())
    out["thick_flip"] = float(((t1 > thick_median) & (t0 <= thick_median)).mean())
    diff = t1 - t0
    out["thick_up"] = float((diff > 0).mean())  # digits made thicker by the request (identity: none)
    out["thick_t"] = float(diff.mean() / (diff.std(ddof=1) / np.sqrt(len(diff)) + 1e-12))  # paired t statistic
    for t in (0.0, 1.0):
        pred = classifier.features_and_logits(decoded[t])[1].argmax(1)
        out[f"acc_t{t:g}"] = float((pred == y_te).float().mean())
    out["acc_real"] = float((classifier.features_and_logits(x_te)[1].argmax(1) == y_te).float().mean())
    logits = torch.cat([model.clf(xb)[0] for xb in x_te.split(250)])
    out["clf_acc"] = float(((logits > 0).float() == a_te).float().mean())
    rec = torch.cat([model(xb, target=ab, source=ab) for xb, ab in zip(x_te.split(250), a_te.split(250))])
    out["mse"] = float(((rec - x_te) ** 2).mean())
    return out


def run(
    iterations: int = 450, seed: int = 0, batch_size: int = 32, options: dict[str, Any] | None = None
) -> dict[str, Any]:
    x_tr, _, x_te, y_te = digit_split("mnist")
    m_tr = measured(x_tr)
    median = np.median(m_tr, axis=0)
    a_tr = torch.from_numpy(m_tr > median).float()
    a_te = torch.from_numpy(measured(x_te) > median).float()
    classifier = DigitFeatures("mnist")
    torch.manual_seed(seed)
    model = CVAEGAN(**{**CVAEGAN_DIGITS, **(options or {})})
    seconds = train(model, Digits(x_tr, a_tr), iterations, batch_size, seed)
    result = evaluate(model, x_te, y_te, a_te, float(median[THICK]), classifier)
    # The identity baseline: the output is the input, whatever the target.
    identity = {"thick_delta": 0.0, "thick_up": 0.0, "thick_flip": 0.0, "acc": result["acc_real"]}
    return {
        "iterations": iterations, "seed": seed, "batch_size": batch_size, "options": options or {},
        "cvaegan": {"seconds": round(seconds, 1), **result}, "identity": identity,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=450)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--set", nargs="*", default=[], help="model options KEY=VALUE (e.g. lambda_kl=1.0)")
    args = parser.parse_args()
    options = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    for seed in args.seeds:
        r = run(args.iterations, seed, args.batch_size, options)
        print(json.dumps({k: ({kk: round(vv, 4) if isinstance(vv, float) else vv for kk, vv in v.items()}
                               if isinstance(v, dict) else v) for k, v in r.items()}))  # fmt: skip


if __name__ == "__main__":
    main()
