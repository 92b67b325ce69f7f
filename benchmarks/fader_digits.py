"""Does sliding a Fader Networks attribute change it? Measured on held-out digits, against an autoencoder without the
latent discriminator (λ_E = 0).

    python benchmarks/fader_digits.py                                   # the slow test's settings
    python benchmarks/fader_digits.py --iterations 1000 --models fader --set lambda_lat_dis=1e-3

Both models train on the same 4,000 MNIST digits (``digit_split("mnist")``: the shipped digit classifier's training
part, 32x32 grey) with the attributes of the ``digits_attrs`` demo measured from the pixels (``Thick``, ``Slanted``,
``Wide``: above the training median of stroke width, slant, ink width), for the same iterations, batch and seed.
Then every one of the 1,000 held-out digits is decoded twice from its own latent, with the ``Thick`` fader at α = 0
and at α = 1 (the other attributes at the digit's own values), and scored:

* ``thick_delta``: mean measured stroke width at α = 1 minus at α = 0 (pixels of ink per skeleton pixel;
  :func:`translation_zoo.data.multidomain.digit_attributes`); ``thick_delta_std``: the same in units of the
  standard deviation of the real held-out digits' stroke width;
* ``thick_flip``: the fraction of digits whose measured stroke width is above the training median at α = 1 and not
  at α = 0 (the attribute, as the data labels it, switched on by the fader);
* ``acc_a0`` / ``acc_a1``: the shipped MNIST classifier's accuracy on the decoded digits w.r.t. the real labels
  (the digit kept; 1 = all kept, 0.1 = chance); ``acc_real`` on the real digits;
* ``mse``: reconstruction error with the true attributes; ``lat_dis_acc``: the latent discriminator's accuracy on
  the held-out latents (chance 0.5 per attribute; low when the latent hides the attributes).

Fader Networks on the digits (``FADER_DIGITS``): the official layout scaled to 32x32 — 3 encoder/decoder layers
(C32-C64-C128, a 128x4x4 latent, as the official 6 layers give a 4x4 latent at 256 px), the latent discriminator
down to 1x1 with dropout 0.3 and a 512-wide MLP, Adam(2e-4, (0.5, 0.999)), batch 32, gradient clip 5, one latent
discriminator step per autoencoder step (all official). Not official: λ_E's ramp is shortened from 500,000 to
``--iterations`` / 2 iterations, and λ_E (``lambda_lat_dis``) is 1e-2 here, 100x the official 1e-4: at 1,000
iterations 1e-3 moved the stroke width by 0.17, 1e-2 by 0.28 (see benchmarks/RESULTS.md; ``--set`` to change).
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
from translation_zoo.models.fader import FaderNetworks

FADER_DIGITS: dict[str, Any] = {
    "input_nc": 1,
    "n_domains": len(DEMO_ATTRIBUTES),
    "labels": "attributes",
    "domain_names": list(DEMO_ATTRIBUTES),
    "image_size": 32,
    "n_layers": 3,
    "lambda_lat_dis": 1e-2,
}


def train(model: FaderNetworks, data: Dataset, iterations: int, batch_size: int, seed: int) -> float:
    """``iterations`` Fader iterations (one latent-discriminator and one autoencoder step each); seconds taken."""
    L.seed_everything(seed, verbose=False)
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, drop_last=True)
    n_steps = model.hparams.n_lat_dis + 1  # Lightning counts every optimiser step
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=-1,
        max_steps=iterations * n_steps,
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
    model: FaderNetworks, x_te: torch.Tensor, y_te: torch.Tensor, a_te: torch.Tensor, thick_median: float,
    classifier: DigitFeatures,
) -> dict[str, float]:  # fmt: skip
    model.eval()
    real = measured(x_te)[:, THICK]
    out: dict[str, float] = {}
    alpha = a_te.clone()
    decoded = {}
    for a in (0.0, 1.0):
        alpha[:, THICK] = a
        decoded[a] = torch.cat([model(xb, target=ab) for xb, ab in zip(x_te.split(250), alpha.split(250))])
    t0, t1 = measured(decoded[0.0])[:, THICK], measured(decoded[1.0])[:, THICK]
    out["thick_a0"], out["thick_a1"] = float(t0.mean()), float(t1.mean())
    out["thick_delta"] = float((t1 - t0).mean())
    out["thick_delta_std"] = out["thick_delta"] / float(real.std())
    out["thick_flip"] = float(((t1 > thick_median) & (t0 <= thick_median)).mean())
    for a in (0.0, 1.0):
        pred = classifier.features_and_logits(decoded[a])[1].argmax(1)
        out[f"acc_a{a:g}"] = float((pred == y_te).float().mean())
    out["acc_real"] = float((classifier.features_and_logits(x_te)[1].argmax(1) == y_te).float().mean())
    cats = a_te.long()
    rec = torch.cat([model.ae(xb, model.one_hot(cb)) for xb, cb in zip(x_te.split(250), cats.split(250))])
    out["mse"] = float(((rec - x_te) ** 2).mean())
    logits = torch.cat([model.lat_dis(model.ae.encode(xb)[-1 - model.hparams.n_skip]) for xb in x_te.split(250)])
    acc = [(logits[:, 2 * j : 2 * j + 2].argmax(1) == cats[:, j]).float().mean() for j in range(cats.shape[1])]
    out["lat_dis_acc"] = float(torch.stack(acc).mean())
    return out


def run(
    iterations: int = 600, seed: int = 0, batch_size: int = 32, options: dict[str, Any] | None = None,
    models: tuple[str, ...] = ("fader", "ae_no_lat_dis"),
) -> dict[str, Any]:  # fmt: skip
    x_tr, _, x_te, y_te = digit_split("mnist")
    m_tr = measured(x_tr)
    median = np.median(m_tr, axis=0)
    a_tr = torch.from_numpy(m_tr > median).float()
    a_te = torch.from_numpy(measured(x_te) > median).float()
    data = Digits(x_tr, a_tr)
    classifier = DigitFeatures("mnist")
    results: dict[str, Any] = {"iterations": iterations, "seed": seed, "batch_size": batch_size}
    schedule = {"lambda_schedule": max(1, iterations // 2)}
    builders = {
        "fader": {**FADER_DIGITS, **schedule, **(options or {})},
        # the baseline: the same autoencoder, the latent discriminator still trained (and measured) but not fed back
        "ae_no_lat_dis": {**FADER_DIGITS, **schedule, **(options or {}), "lambda_lat_dis": 0.0},
    }
    for name in models:
        torch.manual_seed(seed)
        model = FaderNetworks(**builders[name])
        seconds = train(model, data, iterations, batch_size, seed)
        results[name] = {
            "seconds": round(seconds, 1),
            **evaluate(model, x_te, y_te, a_te, float(median[THICK]), classifier),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--models", nargs="+", default=["fader", "ae_no_lat_dis"])
    parser.add_argument("--set", nargs="*", default=[], help="model options KEY=VALUE (e.g. lambda_lat_dis=1e-4)")
    args = parser.parse_args()
    options = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    for seed in args.seeds:
        r = run(args.iterations, seed, args.batch_size, options, tuple(args.models))
        print(json.dumps({k: ({kk: round(vv, 4) for kk, vv in v.items()} if isinstance(v, dict) else v)
                          for k, v in r.items()}))  # fmt: skip


if __name__ == "__main__":
    main()
