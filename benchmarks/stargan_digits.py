"""Does one StarGAN translate digits into each target domain, and keep the digit? Scored against "no translation".

    python benchmarks/stargan_digits.py --iterations 300 --seeds 0        # the slow test's setting

Trains StarGAN on the embedded "digits3" domains (mnist, mnist_edges, uci; 32x32 grey) at the official losses and
weights (WGAN-GP λ_gp 10, λ_cls 1, λ_rec 10, Adam 1e-4 (0.5, 0.999)) with small networks (``--conv-dim`` filters,
3 residual blocks, 5 strided D convs), then translates the held-out test digits of every other domain into
``mnist`` and into ``uci`` and scores them in the feature space of the small CNN trained only on real digits of the
target domain (``digits_mnist`` / ``digits_uci``): FID against the real test digits of the target (is it a digit
of that domain?) and that classifier's accuracy w.r.t. the source digit's label (is the digit kept? chance 0.1).
Baseline: the untranslated source digits scored as if they were translations ("identity").
"""

from __future__ import annotations

import argparse
import json
import time

import lightning as L
import torch

from translation_zoo.data.multidomain import DemoMultiDomainDataModule
from translation_zoo.metrics import score_translations
from translation_zoo.models.stargan import StarGAN

TARGETS = ("mnist", "uci")  # the domains with a shipped digit classifier


def domain_tensors(data: DemoMultiDomainDataModule) -> dict[str, tuple[torch.Tensor, list[str]]]:
    """Test images (N, 1, 32, 32) and paths per domain name."""
    out: dict[str, tuple[list[torch.Tensor], list[str]]] = {n: ([], []) for n in data.domain_names}
    for batch in data.test_dataloader():
        for image, domain, path in zip(batch["image"], batch["domain"], batch["path"]):
            name = data.domain_names[int(domain)]
            out[name][0].append(image)
            out[name][1].append(path)
    return {n: (torch.stack(images), paths) for n, (images, paths) in out.items()}


def task_batches(source, target, batch_size: int = 100) -> list[dict]:
    """Batches {"A": source digits, "B": real target digits (cycled; each counted once)} for score_translations."""
    (xa, pa), (xb, pb) = source, target
    out = []
    for i in range(0, len(xa), batch_size):
        idx = [j % len(xb) for j in range(i, min(i + batch_size, len(xa)))]
        out.append(
            {
                "A": xa[i : i + batch_size],
                "A_path": pa[i : i + batch_size],
                "B": xb[idx],
                "B_path": [pb[j] for j in idx],
            }
        )
    return out


@torch.no_grad()
def score(model: StarGAN | None, tensors, names: list[str]) -> dict[str, float]:
    """fid/acc of every source -> target task (target in TARGETS), and their means; ``model=None``: identity."""
    result: dict[str, float] = {}
    for target in TARGETS:
        t = names.index(target)
        for source in names:
            if source == target:
                continue
            translate = (lambda a: a) if model is None else (lambda a, t=t: model(a, target=t))
            values = score_translations(
                translate, task_batches(tensors[source], tensors[target]), ("fid", "acc"), f"digits_{target}"
            )
            result[f"fid_{source}2{target}"] = values[f"fid_digits_{target}"]
            result[f"acc_{source}2{target}"] = values[f"acc_digits_{target}"]
    for metric in ("fid", "acc"):
        values = [v for k, v in result.items() if k.startswith(metric + "_")]
        result[f"{metric}_mean"] = sum(values) / len(values)
    return result


def train_and_score(
    iterations: int = 300,
    seed: int = 0,
    conv_dim: int = 16,
    batch_size: int = 16,
    max_dataset_size: int = 1000,
    **model_kw: object,
) -> dict[str, float]:
    """Train for ``iterations`` D iterations (G every n_critic) and score; keys ``<metric>_<task>_{identity,after}``."""
    L.seed_everything(seed, verbose=False)
    data = DemoMultiDomainDataModule("digits3", batch_size=batch_size, max_dataset_size=max_dataset_size)
    data.prepare_data()
    data.setup("test")
    names = data.domain_names
    tensors = domain_tensors(data)
    options = dict(
        input_nc=1, n_domains=3, labels="domain", domain_names=names, image_size=32, g_conv_dim=conv_dim,
        d_conv_dim=conv_dim, g_repeat_num=3, d_repeat_num=5, num_iters=iterations, num_iters_decay=iterations // 2,
        lr_update_step=10, lr_decay_to_zero=True,
    )  # fmt: skip
    model = StarGAN(**{**options, **model_kw})
    result = {f"{k}_identity": v for k, v in score(None, tensors, names).items()}
    n_critic = model.hparams.n_critic
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=iterations + iterations // n_critic,  # Lightning counts every D and every G step
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    t0 = time.perf_counter()
    trainer.fit(model, datamodule=data)
    result["train_seconds"] = time.perf_counter() - t0
    model.eval()
    result.update({f"{k}_after": v for k, v in score(model, tensors, names).items()})
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=300)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--conv-dim", type=int, default=16, help="g_conv_dim = d_conv_dim (paper 64)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--set", nargs="*", default=[], help="model options KEY=VALUE (e.g. n_critic=1 lr=2e-4)")
    args = p.parse_args()
    extra = {
        k: json.loads(v) if v[:1].isdigit() or v in ("true", "false") else v
        for k, v in (s.split("=", 1) for s in args.set)
    }
    for seed in args.seeds:
        r = train_and_score(args.iterations, seed, args.conv_dim, args.batch_size, **extra)
        print(json.dumps({"seed": seed, **{k: round(v, 3) for k, v in r.items()}}))


if __name__ == "__main__":
    main()
