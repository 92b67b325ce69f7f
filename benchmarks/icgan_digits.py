"""IcGAN on real digits: does editing an attribute through the encoders and the conditional generator change it, and
does the digit survive?

    python benchmarks/icgan_digits.py                          # the slow test's settings
    python benchmarks/icgan_digits.py --gan-epochs 20 --encoder-epochs 10 --seeds 0 1

The model trains as the paper (``IcGAN``: the cGAN for ``--gan-epochs``, then E_z on generated pairs and E_y on the
real labelled digits for ``--encoder-epochs``) on the 4,000 MNIST training digits of ``digit_split("mnist")`` (the
shipped digit classifier's training part, 32x32 grey) with the attributes of the ``digits_attrs`` demo measured from
the pixels (``Thick``, ``Slanted``, ``Wide``: above the training median of stroke width, slant, ink width), batch 64.
Then every one of the 1,000 held-out digits is encoded, z = E_z(x) and y = E_y(x) (thresholded), and decoded twice
with ``Thick`` set off (y = -1) and on (y = +1), the other attributes as E_y reads them (``IcGAN.edit``), and scored:

* ``thick_delta``: mean measured stroke width with Thick on minus off (ink pixels per skeleton pixel;
  :func:`translation_zoo.data.multidomain.digit_attributes`); ``thick_delta_std``: in units of the standard deviation
  of the real held-out digits' stroke width. The identity baseline (the edit returns the input) has 0.
* ``thick_acc``: the fraction of edited digits whose measured Thick flag (stroke width above the training median) is
  the requested one, over both edits; the identity baseline scores exactly 0.5 (each digit keeps its own flag, which
  matches one of the two requests). ``thick_acc_identity`` is that baseline, computed.
* ``acc_off`` / ``acc_on``: the shipped MNIST classifier's accuracy on the edited digits w.r.t. the real labels (the
  digit kept through E_z; 0.1 = chance); ``acc_rec`` on the reconstructions G(E_z(x), E_y(x)); ``acc_real`` on the
  real digits.
* ``enc_y_acc``: E_y's held-out accuracy on the three attribute flags; ``rec_mse``: reconstruction MSE.

IcGAN on the digits (``ICGAN_DIGITS``): the official architecture at the official formula's 32 px (``fineSize`` 32: G
132-256-128-64-1 from z (100) + y (3); D 1-64(+3)-128-256-1; encoders of 4 5x5 stride-2 convolutions 32-64-128-256 to
2x2, E_z FC 1,024, E_y FC 512), the official optimisers (Adam 2e-4 / 0.5 for G and D, 1e-4 / 0.1 for the encoders),
batch 64, the matching-aware D term, the batch-norm refresh before E_z. Not official: the epochs (25 + 15 at CelebA's
182,638 images; here a few epochs of 4,000 digits).
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
from translation_zoo.models.icgan import IcGAN

ICGAN_DIGITS: dict[str, Any] = {
    "input_nc": 1,
    "n_domains": len(DEMO_ATTRIBUTES),
    "labels": "attributes",
    "domain_names": list(DEMO_ATTRIBUTES),
    "image_size": 32,
}


def train(model: IcGAN, data: Dataset, batch_size: int, seed: int) -> float:
    """Both phases (the model stops itself after gan_epochs + encoder_epochs); seconds taken."""
    L.seed_everything(seed, verbose=False)
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, drop_last=True)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=model.hparams.gan_epochs + model.hparams.encoder_epochs,
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
    model: IcGAN, x_te: torch.Tensor, y_te: torch.Tensor, a_te: torch.Tensor, thick_median: float,
    classifier: DigitFeatures,
) -> dict[str, float]:  # fmt: skip
    model.eval()
    real = measured(x_te)[:, THICK]
    out: dict[str, float] = {}
    edited = {v: torch.cat([model.edit(xb, "Thick", v) for xb in x_te.split(250)]) for v in (0.0, 1.0)}
    t0, t1 = measured(edited[0.0])[:, THICK], measured(edited[1.0])[:, THICK]
    out["thick_off"], out["thick_on"] = float(t0.mean()), float(t1.mean())
    out["thick_delta"] = float((t1 - t0).mean())
    out["thick_delta_std"] = out["thick_delta"] / float(real.std())
    out["thick_acc"] = float(((t1 > thick_median).mean() + (t0 <= thick_median).mean()) / 2)
    own = real > thick_median  # the identity baseline: each digit keeps its own flag
    out["thick_acc_identity"] = float((own.mean() + (~own).mean()) / 2)
    rec = torch.cat([model(xb) for xb in x_te.split(250)])
    for name, images in (("off", edited[0.0]), ("on", edited[1.0]), ("rec", rec), ("real", x_te)):
        pred = classifier.features_and_logits(images)[1].argmax(1)
        out[f"acc_{name}"] = float((pred == y_te).float().mean())
    y_hat = torch.cat([model.enc_y(xb) for xb in x_te.split(250)])
    out["enc_y_acc"] = float(((y_hat > 0) == a_te.bool()).float().mean())
    out["rec_mse"] = float(((rec - x_te) ** 2).mean())
    return out


def run(
    gan_epochs: int = 6, encoder_epochs: int = 3, seed: int = 0, batch_size: int = 64,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    x_tr, _, x_te, y_te = digit_split("mnist")
    m_tr = measured(x_tr)
    median = np.median(m_tr, axis=0)
    a_tr = torch.from_numpy(m_tr > median).float()
    a_te = torch.from_numpy(measured(x_te) > median).float()
    classifier = DigitFeatures("mnist")
    torch.manual_seed(seed)
    model = IcGAN(**{**ICGAN_DIGITS, "gan_epochs": gan_epochs, "encoder_epochs": encoder_epochs, **(options or {})})
    seconds = train(model, Digits(x_tr, a_tr), batch_size, seed)
    result = {"gan_epochs": gan_epochs, "encoder_epochs": encoder_epochs, "seed": seed, "batch_size": batch_size}
    scores = evaluate(model, x_te, y_te, a_te, float(median[THICK]), classifier)
    return {**result, "seconds": round(seconds, 1), **scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gan-epochs", type=int, default=6)
    parser.add_argument("--encoder-epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--set", nargs="*", default=[], help="model options KEY=VALUE (e.g. ngf=32)")
    args = parser.parse_args()
    options = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    for seed in args.seeds:
        r = run(args.gan_epochs, args.encoder_epochs, seed, args.batch_size, options)
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}))


if __name__ == "__main__":
    main()
