"""Label-to-photo synthesis on the embedded ``digit_scenes`` demo: pix2pixHD (and SPADE) against a pix2pix baseline.

    python benchmarks/label2photo_digit_scenes.py --models pix2pix pix2pixhd --epochs 6 --seeds 0 1
    python benchmarks/label2photo_digit_scenes.py --models pix2pix pix2pixhd spade   # once models/spade.py exists

The papers' protocol in miniature (pix2pixHD §4.1 Table 1, SPADE §4 Table 1): a segmenter trained on the *real*
demo photos (:mod:`translation_zoo.metrics.label_maps`, shipped weights) segments the photos each model synthesises
from the validation label maps (100 scenes, never trained on); pixel accuracy, mean class accuracy and mean IoU
against those label maps, plus FID in the segmenter's feature space against the 400 real training photos. The row
``real photos`` scores the real validation photos the same way: the ceiling.

Every model gets the same input (one-hot label map + instance boundary map, the pix2pixHD input), the same data,
batch size, number of epochs (half at the initial rate, half decaying linearly) and seed:

- ``pix2pix``: the pix2pix baseline, :class:`~translation_zoo.models.Pix2Pix` as its paper has it (U-Net with a
  1x1 bottleneck: 6 down-samplings for 64x64, batch norm, dropout, 70x70 PatchGAN, vanilla GAN + λ_L1 = 100 L1)
  at a width that gives about the parameters of the pix2pixHD demo model (G 1.03M vs 1.09M, D 0.37M vs 0.36M);
  given the pix2pixHD input by a thin adapter (:class:`LabelPix2Pix`). At test time dropout stays on and batch
  norm uses the test batch's statistics (its paper's test mode).
- any other name: the model of its digit_scenes recipe (``recipes/<name>_digit_scenes.yaml`` or
  ``quickstart_<name>_digit_scenes.yaml`` / ``quickstart_<name>_digits.yaml`` on ``DemoLabelMapDataModule``;
  ``pix2pixhd``: its demo config, instance maps on; ``spade``: SPADE's demo recipe once it exists), its ``n_epochs`` /
  ``n_epochs_decay`` set from ``--epochs``. The class is imported when its name is asked for, so the script runs
  before ``translation_zoo.models.spade`` exists.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml

from translation_zoo.data.labelmaps import DEMO_LABEL_NC, DemoLabelMapDataModule
from translation_zoo.metrics.label_maps import (
    LabelMapFeatures,
    label_map_fid,
    load_scenes,
    segmentation_scores,
    segmenter_info,
)
from translation_zoo.models.pix2pix import Pix2Pix
from translation_zoo.models.pix2pixhd import get_edges, one_hot

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
#: The pix2pix baseline: unet_6d reaches 1x1 from 64x64 (as unet_256 does from 256x256); ngf 12 / ndf 23 give
#: about the pix2pixHD demo model's parameters (G 1,032,699 vs 1,093,507; D 365,724 vs 357,858).
PIX2PIX_BASELINE = {"netG": "unet_6d", "ngf": 12, "ndf": 23}


class LabelPix2Pix(Pix2Pix):
    """pix2pix on semantic batches: G(one-hot label map ++ instance boundary map) -> photo (the pix2pixHD input).

    Args:
        label_nc: label classes.
        use_instance: append the boundary map of the instance map (of the label map when none is given).
        **kwargs: :class:`~translation_zoo.models.Pix2Pix` options.
    """

    batch_kind = "semantic"

    def __init__(self, label_nc: int = DEMO_LABEL_NC, use_instance: bool = True, **kwargs: Any) -> None:
        super().__init__(input_nc=label_nc + int(use_instance), output_nc=3, **kwargs)

    def encode(self, label: torch.Tensor, instance: torch.Tensor | None) -> torch.Tensor:
        inputs = [one_hot(label.long(), self.hparams.label_nc)]
        if self.hparams.use_instance:
            inputs.append(get_edges(label if instance is None else instance))
        return torch.cat(inputs, 1)  # (N, label_nc [+1], H, W)

    def forward(self, label: torch.Tensor, instance: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(self.encode(label, instance))

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        paired = {"A": self.encode(batch["label"], batch.get("instance")), "B": batch["image"]}
        return super().training_step(paired, batch_idx)


def recipe_model(name: str) -> tuple[type, dict[str, Any]]:
    """(class, init_args) of the model in the first of ``recipes/<name>_digit_scenes.yaml``,
    ``quickstart_<name>_digit_scenes.yaml``, ``quickstart_<name>_digits.yaml`` that trains on the digit_scenes demo
    (``DemoLabelMapDataModule``); the class is imported only now."""
    tried = []
    for file in (f"{name}_digit_scenes.yaml", f"quickstart_{name}_digit_scenes.yaml", f"quickstart_{name}_digits.yaml"):
        path = RECIPES / file
        tried.append(str(path))
        if not path.is_file():
            continue
        config = yaml.safe_load(path.read_text())
        if not str((config.get("data") or {}).get("class_path", "")).endswith("DemoLabelMapDataModule"):
            continue
        module, cls = config["model"]["class_path"].rsplit(".", 1)
        return getattr(importlib.import_module(module), cls), dict(config["model"].get("init_args") or {})
    raise SystemExit(f"--models {name}: no digit_scenes recipe (the model's demo config) among {tried}")


def build(name: str, epochs: int) -> L.LightningModule:
    schedule = {"n_epochs": epochs // 2, "n_epochs_decay": epochs - epochs // 2}
    if name == "pix2pix":
        return LabelPix2Pix(**PIX2PIX_BASELINE, **schedule)
    cls, kwargs = recipe_model(name)
    return cls(**{**kwargs, **schedule})


def count(module: torch.nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def synthesise(model: L.LightningModule, dm: DemoLabelMapDataModule) -> torch.Tensor:
    """The model's photos (N, 3, 64, 64) for every validation label map, in loader order (unshuffled)."""
    model.eval()
    with torch.no_grad():
        return torch.cat([model(b["label"], instance=b.get("instance")) for b in dm.val_dataloader()]).clamp(-1, 1)


def train_and_score(
    name: str, epochs: int, seed: int, batch_size: int, reference: torch.Tensor, save_dir: Path | None = None
) -> dict[str, Any]:
    L.seed_everything(seed)
    model = build(name, epochs)
    dm = DemoLabelMapDataModule(batch_size=batch_size, use_instance=True)
    start = time.perf_counter()
    L.Trainer(
        accelerator="cpu", max_epochs=epochs, limit_val_batches=0, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    ).fit(model, dm)  # fmt: skip
    train_s = time.perf_counter() - start
    dm.setup("validate")
    fake = synthesise(model, dm)
    labels = torch.cat([b["label"] for b in dm.val_dataloader()])
    if save_dir is not None:  # the synthesised photos, to look at or score again
        save_dir.mkdir(parents=True, exist_ok=True)
        torch.save({"fake": fake, "label": labels}, save_dir / f"{name}_seed{seed}_e{epochs}.pt")
    return {
        **segmentation_scores(fake, labels),
        "fid": label_map_fid(reference, fake),
        "train_s": train_s,
        "params_G": count(getattr(model, "gen", None)),
        "params_D": count(getattr(model, "disc", None)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["pix2pix", "pix2pixhd"])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--save-dir", type=Path, help="save each run's synthesised val photos here (.pt)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    reference = load_scenes("train")["image"]  # FID reference: the 400 real training photos
    val = load_scenes("val")
    results: dict[str, Any] = {
        "real photos": [{**segmentation_scores(val["image"], val["label"]),
                         "fid": label_map_fid(reference, val["image"], LabelMapFeatures())}]
    }  # fmt: skip
    for name in args.models:
        for seed in args.seeds:
            r = train_and_score(name, args.epochs, seed, args.batch_size, reference, args.save_dir)
            print(name, seed, json.dumps(r), flush=True)
            results.setdefault(name, []).append(r)

    print(f"\nsegmenter: {json.dumps(segmenter_info())}")
    print(f"{args.epochs} epochs, batch {args.batch_size}, seeds {args.seeds}, {args.threads} threads; val split (100)")
    keys = ("miou", "pixel_acc", "mean_class_acc", "fid")
    print("| model | params G / D | mIoU | pixel acc | mean class acc | FID (segmenter features) | train s |")
    print("|---|---|---|---|---|---|---|")
    for name, runs in results.items():
        cells = []
        for k in keys:
            vals = [r[k] for r in runs]
            sd = f" ± {statistics.stdev(vals):.3f}" if len(vals) > 1 else ""
            cells.append(f"{statistics.mean(vals):.3f}{sd}")
        params = (
            f"{runs[0]['params_G'] / 1e6:.2f}M / {runs[0]['params_D'] / 1e6:.2f}M" if "params_G" in runs[0] else "-"
        )
        train_s = f"{statistics.mean(r['train_s'] for r in runs):.0f}" if "train_s" in runs[0] else "-"
        print(f"| {name} | {params} | {' | '.join(cells)} | {train_s} |")
    if args.json:
        args.json.write_text(
            json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=1)
        )


if __name__ == "__main__":
    main()
