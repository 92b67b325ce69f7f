"""VAE-GAN vs the VAE on the embedded digits: sharper reconstructions (the paper's headline comparison, Fig. 4) and
attribute edits by latent arithmetic (measured stroke width, digit class kept).

    python benchmarks/vaegan_digits.py --threads 1 --batches 600                  # the numbers in RESULTS.md
    python benchmarks/vaegan_digits.py --threads 1 --batches 600 --models vae vaegan   # the slow test's run
    python benchmarks/vaegan_digits.py --models vaegan --seeds 1 --set gamma=1         # one model, an option changed

Every model trains on the same 4,000 MNIST digits (``digit_split("mnist")``, 32x32 grey, the shipped digit
classifier's training part) for the same number of batches of 64; then, on the 1,000 held-out digits:

* sharpness: mean gradient magnitude (finite differences) of the reconstructions Dec(μ(x)) divided by that of the
  real digits (1 = as sharp as the data; a blurry reconstruction is < 1); ``sharpness_samples`` the same of samples;
* ``acc_rec``: the shipped digit classifier's accuracy on the reconstructions (the digit kept; chance 0.1);
* FID (digits_mnist features) of the reconstructions and of samples against the real held-out digits; pixel MSE;
* VAE-GAN edits: attribute vectors (``Thick``, ``Slanted``, ``Wide``: measured, above the median) from the training
  digits, then ``edit(x, "Thick", s)`` of the held-out digits: the change of the measured stroke width against the
  reconstruction (s = 0), and the classifier's accuracy on the edits.

Models: ``vaegan`` (``VAEGAN_DIGITS``: the official img32x32 networks at a quarter of the filters, Dis_l the 3rd
convolution as cifar_aegan.py, nz 32, enc_fc 256, dis_fc 128, a constant RMSProp rate 3e-4 (the paper's) instead of
the 250-epoch anneal, γ 0.1 instead of 1e-6: in a few hundred batches the decoder must learn reconstructions
directly; with 1 they blur: sharpness 0.73 after 600 batches, 0.90 with 0.1); ``vae_pixel``, the
paper's VAE baseline: the same networks and settings with the pixel-wise Gaussian error (``PIXEL_VAE``); ``vae``,
the zoo's VAE (Kingma & Welling's MNIST MLP, Bernoulli pixels, Adagrad 0.02).
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

from translation_zoo.data.multidomain import DEMO_ATTRIBUTES, digit_attributes
from translation_zoo.metrics import DigitFeatures, FrechetDistance, digit_split
from translation_zoo.models.vae import VAE
from translation_zoo.models.vaegan import VAEGAN

VAEGAN_DIGITS: dict[str, Any] = {
    "channels": 1,
    "image_size": 32,
    "nz": 32,
    "width": 0.25,
    "enc_fc": 256,
    "dis_fc": 128,
    "gamma": 0.1,
    "lr": 3e-4,
    "lr_stop": None,
    "attributes": list(DEMO_ATTRIBUTES),
}

#: The paper's "VAE" baseline: the same networks with the pixel-wise Gaussian error (official ``recon_depth=0``,
#: Eq. 3) and the GAN switched off in effect (Dec's GAN weight 1 / (1 + γ) = 1e-6, no equilibrium pauses).
PIXEL_VAE: dict[str, Any] = {"llike_layer": 0, "gamma": 1e6, "margin": None}


class Digits(Dataset):
    """``{"image", "attrs"}`` items of digits (N, 1, 32, 32) in [-1, 1] with measured attribute flags."""

    def __init__(self, x: torch.Tensor, attrs: torch.Tensor) -> None:
        self.x, self.attrs = x, attrs

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.x[i], "attrs": self.attrs[i]}


def measured(x: torch.Tensor) -> np.ndarray:
    """Stroke width, slant, width of digits (N, 1, S, S) in [-1, 1] (:func:`digit_attributes`)."""
    return digit_attributes(x[:, 0].clamp(-1, 1).numpy())


def sharpness(x: torch.Tensor) -> float:
    """Mean gradient magnitude (forward differences) of images (N, C, H, W)."""
    dx, dy = x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]
    return float(dx.abs().mean() + dy.abs().mean())


class Budget(L.Callback):
    def __init__(self, batches: int) -> None:
        self.batches, self.seen = batches, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.seen += 1
        if self.seen >= self.batches:
            trainer.should_stop = True


def train(model: L.LightningModule, data: Dataset, batches: int, batch_size: int, seed: int) -> float:
    L.seed_everything(seed, verbose=False)
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, drop_last=True)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=-1,
        max_steps=-1,
        callbacks=[Budget(batches)],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    start = time.perf_counter()
    trainer.fit(model, loader)
    return time.perf_counter() - start


@torch.no_grad()
def evaluate(model, x_te, y_te, extractor, real_fid: FrechetDistance) -> dict[str, float]:
    model.eval()
    rec = torch.cat([model.reconstruct(b) for b in x_te.split(250)])
    torch.manual_seed(1234)
    samples = torch.cat([model.sample(250) for _ in range(len(x_te) // 250)])
    out = {"sharpness": sharpness(rec) / sharpness(x_te), "mse": float(((rec - x_te) ** 2).mean())}
    out["sharpness_samples"] = sharpness(samples) / sharpness(x_te)
    # the digit kept: the shipped classifier's accuracy on the reconstructions (1 = all kept, 0.1 = chance)
    out["acc_rec"] = float((extractor.features_and_logits(rec)[1].argmax(1) == y_te).float().mean())
    for name, images in (("fid_rec", rec), ("fid_samples", samples)):
        fid = real_fid.clone()
        fid.update(extractor(images), real=False)
        out[name] = float(fid.compute())
    return out


@torch.no_grad()
def evaluate_edit(model: VAEGAN, data: Dataset, x_te, y_te, extractor, strengths=(1.0, 2.0)) -> dict[str, float]:
    model.compute_attribute_vectors(DataLoader(data, batch_size=250))
    real = measured(x_te)[:, 0]
    rec = measured(model.edit(x_te, "Thick", 0.0))[:, 0]
    out = {"thick_real": float(real.mean()), "thick_rec": float(rec.mean())}
    for s in strengths:
        edited = model.edit(x_te, "Thick", s)
        out[f"thick_edit{s:g}_delta"] = float((measured(edited)[:, 0] - rec).mean())
        out[f"acc_edit{s:g}"] = float((extractor.features_and_logits(edited)[1].argmax(1) == y_te).float().mean())
    return out


def run(
    batches: int,
    seed: int,
    batch_size: int = 64,
    options: dict[str, Any] | None = None,
    models: tuple[str, ...] = ("vae", "vae_pixel", "vaegan"),
) -> dict[str, Any]:
    x_tr, _, x_te, y_te = digit_split("mnist")
    attrs = torch.from_numpy(measured(x_tr) > np.median(measured(x_tr), axis=0)).float()
    data = Digits(x_tr, attrs)
    extractor = DigitFeatures("mnist")
    real_fid = FrechetDistance(extractor.num_features)
    real_fid.update(extractor(x_te), real=True)
    results: dict[str, Any] = {"batches": batches, "seed": seed, "batch_size": batch_size}
    builders = {
        "vae": lambda: VAE(image_size=32),
        "vae_pixel": lambda: VAEGAN(**{**VAEGAN_DIGITS, **PIXEL_VAE}),
        "vaegan": lambda: VAEGAN(**{**VAEGAN_DIGITS, **(options or {})}),
    }
    for name in models:
        torch.manual_seed(seed)
        model = builders[name]()
        seconds = train(model, data, batches, batch_size, seed)
        results[name] = {"seconds": round(seconds, 1), **evaluate(model, x_te, y_te, extractor, real_fid)}
        if name == "vaegan":
            results[name].update(evaluate_edit(model, data, x_te, y_te, extractor))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--models", nargs="+", default=["vae", "vae_pixel", "vaegan"], help="vae vae_pixel vaegan")
    parser.add_argument("--set", nargs="*", default=[], help="VAEGAN options KEY=VALUE (values parsed as JSON)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    options = {}
    for item in args.set:
        key, value = item.split("=", 1)
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    for seed in args.seeds:
        print(json.dumps(run(args.batches, seed, args.batch_size, options, tuple(args.models))))


if __name__ == "__main__":
    main()
