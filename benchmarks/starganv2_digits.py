"""StarGAN v2 vs StarGAN on the embedded digits: fidelity per target domain, kept digits, and diversity.

    python benchmarks/starganv2_digits.py --iterations 300 --seeds 0      # ~3 min on 2 cores (both models)

Both models train on the embedded "digits3" domains (mnist, mnist_edges, uci; 32x32 grey) for ``--iterations``
iterations with their official losses and optimisers and small networks: StarGAN as ``benchmarks/stargan_digits.py``
(batch 16, G every 5th iteration), StarGAN v2 as ``recipes/quickstart_starganv2_digits.yaml`` (batch 8, four
updates per iteration, references=True, λ_ds 2 decaying to 0 over the run). The held-out test digits of every other
domain are translated into ``mnist`` and into ``uci`` and scored in the feature space of the small CNN trained only
on real digits of the target domain (``digits_mnist`` / ``digits_uci``):

* ``fid_<src>2<tgt>``: FID against the real test digits of the target (is it a digit of that domain?);
* ``acc_<src>2<tgt>``: that classifier's accuracy w.r.t. the source digit's label (is the digit kept? chance 0.1);
* StarGAN v2 latent-guided (a new z ~ N(0, I) per image: ``*_latent``) and reference-guided (``*_reference``: the
  style of a random training digit of the target domain);
* ``diversity_<tgt>``: for 100 test inputs, 10 outputs from random z, the mean squared distance between the
  unit-normalised classifier features of consecutive outputs / 4 (in [0, 1]; the LPIPS recipe in a digit network,
  as ``benchmarks/bicyclegan_diversity.py``). StarGAN gives one output per input and target: 0 by construction.

Baseline rows: the untranslated source digits scored as if they were translations (``*_identity``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stargan_digits import TARGETS, domain_tensors, score, task_batches  # noqa: E402
from stargan_digits import train_and_score as stargan_train_and_score  # noqa: E402

from translation_zoo.data.base import load_image  # noqa: E402
from translation_zoo.data.multidomain import DemoMultiDomainDataModule  # noqa: E402
from translation_zoo.metrics import build_feature_extractor, score_translations  # noqa: E402
from translation_zoo.models.starganv2 import StarGANv2  # noqa: E402

QUICKSTART = dict(
    input_nc=1, n_domains=3, img_size=32, dim_in=8, max_conv_dim=32, hidden_dim=64, style_dim=16, latent_dim=16,
    w_hpf=0, lambda_ds=2.0, f_lr=1e-4, ema_beta=0.99,
)  # fmt: skip


def training_references(data: DemoMultiDomainDataModule, domain: int, n: int, seed: int) -> torch.Tensor:
    """``n`` training digits (N, 1, 32, 32) of ``domain``, drawn at random: the reference images."""
    ds = data.train_set
    idx = [i for i, (_, name) in enumerate(ds.samples) if ds.index[name] == domain]
    g = torch.Generator().manual_seed(seed)
    pick = [idx[int(j)] for j in torch.randint(len(idx), (n,), generator=g)]
    return torch.stack([ds.transform.image(load_image(ds.samples[i][0], ds.channels)) for i in pick])


class ReferenceGuided:
    """translate(a) = model(a, target, reference) with the next ``len(a)`` references, in batch order."""

    def __init__(self, model: StarGANv2, target: int, references: torch.Tensor) -> None:
        self.model, self.target, self.references, self.used = model, target, references, 0

    def __call__(self, a: torch.Tensor) -> torch.Tensor:
        refs = self.references[self.used : self.used + len(a)]
        self.used += len(a)
        return self.model(a, target=self.target, reference=refs)


@torch.no_grad()
def diversity(model: StarGANv2, inputs: torch.Tensor, target: int, extractor: str, k: int = 10) -> float:
    """Mean feature distance of consecutive outputs among ``k`` random-z translations of each input."""
    net = build_feature_extractor(extractor)
    feats = []
    for _ in range(k):
        out = model(inputs, target=target)
        feats.append(F.normalize(net(out).float(), dim=1))
    d = [(feats[i] - feats[i + 1]).pow(2).sum(1) / 4 for i in range(k - 1)]
    return float(torch.cat(d).mean())


@torch.no_grad()
def score_v2(model: StarGANv2, data: DemoMultiDomainDataModule, tensors, seed: int) -> dict[str, float]:
    names = data.domain_names
    result: dict[str, float] = {}
    torch.manual_seed(seed)
    for target in TARGETS:
        t = names.index(target)
        for source in names:
            if source == target:
                continue
            batches = task_batches(tensors[source], tensors[target])
            refs = training_references(data, t, len(tensors[source][0]), seed)
            modes = {"latent": lambda a, t=t: model(a, target=t), "reference": ReferenceGuided(model, t, refs)}
            for mode, translate in modes.items():
                values = score_translations(translate, batches, ("fid", "acc"), f"digits_{target}")
                result[f"fid_{source}2{target}_{mode}"] = values[f"fid_digits_{target}"]
                result[f"acc_{source}2{target}_{mode}"] = values[f"acc_digits_{target}"]
        others = torch.cat([tensors[s][0][:50] for s in names if s != target])[:100]
        result[f"diversity_{target}"] = diversity(model, others, t, f"digits_{target}")
    for metric in ("fid", "acc"):
        for mode in ("latent", "reference"):
            values = [v for k, v in result.items() if k.startswith(metric + "_") and k.endswith(mode)]
            result[f"{metric}_mean_{mode}"] = sum(values) / len(values)
    return result


def train_v2(iterations: int = 300, seed: int = 0, **model_kw: object) -> tuple:
    """Train StarGAN v2 (the quickstart's networks and options) for ``iterations``; returns (model in eval mode, data
    module, test tensors per domain, training seconds)."""
    L.seed_everything(seed, verbose=False)
    data = DemoMultiDomainDataModule("digits3", batch_size=8, max_dataset_size=800, references=True)
    data.prepare_data()
    data.setup("fit")
    data.setup("test")
    tensors = domain_tensors(data)
    model = StarGANv2(**{**QUICKSTART, "domain_names": data.domain_names, "ds_iter": iterations, **model_kw})
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=6 * iterations,  # Lightning counts every optimiser step: D, D, G+F+E, G
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    t0 = time.perf_counter()
    trainer.fit(model, datamodule=data)
    return model.eval(), data, tensors, time.perf_counter() - t0


def train_and_score_v2(iterations: int = 300, seed: int = 0, **model_kw: object) -> dict[str, float]:
    model, data, tensors, seconds = train_v2(iterations, seed, **model_kw)
    identity = {f"{k}_identity": v for k, v in score(None, tensors, data.domain_names).items()}
    return {**identity, **score_v2(model, data, tensors, seed), "train_seconds": seconds}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=300)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--skip-stargan", action="store_true")
    args = p.parse_args()
    for seed in args.seeds:
        v2 = train_and_score_v2(args.iterations, seed)
        print(json.dumps({"model": "StarGANv2", "seed": seed, **{k: round(v, 3) for k, v in v2.items()}}))
        if not args.skip_stargan:
            v1 = stargan_train_and_score(args.iterations, seed)
            v1 = {**v1, **{f"diversity_{t}": 0.0 for t in TARGETS}}  # one output per input and target
            print(json.dumps({"model": "StarGAN", "seed": seed, **{k: round(v, 3) for k, v in v1.items()}}))


if __name__ == "__main__":
    main()
