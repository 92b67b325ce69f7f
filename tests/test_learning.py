"""Slow: each model learns its embedded real-data task (not only runs)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import lightning as L
import pytest
import torch

from translation_zoo.data import DemoPairedDataModule, label_from_path
from translation_zoo.metrics import TranslationMetrics
from translation_zoo.models import Pix2Pix

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _load_benchmark(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cyclegan_translated_digits_keep_their_class():
    """MNIST -> UCI: a classifier trained on real UCI digits recognises G(a) as a's digit far above the untrained G."""
    bench = _load_benchmark("cyclegan_digits")
    r = bench.train_and_score(epochs=1, seed=0, ngf=16, max_dataset_size=400, batch_size=8)
    assert r["before"] < 0.2  # the initialised G destroys the digit (chance is 0.1)
    assert r["after"] > r["before"] + 0.15, r


@torch.no_grad()
def _score(model, loader):
    suite = TranslationMetrics(metrics=("l1", "acc"), feature_extractor="digits_mnist")
    for batch in loader:
        labels = torch.tensor([label_from_path(p) for p in batch["A_path"]])
        suite.update(model(batch["A"]), batch["B"], labels)
    return {k: float(v) for k, v in suite.compute().items()}


def test_pix2pix_learns_edges_to_digits():
    L.seed_everything(0, verbose=False)
    # 100 batches of 16 at the paper's lr: enough to go from a blank canvas to recognisable digits.
    data = DemoPairedDataModule(batch_size=16, max_dataset_size=1600, num_workers=0)
    data.prepare_data()
    data.setup("validate")
    model = Pix2Pix(input_nc=1, output_nc=1, netG="unet_5d", ngf=16, ndf=16, eval_mode=True)
    before = _score(model.eval(), data.val_dataloader())
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    trainer.fit(model.train(), datamodule=data)
    after = _score(model.eval(), data.val_dataloader())
    assert after["l1"] < 0.6 * before["l1"], (before, after)
    assert after["acc_digits_mnist"] > before["acc_digits_mnist"] + 0.2, (before, after)
