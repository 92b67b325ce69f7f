"""Image grids reach every logger kind (TensorBoard events, PNG files) and show the model's visual rows."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from PIL import Image
from torch.utils.data import DataLoader

from translation_zoo.callbacks import ImageGridCallback, compose_grid
from translation_zoo.models import CycleGAN, Pix2Pix

from conftest import make_batch


def test_compose_grid_layout():
    a = torch.full((3, 1, 8, 8), -1.0)
    b = torch.full((3, 3, 8, 8), 1.0)
    grid = compose_grid([[a, b], [b, a, b]], max_images=2)
    # 2 samples x 2 rows stacked vertically; the widest row (3 tiles) sets the width; 2 px padding.
    assert grid.shape == (3, 2 + 4 * (8 + 2), 2 + 3 * 8 + 2)
    assert grid.min() >= 0 and grid.max() <= 1


def _fit(model, logger, tmp_path):
    batch = make_batch(model, n=4)
    items = [{k: v[i] for k, v in batch.items()} for i in range(4)]
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=logger,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[ImageGridCallback(every_n_batches=1, max_images=2)],
    )
    trainer.fit(model, DataLoader(items, batch_size=2), DataLoader(items, batch_size=2))
    return trainer


def test_grids_as_png_with_csv_logger(tmp_path):
    model = CycleGAN(**CycleGAN.tiny_config)
    trainer = _fit(model, CSVLogger(tmp_path), tmp_path)
    pngs = sorted((tmp_path / "lightning_logs" / "version_0" / "images").glob("*.png"))
    assert any("train_images" in p.name for p in pngs) and any("val_images" in p.name for p in pngs)
    w, h = Image.open(pngs[0]).size
    assert w == 2 + 3 * 32 + 2 and h == 2 + 2 * 2 * (32 + 2)  # CycleGAN: 2 rows of 3 per sample
    assert trainer.global_step == 4


def test_grids_reach_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model = Pix2Pix(**Pix2Pix.tiny_config)
    _fit(model, TensorBoardLogger(tmp_path, name="tb"), tmp_path)
    acc = EventAccumulator(str(tmp_path / "tb" / "version_0"), size_guidance={"images": 0})
    acc.Reload()
    assert {"train/images", "val/images"} <= set(acc.Tags()["images"])
