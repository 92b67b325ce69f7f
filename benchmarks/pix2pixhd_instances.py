"""pix2pixHD §3.3 in miniature: do instance boundary maps help where labels alone cannot tell objects apart?

    python benchmarks/pix2pixhd_instances.py --epochs 6

On the embedded ``digit_scenes`` demo (``DemoLabelMapDataModule``) touching MNIST digits of one class differ only in
the instance map, and each digit has a dark rim in the photo. Two Pix2PixHD models with the quickstart widths (ngf 16,
3 down-samplings, 3 residual blocks, ndf 16, 2-scale D, LSGAN + feature matching, no VGG loss), one with the
instance boundary map (the paper's default), one with ``no_instance=True``, train the same epochs (half at the
initial rate, half decaying) from the same seed. Metric on the validation scenes: mean |G(s) - x| (images in
[-1, 1]) on the pixels that are instance boundaries but not label boundaries, and on all pixels.
"""

from __future__ import annotations

import argparse
import json
import time

import lightning as L
import torch

from translation_zoo.data.labelmaps import DemoLabelMapDataModule
from translation_zoo.models.pix2pixhd import Pix2PixHD, get_edges


def train_and_score(no_instance: bool, epochs: int, seed: int, batch_size: int) -> dict[str, float]:
    L.seed_everything(seed)
    model = Pix2PixHD(
        label_nc=14, ngf=16, n_downsample_global=3, n_blocks_global=3, ndf=16, lambda_vgg=0.0,
        n_epochs=epochs // 2, n_epochs_decay=epochs - epochs // 2, no_instance=no_instance,
    )  # fmt: skip
    dm = DemoLabelMapDataModule(batch_size=batch_size, use_instance=True)
    start = time.perf_counter()
    L.Trainer(
        accelerator="cpu", max_epochs=epochs, limit_val_batches=0, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    ).fit(model, dm)  # fmt: skip
    train_s = time.perf_counter() - start
    dm.setup("validate")
    model.eval()
    err_rim = n_rim = err_all = n_all = 0.0
    with torch.no_grad():
        for b in dm.val_dataloader():
            fake = model(b["label"], instance=None if no_instance else b["instance"])
            d = (fake - b["image"]).abs().mean(1, keepdim=True)
            rim = (get_edges(b["instance"]) > 0) & (get_edges(b["label"]) == 0)  # instance-only boundaries
            err_rim += float(d[rim].sum())
            n_rim += int(rim.sum())
            err_all += float(d.sum())
            n_all += d.numel()
    return {"l1_instance_only_boundaries": err_rim / n_rim, "l1_all": err_all / n_all, "train_s": train_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {
        name: train_and_score(no_instance, args.epochs, args.seed, args.batch_size)
        for name, no_instance in (("instance", False), ("no_instance", True))
    }
    print("| model | L1 on instance-only boundaries | L1 all pixels | train s |\n|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['l1_instance_only_boundaries']:.3f} | {r['l1_all']:.3f} | {r['train_s']:.0f} |")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
