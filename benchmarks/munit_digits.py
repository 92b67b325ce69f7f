"""MUNIT vs UNIT on the embedded digits: is one MNIST digit translated into several different UCI digits?

    python benchmarks/munit_digits.py --iterations 300 --seeds 0      # MUNIT and UNIT, same networks and budget

Trains MUNIT and UNIT on the embedded "mnist_uci" task (A = MNIST digits, B = UCI handwritten digits, 32x32 grey)
with the same content encoder / decoder sizes (ngf 8, 2 down-samplings, 2 residual blocks; MUNIT's style code 8
numbers, MLP 32 wide; 3-layer discriminators at 2 scales), the official losses and weights, Adam with weight decay
1e-4, batch 8 (paper 1), then translates held-out MNIST test digits and scores, in the feature space of a small CNN
trained only on real UCI digits (``digits_uci``):

* realism: FID of one translation per test digit (MUNIT: a random style each) against the real UCI test digits;
  baseline "no translation": the MNIST digits themselves scored as translations;
* content: that classifier's accuracy on the translations w.r.t. the source digit's label (chance 0.1);
* diversity (the paper's Table 1 measures LPIPS between samples of one input; LPIPS' backbone weights cannot be
  downloaded here): for each of ``--inputs`` test digits, ``--samples`` translations with random styles, the mean
  over all pairs of (a) the perceptual distance ||f̂(a) − f̂(b)||² / 4 between the unit-normalised features f̂ of
  the UCI classifier (LPIPS' recipe in a network trained on the target domain; in [0, 1]) and (b) the mean pixel
  |a − b| in [-1, 1] units. UNIT translates with the mean code E(x) at test time: one output per input, diversity 0.
  Reference: the same distances between different real UCI test digits.
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
from translation_zoo.models.munit import MUNIT
from translation_zoo.models.unit import UNIT

COMMON: dict[str, Any] = dict(
    input_nc=1, output_nc=1, ngf=8, ndf=8, n_downsample=2, n_res=2, n_layers_d=3, num_scales=2
)
SETTINGS: dict[str, dict[str, Any]] = {
    "munit": {**COMMON, "style_dim": 8, "mlp_dim": 32},
    "unit": {**COMMON, "n_shared": 2},  # the UNIT quickstart's setting (both residual blocks shared)
}
CLASSES = {"munit": MUNIT, "unit": UNIT}


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


def real_diversity(reals: Tensor, distance: nn.Module) -> dict[str, float]:
    """The same distances between different real digits (consecutive pairs of ``reals``)."""
    pairs = torch.stack([reals[:-1], reals[1:]], 1)
    return {
        "div_feat": float(lpips_diversity(pairs, net=distance)),
        "div_pix": float(lpips_diversity(pairs, net=pixel_distance)),
    }


def _data(batch_size: int, max_dataset_size: int) -> tuple[DemoUnpairedDataModule, list[dict[str, Any]]]:
    data = DemoUnpairedDataModule(batch_size=batch_size, max_dataset_size=max_dataset_size, num_workers=0)
    data.prepare_data()
    data.setup("test")
    return data, list(data.test_dataloader())


def train_and_score(
    name: str = "munit",
    iterations: int = 300,
    seed: int = 0,
    batch_size: int = 8,
    max_dataset_size: int = 1600,
    n_inputs: int = 100,
    n_samples: int = 5,
    **model_kw: Any,
) -> dict[str, float]:
    """Train ``name`` (``munit`` or ``unit``) for ``iterations`` batches on mnist_uci; realism, content and
    diversity before and after (``model_kw``: further options, e.g. ``lr``)."""
    L.seed_everything(seed, verbose=False)
    data, test_batches = _data(batch_size, max_dataset_size)
    model = CLASSES[name](**{**SETTINGS[name], **model_kw})
    inputs = torch.cat([b["A"] for b in test_batches])[:n_inputs]
    distance = FeatureDistance()

    def scores(prefix: str) -> dict[str, float]:
        model.eval()
        g = torch.random.get_rng_state()
        torch.manual_seed(1000 + seed)  # the same style draws for every evaluation
        values = score_translations(model, test_batches, ("fid", "acc"), "digits_uci")
        out = {
            "fid": values["fid_digits_uci"],
            "acc": values["acc_digits_uci"],
            **diversity(model, inputs, n_samples, distance),
        }
        torch.random.set_rng_state(g)
        return {f"{k}_{prefix}": v for k, v in out.items()}

    values = score_translations(lambda a: a, test_batches, ("fid", "acc"), "digits_uci")
    result = {"fid_identity": values["fid_digits_uci"], "acc_identity": values["acc_digits_uci"]}
    reals = torch.cat([b["B"] for b in test_batches])[: n_inputs + 1]
    result.update({f"{k}_real": v for k, v in real_diversity(reals, distance).items()})
    result.update(scores("before"))
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=2 * iterations,  # Lightning counts the D and the G step of every iteration
        max_epochs=-1,
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
    result.update(scores("after"))
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=300)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--models", nargs="+", default=["munit", "unit"], choices=sorted(CLASSES))
    p.add_argument("--lr", type=float, default=4e-4, help="both models (official 1e-4)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--inputs", type=int, default=100)
    p.add_argument("--samples", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(
        "| model | seed | iterations | FID no transl. | FID after | acc no transl. | acc after | diversity feat "
        "(real pairs) | diversity pixel (real pairs) | train s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        for name in args.models:
            r = train_and_score(
                name, args.iterations, seed, args.batch_size, n_inputs=args.inputs, n_samples=args.samples, lr=args.lr
            )
            print(
                f"| {name} | {seed} | {args.iterations} | {r['fid_identity']:.1f} | {r['fid_after']:.1f} | "
                f"{r['acc_identity']:.2f} | {r['acc_after']:.2f} | "
                f"{r['div_feat_after']:.3f} ({r['div_feat_real']:.3f}) "
                f"| {r['div_pix_after']:.3f} ({r['div_pix_real']:.3f}) | {r['train_seconds']:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
