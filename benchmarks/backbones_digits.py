"""Do GAN, DCGAN and VAE learn to draw digits? Samples scored on embedded real data (no download).

    python benchmarks/backbones_digits.py                            # the three models, the slow tests' settings
    python benchmarks/backbones_digits.py --models vae --batches 3000 --seeds 0 1 2
    python benchmarks/backbones_digits.py --models gan --batches 4000 --batch-size 64 --probe-every 500

Each model trains on the embedded demo ``mnist_digits`` (the 4,000 MNIST digits the shipped digit classifier was
trained on, 32x32 grey) for a fixed number of batches (``CONFIGS``, or ``--batches``; ``--seconds`` stops on wall
clock instead), in its paper's configuration except where ``CONFIGS`` says otherwise (each with its reason). Then
1,000 samples are scored in the feature space of that classifier (``digits_mnist``):

* FID of the samples against the 1,000 held-out real digits the classifier never saw, before (the initialised
  generator) and after training;
* classes covered: digits that the classifier finds in at least 1 % of the samples (all ten: no mode collapse onto
  a few digits; a uniform model gives each 10 %), and the share of the rarest class.
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from typing import Any

import lightning as L
import torch

from translation_zoo.data import DemoImageFolderDataModule
from translation_zoo.metrics import DigitFeatures, FrechetDistance, digit_split

#: Per model: constructor options on the 32x32 digits, batch size, training batches (each model trains < 50 s on a
#: 2-core CPU). Where they differ from the paper's configuration, and why:
CONFIGS: dict[str, tuple[dict[str, Any], int, int]] = {
    # The paper's MLPs, maxout D and dropout on the demo's 32x32 digits (1,024 inputs), batch 100; Adam(2e-4, β1 0.5)
    # instead of the official SGD 0.1 with momentum 0.5 -> 0.7, which needs far more updates than a CPU minute holds.
    "gan": ({"image_size": 32, "optimizer": partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999))}, 100, 800),
    # The official optimiser, prior and schedule (Adam 2e-4 / 0.5 with L2 1e-5, z ~ U(-1, 1)) on pytorch/examples'
    # networks (``layout="pytorch_examples"``: 4x4 kernels, per-channel batch norm, ε 1e-5) at the digits' size,
    # ngf = ndf = 16 (official 128), batch 64 (official 128), D then G on every batch (pytorch/examples) instead of
    # one player per batch. The official Theano layout (5x5, per-unit batch norm on the projection, ε 1e-8) learned
    # far more slowly at this size and budget (FID 318 after 1,100 batches, benchmarks/RESULTS.md).
    "dcgan": (
        {
            "channels": 1,
            "image_size": 32,
            "ngf": 16,
            "ndf": 16,
            "alternate_players": False,
            "layout": "pytorch_examples",
        },
        64,
        1100,
    ),
    # The paper's MNIST model as it is (500 tanh units, nz 20, Bernoulli, Adagrad 0.02), minibatch 100.
    "vae": ({"image_size": 32}, 100, 1900),
}


def model_class(name: str):
    from translation_zoo.models import DCGAN, GAN, VAE

    return {"gan": GAN, "dcgan": DCGAN, "vae": VAE}[name]


class Budget(L.Callback):
    """Stop training after ``batches`` training batches, or ``seconds`` of wall clock if given."""

    def __init__(self, batches: int | None = None, seconds: float | None = None) -> None:
        self.batches, self.seconds = batches, seconds
        self.start, self.seen = 0.0, 0

    def on_train_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.seen += 1
        if self.batches is not None and self.seen >= self.batches:
            trainer.should_stop = True
        if self.seconds is not None and time.perf_counter() - self.start > self.seconds:
            trainer.should_stop = True


class Probe(L.Callback):
    """Score the samples every ``every`` training batches (a learning curve); the RNG state is restored afterwards,
    so probing does not change the training run it watches."""

    def __init__(self, every: int) -> None:
        self.every, self.seen, self.curve = every, 0, []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.seen += 1
        if self.seen % self.every:
            return
        state = torch.get_rng_state()
        values = score(pl_module)
        torch.set_rng_state(state)
        pl_module.train()
        self.curve.append((self.seen, values["fid"], values["classes"]))


@torch.no_grad()
def score(model, n: int = 1000, min_share: float = 0.01) -> dict[str, float]:
    """FID (digits_mnist) of ``n`` samples against the held-out real digits, classes covered, rarest share."""
    extractor = DigitFeatures("mnist")
    _, _, x_test, _ = digit_split("mnist")
    model.eval()
    torch.manual_seed(1234)
    fake = torch.cat([model.sample(250) for _ in range(n // 250)])
    fid = FrechetDistance(extractor.num_features)
    fid.update(extractor(x_test), real=True)
    feats, logits = extractor.features_and_logits(fake)
    fid.update(feats, real=False)
    share = torch.bincount(logits.argmax(1), minlength=10).float() / len(fake)
    return {"fid": float(fid.compute()), "classes": int((share >= min_share).sum()), "rarest": float(share.min())}


def train_and_score(
    name: str,
    seconds: float | None = None,
    seed: int = 0,
    threads: int | None = None,
    options: dict[str, Any] | None = None,
    batch_size: int | None = None,
    batches: int | None = None,
    probe_every: int | None = None,
) -> dict[str, Any]:
    """Train model ``name`` on mnist_digits for ``CONFIGS[name]``'s batches (or ``batches``, or ``seconds`` of wall
    clock); FID and class coverage of samples before and after. ``options`` and ``batch_size`` replace
    ``CONFIGS[name]``'s. ``probe_every``: also score every that many batches (``result["curve"]``)."""
    if threads:
        torch.set_num_threads(threads)
    L.seed_everything(seed, verbose=False)
    default_options, default_batch, default_batches = CONFIGS[name]
    options = default_options if options is None else options
    batch_size = batch_size or default_batch
    if seconds is None:
        batches = batches or default_batches
    model = model_class(name)(**options)
    data = DemoImageFolderDataModule(batch_size=batch_size)
    result = {f"before_{k}": v for k, v in score(model).items()}
    L.seed_everything(seed, verbose=False)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[Budget(batches, seconds)] + ([probe := Probe(probe_every)] if probe_every else []),
    )
    model.train()
    t0 = time.perf_counter()
    trainer.fit(model, datamodule=data)
    result["train_seconds"] = time.perf_counter() - t0
    result["batches"] = trainer.fit_loop.epoch_loop._batches_that_stepped
    result.update({f"after_{k}": v for k, v in score(model).items()})
    if probe_every:
        result["curve"] = probe.curve
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--batches", type=int, help="training batches per model (default: CONFIGS)")
    p.add_argument("--seconds", type=float, help="train for this wall-clock time instead of a number of batches")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--probe-every", type=int, help="also score every N batches and print the curve")
    p.add_argument("--batch-size", type=int, help="batch size (default: CONFIGS)")
    args = p.parse_args()
    print(
        "| model | seed | batches | train s | FID untrained | FID trained | classes covered (>= 1 %) | rarest class |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models:
        for seed in args.seeds:
            r = train_and_score(
                name,
                args.seconds,
                seed,
                args.threads,
                batch_size=args.batch_size,
                batches=args.batches,
                probe_every=args.probe_every,
            )
            print(
                f"| {model_class(name).__name__} | {seed} | {r['batches']} | {r['train_seconds']:.1f} "
                f"| {r['before_fid']:.1f} | {r['after_fid']:.1f} | {r['after_classes']}/10 "
                f"| {100 * r['after_rarest']:.1f} % |",
                flush=True,
            )
            if "curve" in r:
                points = " · ".join(f"{b}: {f:.1f} / {c}" for b, f, c in r["curve"])
                print(f"  curve (batches: FID / classes): {points}")


if __name__ == "__main__":
    main()
