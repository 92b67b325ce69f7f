"""Cost of resumable checkpoints: file size, save time (crash-safe write with fsync) and resume time.

    python benchmarks/checkpointing.py                       # tiny, quickstart and paper presets of both models
    python benchmarks/checkpointing.py --models pix2pix --presets paper

For each model and preset, in this process: trains ``--steps`` batches through Lightning (so the optimisers have
their state) and fills CycleGAN's image pools to capacity (their steady state); then, ``--repeats`` times:

* dump: builds the checkpoint as ``ModelCheckpoint`` does (Lightning's ``dump_checkpoint``: state dicts, loops,
  callbacks, the model's ``on_save_checkpoint`` with RNG states and the finiteness check);
* write: writes it through :class:`~translation_zoo.callbacks.AtomicCheckpointIO` (temp file, fsync, rename);
* load: what a resume adds to a fresh start: ``torch.load(weights_only=True)`` and restoring the model and the
  optimisers.

Reports the file size and the fastest of the repeats (the least disturbed by other processes on a shared machine).
Presets: ``tiny`` = the model's ``tiny_config`` on 32x32 grey images; ``quickstart`` = the quickstart recipe's
model on 32x32 grey images; ``paper`` = the paper defaults on 256x256 RGB images (batch 1).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from translation_zoo.callbacks import AtomicCheckpointIO
from translation_zoo.models import CycleGAN, Pix2Pix

PRESETS = {
    ("pix2pix", "tiny"): (Pix2Pix, Pix2Pix.tiny_config, 32, 8),
    ("pix2pix", "quickstart"): (
        Pix2Pix,
        {"input_nc": 1, "output_nc": 1, "netG": "unet_5d", "ngf": 16, "ndf": 16},
        32,
        16,
    ),
    ("pix2pix", "paper"): (Pix2Pix, {}, 256, 1),
    ("cyclegan", "tiny"): (CycleGAN, CycleGAN.tiny_config, 32, 8),
    ("cyclegan", "quickstart"): (
        CycleGAN,
        {"input_nc": 1, "output_nc": 1, "netG": "resnet_6blocks", "ngf": 16, "ndf": 16},
        32,
        8,
    ),
    ("cyclegan", "paper"): (CycleGAN, {}, 256, 1),
}


class Noise(Dataset):
    def __init__(self, n: int, channels: tuple[int, int], size: int) -> None:
        self.n, self.channels, self.size = n, channels, size

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(i)
        a, b = self.channels
        return {
            "A": torch.rand(a, self.size, self.size, generator=g) * 2 - 1,
            "B": torch.rand(b, self.size, self.size) * 2 - 1,
        }


def trainer(root: Path, max_steps: int) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu",
        max_steps=max_steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=root,
        plugins=[AtomicCheckpointIO()],
    )


def measure(name: str, preset: str, steps: int, repeats: int) -> dict:
    cls, config, size, batch = PRESETS[(name, preset)]
    torch.manual_seed(0)
    model = cls(**config)
    hp = model.hparams
    loader = DataLoader(Noise(steps * batch + batch, (hp.input_nc, hp.output_nc), size), batch_size=batch)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # Each batch is 2 optimiser steps (G and D), as trainer.global_step counts them.
        fit = trainer(root, 2 * steps)
        fit.fit(model, loader)
        for pool, channels in (
            (getattr(model, "fake_a_pool", None), hp.input_nc),
            (getattr(model, "fake_b_pool", None), hp.output_nc),
        ):
            if pool is not None:  # steady state: a full pool
                pool.images = [torch.rand(channels, size, size) for _ in range(pool.pool_size)]
        path = root / "last.ckpt"
        dumps, writes, loads = [], [], []
        for _ in range(repeats):
            # What ModelCheckpoint does: build the checkpoint (hooks, RNG states, finiteness check), then write it.
            t = time.perf_counter()
            checkpoint = fit._checkpoint_connector.dump_checkpoint(weights_only=False)
            dumps.append(time.perf_counter() - t)
            t = time.perf_counter()
            fit.strategy.checkpoint_io.save_checkpoint(checkpoint, path)
            writes.append(time.perf_counter() - t)
            del checkpoint
            # What a resume adds to a fresh start: read the file (weights_only) and restore model and optimisers.
            fresh = cls(**config)
            optimizers, _ = fresh.configure_optimizers()
            t = time.perf_counter()
            loaded = torch.load(path, map_location="cpu", weights_only=True)
            fresh.on_load_checkpoint(loaded)
            fresh.load_state_dict(loaded["state_dict"])
            for opt, state in zip(optimizers, loaded["optimizer_states"]):
                opt.load_state_dict(state)
            loads.append(time.perf_counter() - t)
            del loaded, fresh, optimizers
        return {
            "model": name,
            "preset": preset,
            "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
            "size_MB": path.stat().st_size / 1e6,
            "dump_s": min(dumps),
            "write_s": min(writes),
            "load_s": min(loads),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["pix2pix", "cyclegan"], choices=["pix2pix", "cyclegan"])
    parser.add_argument("--presets", nargs="+", default=["tiny", "quickstart", "paper"])
    parser.add_argument("--steps", type=int, default=2, help="batches trained before saving")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [measure(m, p, args.steps, args.repeats) for m in args.models for p in args.presets]
    head = ("model", "preset", "params (M)", "ckpt (MB)", "dump (s)", "write (s)", "load (s)")
    print(f"{head[0]:10} {head[1]:11} " + " ".join(f"{h:>10}" for h in head[2:]))
    for r in rows:
        print(
            f"{r['model']:10} {r['preset']:11} {r['params_M']:10.2f} {r['size_MB']:10.1f} {r['dump_s']:10.3f} "
            f"{r['write_s']:10.3f} {r['load_s']:10.3f}"
        )


if __name__ == "__main__":
    main()
