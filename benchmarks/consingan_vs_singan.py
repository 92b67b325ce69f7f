"""ConSinGAN vs SinGAN on one embedded photo: SIFID of random samples and training time, side by side.

The paper's claim (Hinz et al., WACV 2021, §4): trained concurrently on its last stages with the improved rescaling,
ConSinGAN needs fewer stages (6 instead of SinGAN's 8-10 at 250 px) and less training time for samples of
comparable or better quality (SIFID). Here both models are trained on the embedded skimage photo (no download) with
the official networks and losses and a reduced, equal budget of iterations per stage; ConSinGAN with fewer stages
(``--stages``) than SinGAN's pyramid has scales. For each model, on ``n`` random samples:

- ``sifid``: mean SIFID against the training image (translation_zoo.metrics.sifid, feature network ``random_conv``);
- ``l1_to_image``: mean |sample - image| (0 for a copy); ``l1_between``: mean pairwise |sample_i - sample_j|;
- ``rec_rmse``: RMSE of the reconstruction from the fixed inputs; ``stages``, ``iterations``, ``train_seconds``.

And the trivial baseline ``sifid_shuffle``: the image's ``tiles`` x ``tiles`` tiles randomly permuted.

    python benchmarks/consingan_vs_singan.py --size 48 --min-size 16 --niter 60 --stages 4 6 --seeds 0 1

Numbers and the commands that made them: benchmarks/RESULTS.md ("ConSinGAN").
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import lightning as L
import torch

from translation_zoo.data.single import DemoSingleImageDataModule
from translation_zoo.metrics.sifid import patch_shuffle, sifid
from translation_zoo.models.consingan import ConSinGAN
from translation_zoo.models.singan import SinGAN


def score(model, image: torch.Tensor, n: int, seed: int) -> dict[str, float]:
    torch.manual_seed(seed)
    samples = model.sample(n)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    with torch.no_grad():
        rec_rmse = (model.reconstruct() - image).pow(2).mean().sqrt().item()
    return {
        "sifid": sifid(image, samples).mean().item(),
        "l1_to_image": (samples - image).abs().mean().item(),
        "l1_between": sum((samples[i] - samples[j]).abs().mean().item() for i, j in pairs) / max(1, len(pairs)),
        "rec_rmse": rec_rmse,
    }


def build(kind: str, image_size: tuple[int, int], min_size: int, niter: int, stages: int):
    """Each model with its official networks (SinGAN: 32 channels doubling every 4 scales; ConSinGAN: 64)."""
    if kind == "singan":
        # The SinGAN quickstart's budget: the lr drop at 80 % of niter, as the official 1600 of 2000.
        return SinGAN(image_size=image_size, min_size=min_size, niter=niter, lr_milestone=max(1, round(0.8 * niter)))
    return ConSinGAN(image_size=image_size, min_size=min_size, niter=niter, train_stages=stages)


def train_and_score(
    kind: str,
    name: str = "immunohistochemistry",
    size: int = 48,
    min_size: int = 16,
    niter: int = 60,
    stages: int = 4,
    n: int = 16,
    seed: int = 0,
) -> dict[str, float]:
    """Train ``kind`` (``singan`` or ``consingan``) on the demo photo and score ``n`` samples."""
    L.seed_everything(seed, verbose=False)
    dm = DemoSingleImageDataModule(name=name, size=size, steps_per_epoch=niter)
    dm.setup("fit")
    image = dm.image[None]
    model = build(kind, tuple(image.shape[-2:]), min_size, niter, stages)
    image = model.reals(image)[-1]
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    start = time.perf_counter()
    trainer.fit(model, datamodule=dm)
    seconds = time.perf_counter() - start
    model.eval()
    num = model.num_scales if kind == "singan" else model.num_stages
    return {**score(model, image, n, seed), "stages": num, "iterations": num * niter, "train_seconds": seconds}


def compare(
    name: str = "immunohistochemistry",
    size: int = 48,
    min_size: int = 16,
    niter: int = 60,
    stages: tuple[int, ...] = (4,),
    n: int = 16,
    tiles: int = 4,
    seeds: tuple[int, ...] = (0,),
    consingan_niter: int | None = None,
) -> dict[str, dict[str, float]]:
    """SinGAN and ConSinGAN (with each number of ``stages``) over ``seeds``: the mean of every number (and each
    seed's SIFID), plus the shuffle baseline. ``consingan_niter``: ConSinGAN's iterations per stage (default
    ``niter``), e.g. to compare at equal training time."""
    out: dict[str, dict[str, float]] = {}
    for kind, st in [("singan", 0), *(("consingan", st) for st in stages)]:
        it = niter if kind == "singan" or consingan_niter is None else consingan_niter
        runs = [train_and_score(kind, name, size, min_size, it, st, n, s) for s in seeds]
        key = kind if kind == "singan" else f"consingan_{st}_stages"
        out[key] = {k: statistics.mean(r[k] for r in runs) for k in runs[0]}
        out[key]["sifid_per_seed"] = [r["sifid"] for r in runs]
    dm = DemoSingleImageDataModule(name=name, size=size)
    dm.setup("fit")
    image = SinGAN(image_size=dm.image_size, min_size=min_size).reals(dm.image[None])[-1]
    g = torch.Generator().manual_seed(0)
    out["baseline"] = {"sifid_shuffle": sifid(image, patch_shuffle(image, n, tiles, g)).mean().item()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="immunohistochemistry")
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--min-size", type=int, default=16)
    parser.add_argument("--niter", type=int, default=60)
    parser.add_argument("--stages", type=int, nargs="+", default=[4], help="ConSinGAN's train_stages")
    parser.add_argument("--consingan-niter", type=int, default=None, help="default: --niter")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--tiles", type=int, default=4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=2)
    a = parser.parse_args()
    torch.set_num_threads(a.threads)
    r = compare(a.name, a.size, a.min_size, a.niter, tuple(a.stages), a.n, a.tiles, tuple(a.seeds), a.consingan_niter)

    def rounded(v):
        return [round(x, 4) for x in v] if isinstance(v, list) else round(v, 4) if isinstance(v, float) else v

    print(json.dumps({"args": vars(a), **{k: {kk: rounded(vv) for kk, vv in d.items()} for k, d in r.items()}}))


if __name__ == "__main__":
    main()
