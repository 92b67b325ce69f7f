"""Every model in translation_zoo/models/ passes the same contract (DESIGN.md, "Tests")."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from conftest import all_model_classes, make_batch


class ListDataset(torch.utils.data.Dataset):
    def __init__(self, batch, n):
        self.items = [{k: v[i] for k, v in batch.items()} for i in range(n)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def tiny(model_cls, **kw):
    torch.manual_seed(0)
    return model_cls(**{**model_cls.tiny_config, **kw})


def fit_one_step(model, tmp_path, **trainer_kw):
    batch = make_batch(model, n=2)
    loader = DataLoader(ListDataset(batch, 2), batch_size=2)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        **trainer_kw,
    )
    trainer.fit(model, loader)
    return trainer


def test_zoo_is_not_empty():
    names = {c.__name__ for c in all_model_classes()}
    assert {"Pix2Pix", "CycleGAN"} <= names


def test_forward_shape_and_finite(model_cls):
    model = tiny(model_cls).eval()
    batch = make_batch(model)
    out = model(batch["A"])
    assert out.shape == batch["B"].shape
    assert torch.isfinite(out).all() and out.abs().max() <= 1.0


def test_param_groups_disjoint_and_complete(model_cls):
    model = tiny(model_cls)
    groups = model.param_groups()
    assert len(groups) >= 2
    ids = [{id(p) for m in mods for p in m.parameters() if p.requires_grad} for mods in groups.values()]
    for i in range(len(ids)):
        for j in range(i + 1, len(ids)):
            assert not ids[i] & ids[j], f"groups {list(groups)[i]} and {list(groups)[j]} share parameters"
    assert set().union(*ids) == {id(p) for p in model.parameters() if p.requires_grad}
    assert len(model.configure_optimizers()[0]) == len(groups)


def test_one_training_step_updates_every_parameter(model_cls, tmp_path):
    model = tiny(model_cls)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    fit_one_step(model, tmp_path)
    unchanged = [n for n, p in model.named_parameters() if p.requires_grad and torch.equal(p, before[n])]
    assert not unchanged, f"parameters not updated by one training step: {unchanged[:5]}"


def test_checkpoint_roundtrip_gives_identical_outputs(model_cls, tmp_path):
    model = tiny(model_cls)
    trainer = fit_one_step(model, tmp_path)
    ckpt = tmp_path / "m.ckpt"
    trainer.save_checkpoint(ckpt)
    loaded = model_cls.load_from_checkpoint(ckpt, weights_only=True)
    assert dict(loaded.hparams) == dict(model.hparams)
    x = make_batch(model, seed=3)["A"]
    model.eval(), loaded.eval()
    torch.manual_seed(1)
    a = model(x)
    torch.manual_seed(1)
    b = loaded(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    for (n, t1), (_, t2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        if isinstance(t1, torch.Tensor):
            assert torch.equal(t1, t2), n


def test_predict_step_returns_fakes_and_paths(model_cls):
    model = tiny(model_cls).eval()
    batch = make_batch(model)
    out = model.predict_step({"A": batch["A"], "path": ["x/1.png", "2.png"]}, 0)
    assert out["fake"].shape == batch["B"].shape and out["path"] == ["x/1.png", "2.png"]


def test_visuals_rows_have_batch_size(model_cls):
    model = tiny(model_cls).eval()
    rows = model.visuals(make_batch(model, n=3))
    assert rows and all(t.shape[0] == 3 and t.dim() == 4 for row in rows for t in row)


@pytest.mark.parametrize("precision", ["bf16-mixed"])
def test_mixed_precision_step(model_cls, tmp_path, precision):
    model = tiny(model_cls)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    fit_one_step(model, tmp_path, precision=precision)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay fp32
    changed = sum(not torch.equal(p, before[n]) for n, p in model.named_parameters())
    assert changed == len(before)
