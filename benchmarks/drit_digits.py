"""DRIT++ on the embedded digits: is one MNIST digit translated into several different, realistic UCI digits?

    python benchmarks/drit_digits.py --batches 600 --seeds 0         # DRIT++ (with the mode-seeking term)
    python benchmarks/drit_digits.py --batches 600 --no-ms           # DRIT (the official --no_ms)

Trains DRIT++ on the embedded "mnist_uci" task (A = MNIST digits, B = UCI handwritten digits, 32x32 grey) with the
official losses and weights (cross cycle 10, self-reconstruction 10, KL 0.01 on attributes and content, latent
regression 10, mode seeking 1), Adam(β (0.5, 0.999), weight decay 1e-4, the content discriminator at lr / 2.5 with
gradient clipping 5), the official content-discriminator schedule ``d_iter``, at widths for a CPU (content code 32 x
8 x 8, attribute code 8 numbers, 2-scale discriminators of width 8, a content discriminator without its 7x7 stride-2
convs, which need images of >= 212 px), batch 8 (official 2), then translates held-out MNIST test digits and scores,
in the feature space of a small CNN trained only on real UCI digits (``digits_uci``), as
``benchmarks/munit_digits.py`` does:

* realism: FID of one translation per test digit (a random attribute each) against the real UCI test digits;
  baseline "no translation": the MNIST digits themselves scored as translations;
* content: that classifier's accuracy on the translations w.r.t. the source digit's label (chance 0.1);
* diversity (the paper's Table 2 measures LPIPS between samples of one input; LPIPS' backbone weights cannot be
  downloaded here): for each of ``--inputs`` test digits, ``--samples`` translations with random attributes, the
  mean over all pairs of the perceptual distance ||f̂(a) − f̂(b)||² / 4 between the unit-normalised features f̂ of the
  UCI classifier (in [0, 1]) and of the mean pixel |a − b|. A unimodal model (UNIT, CycleGAN) has diversity 0 by
  construction; the reference is the same distance between different real UCI test digits.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from translation_zoo.data import DemoUnpairedDataModule
from translation_zoo.metrics import build_feature_extractor, lpips_diversity, score_translations
from translation_zoo.models.drit import DRIT

SETTINGS: dict[str, Any] = dict(input_nc=1, output_nc=1, ngf=8, nef=8, ndf=8, nz=8, dis_scale=2, dis_content_n_down=0)


class FeatureDistance(nn.Module):
    """Per-pair perceptual distance: ||f̂(a) − f̂(b)||² / 4 with f̂ = f / ||f|| the digit classifier's features."""

    def __init__(self, extractor: str = "digits_uci") -> None:
        super().__init__()
        self.extractor = build_feature_extractor(extractor)

    @torch.no_grad()
    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        fa, fb = F.normalize(self.extractor(a).float(), dim=1), F.normalize(self.extractor(b).float(), dim=1)
        return (fa - fb).pow(2).sum(1) / 4


def pixel_distance(a: Tensor, b: Tensor) -> Tensor:
    return (a - b).abs().flatten(1).mean(1)


@torch.no_grad()
def diversity(model: nn.Module, inputs: Tensor, n_samples: int, distance: nn.Module) -> dict[str, float]:
    """Mean pairwise perceptual and pixel distance between ``n_samples`` translations of each input."""
    samples = torch.stack([model(inputs) for _ in range(n_samples)], 1)  # (N, K, C, H, W)
    return {
        "div_feat": float(lpips_diversity(samples, net=distance)),
        "div_pix": float(lpips_diversity(samples, net=pixel_distance)),
    }


class StopAfter(L.Callback):
    """Stop after ``batches`` training batches (Lightning's step count mixes 1- and 4-optimiser-step batches)."""

    def __init__(self, batches: int) -> None:
        self.batches, self.seen = batches, 0

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self.seen += 1
        if self.seen >= self.batches:
            trainer.should_stop = True


def train_and_score(
    batches: int = 600,
    seed: int = 0,
    batch_size: int = 8,
    max_dataset_size: int = 1600,
    n_inputs: int = 100,
    n_samples: int = 5,
    **model_kw: Any,
) -> dict[str, float]:
    """Train DRIT for ``batches`` batches on mnist_uci; realism, content and diversity before and after
    (``model_kw``: further options, e.g. ``lr``, ``mode_seeking``, ``d_iter``)."""
    L.seed_everything(seed, verbose=False)
    data = DemoUnpairedDataModule(batch_size=batch_size, max_dataset_size=max_dataset_size, num_workers=0)
    data.prepare_data()
    data.setup("test")
    test_batches = list(data.test_dataloader())
    model = DRIT(**{**SETTINGS, **model_kw})
    inputs = torch.cat([b["A"] for b in test_batches])[:n_inputs]
    distance = FeatureDistance()

    def scores(prefix: str) -> dict[str, float]:
        model.eval()
        g = torch.random.get_rng_state()
        torch.manual_seed(1000 + seed)  # the same attribute draws for every evaluation
        values = score_translations(model, test_batches, ("fid", "acc"), "digits_uci")
        out = {"fid": values["fid_digits_uci"], "acc": values["acc_digits_uci"]}
        out.update(diversity(model, inputs, n_samples, distance))
        torch.random.set_rng_state(g)
        return {f"{k}_{prefix}": v for k, v in out.items()}

    values = score_translations(lambda a: a, test_batches, ("fid", "acc"), "digits_uci")
    result = {"fid_identity": values["fid_digits_uci"], "acc_identity": values["acc_digits_uci"]}
    reals = torch.cat([b["B"] for b in test_batches])[: n_inputs + 1]
    pairs = torch.stack([reals[:-1], reals[1:]], 1)  # different real UCI digits
    result["div_feat_real"] = float(lpips_diversity(pairs, net=distance))
    result["div_pix_real"] = float(lpips_diversity(pairs, net=pixel_distance))
    result.update(scores("before"))
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[StopAfter(batches)],
    )
    model.train()
    t0 = time.perf_counter()
    trainer.fit(model, datamodule=data)
    result["train_seconds"] = time.perf_counter() - t0
    result.update(scores("after"))
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, default=600)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--lr", type=float, default=4e-4, help="official 1e-4")
    p.add_argument("--d-iter", type=int, default=3, help="official 3")
    p.add_argument("--no-ms", action="store_true", help="without the mode-seeking term (DRIT)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--inputs", type=int, default=100)
    p.add_argument("--samples", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(
        "| model | seed | batches | d_iter | FID no transl. | FID after | acc no transl. | acc after | diversity feat "
        "before | diversity feat after (real pairs) | diversity pixel (real pairs) | train s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        r = train_and_score(
            args.batches, seed, args.batch_size, n_inputs=args.inputs, n_samples=args.samples, lr=args.lr,
            d_iter=args.d_iter, mode_seeking=not args.no_ms,
        )  # fmt: skip
        name = "DRIT" if args.no_ms else "DRIT++"
        print(
            f"| {name} | {seed} | {args.batches} | {args.d_iter} | {r['fid_identity']:.1f} | {r['fid_after']:.1f} | "
            f"{r['acc_identity']:.2f} | {r['acc_after']:.2f} | {r['div_feat_before']:.3f} | "
            f"{r['div_feat_after']:.3f} ({r['div_feat_real']:.3f}) "
            f"| {r['div_pix_after']:.3f} ({r['div_pix_real']:.3f}) | {r['train_seconds']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
