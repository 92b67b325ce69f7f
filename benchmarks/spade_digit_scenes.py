"""SPADE in miniature on the embedded ``digit_scenes`` demo: does spatially-adaptive normalisation beat feeding the
label map only at the input (the paper's Table 1 / §4 claim against pix2pixHD), and does the VAE mode follow the style
image?

    python benchmarks/spade_digit_scenes.py --epochs 6 --threads 2

1. Label -> photo: SPADE (the quickstart recipe's widths: ngf 4, nhidden 64, ndf 16; G 1.22 M parameters) against
   Pix2PixHD with the widths of its quickstart (ngf 16, 3 down-samplings, 3 residual blocks, ndf 16; G 1.09 M; the
   label map enters only at the input), same epochs (half at the initial rate, half decaying), batch 4, seed, no VGG
   loss (its weights are a download). Metrics on the 100 validation scenes: the demo segmenter's pixel accuracy and
   mIoU on the synthesised photos (``translation_zoo.metrics.label_maps``: a small U-Net trained on the real demo
   photos; the paper's protocol in miniature), FID in that segmenter's feature space against the real training
   photos, and the L1 distance to the real photo.
2. VAE mode (``use_vae``): for each validation label map, outputs for 8 different style photos. Reported: the mean
   pairwise L1 between outputs of different styles, the same between two samples of one style (the encoder's ε
   alone), and the correlation across styles between the mean colour of the output and of the style photo.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import lightning as L
import torch

from translation_zoo.data.labelmaps import DemoLabelMapDataModule
from translation_zoo.models.pix2pixhd import Pix2PixHD
from translation_zoo.models.spade import SPADE

SPADE_WIDTHS = {"label_nc": 14, "contain_dontcare_label": False, "ngf": 4, "nhidden": 64, "crop_size": 64, "ndf": 16}
PIX2PIXHD_WIDTHS = {"label_nc": 14, "ngf": 16, "n_downsample_global": 3, "n_blocks_global": 3, "ndf": 16}


def build(name: str, epochs: int) -> L.LightningModule:
    sched = {"n_epochs": epochs // 2, "n_epochs_decay": epochs - epochs // 2, "lambda_vgg": 0.0}
    if name == "spade":
        return SPADE(**SPADE_WIDTHS, **sched)
    if name == "spade_vae":
        return SPADE(**SPADE_WIDTHS, **sched, use_vae=True)
    return Pix2PixHD(**PIX2PIXHD_WIDTHS, **sched)


def train(name: str, epochs: int, seed: int, batch_size: int) -> tuple[L.LightningModule, float]:
    L.seed_everything(seed)
    model = build(name, epochs)
    start = time.perf_counter()
    L.Trainer(
        accelerator="cpu", max_epochs=epochs, limit_val_batches=0, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    ).fit(model, DemoLabelMapDataModule(batch_size=batch_size))  # fmt: skip
    return model.eval(), time.perf_counter() - start


def val_batches() -> list[dict]:
    dm = DemoLabelMapDataModule(batch_size=4)
    dm.setup("validate")
    return list(dm.val_dataloader())


@torch.no_grad()
def synthesise(model: L.LightningModule, batches: list[dict]) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    fakes = [model(b["label"], instance=b["instance"]) for b in batches]
    return {
        "fake": torch.cat(fakes),
        "label": torch.cat([b["label"] for b in batches]),
        "real": torch.cat([b["image"] for b in batches]),
    }


def score(out: dict[str, torch.Tensor]) -> dict[str, float]:
    result = {"l1": float((out["fake"] - out["real"]).abs().mean())}
    try:
        from translation_zoo.metrics.label_maps import label_map_fid, load_scenes, segmentation_scores
    except ImportError:  # the shared metric is not there: L1 only
        return result
    try:
        result |= segmentation_scores(out["fake"], out["label"])
        result["fid"] = float(label_map_fid(load_scenes("train")["image"], out["fake"]))
    except Exception as e:  # e.g. the segmenter weights are not shipped yet
        result["metric_error"] = repr(e)
    return result


@torch.no_grad()
def style_effect(model: SPADE, batches: list[dict], n_styles: int = 8) -> dict[str, float]:
    """Different style photos -> different outputs, and the output's mean colour follows the style's."""
    torch.manual_seed(0)
    labels = torch.cat([b["label"] for b in batches])
    insts = torch.cat([b["instance"] for b in batches])
    photos = torch.cat([b["image"] for b in batches])
    styles = photos[torch.randperm(len(photos))[:n_styles]]  # (S, 3, H, W)
    outs = torch.stack([model(labels, instance=insts, style=s[None]) for s in styles])  # (S, N, 3, H, W)
    again = torch.stack([model(labels, instance=insts, style=s[None]) for s in styles])  # new ε per call
    pairs = [(i, j) for i in range(n_styles) for j in range(i + 1, n_styles)]
    between = torch.stack([(outs[i] - outs[j]).abs().mean() for i, j in pairs]).mean()
    within = (outs - again).abs().mean()
    out_colour = outs.mean(dim=(1, 3, 4))  # (S, 3)
    style_colour = styles.mean(dim=(2, 3))  # (S, 3)
    corr = torch.stack(
        [torch.corrcoef(torch.stack([out_colour[:, c], style_colour[:, c]]))[0, 1] for c in range(3)]
    ).mean()
    return {"l1_between_styles": float(between), "l1_same_style": float(within), "colour_corr": float(corr)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--vae-epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["spade", "pix2pixhd", "spade_vae"])
    parser.add_argument("--save-dir", type=Path, default=None, help="keep the val outputs here (fakes_<model>.pt)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batches = val_batches()
    results = {}
    for name in args.models:
        model, seconds = train(name, args.vae_epochs if name == "spade_vae" else args.epochs, args.seed,
                               args.batch_size)  # fmt: skip
        out = synthesise(model, batches)
        results[name] = {**score(out), "train_s": seconds}
        if name == "spade_vae":
            results[name] |= style_effect(model, batches)
        if args.save_dir is not None:
            args.save_dir.mkdir(parents=True, exist_ok=True)
            torch.save(out, args.save_dir / f"fakes_{name}.pt")
        print(name, json.dumps(results[name]), flush=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
