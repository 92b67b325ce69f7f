"""Every model passes the same contract (DESIGN.md, "Tests" and "Every kind of model").

Parametrised over every paper class in translation_zoo/models/ *and* the test-only models of other kinds
(tests/contract_models.py: a multimodal and a multi-domain model). Everything a test needs to know about a model
comes from the model itself (``batch_kind``, ``tiny_config``, ``inference_conditions``, ``inference_spec``) and
from the batch builders in conftest.BATCH_KINDS: a model of a new kind needs a builder there, not new tests.
Unconditional models (GAN, DCGAN, VAE) generate from noise: ``forward(n)``; what translates an input image is
skipped for them by their declared kind.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from translation_zoo.export import compare_with_pytorch, export_generator
from translation_zoo.inference import load_model

from conftest import make_batch, predict_batch, source_of, target_of

pytestmark = pytest.mark.usefixtures("one_torch_thread")


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


def example_conditions(model) -> list[dict]:
    """One valid value per declared condition (besides the defaults), for forward/translate/predict."""
    out: list[dict] = [{}]
    for name, cond in model.inference_conditions().items():
        if cond.kind == "choice":
            out += [{name: c} for c in cond.choices]
        elif cond.kind == "index":
            out.append({name: cond.dim - 1})
        elif cond.kind in ("code", "vector"):
            out.append({name: torch.randn(1, cond.dim)})
        elif cond.kind == "image":
            out.append({name: torch.rand(1, cond.channels, 32, 32) * 2 - 1})
    return out


def test_zoo_is_not_empty():
    from conftest import all_model_classes

    names = {c.__name__ for c in all_model_classes()}
    assert {"Pix2Pix", "CycleGAN"} <= names


def test_forward_shape_and_finite(any_model_cls):
    from translation_zoo.inference import prepare_conditions

    model = tiny(any_model_cls).eval()
    batch = make_batch(model)
    x = source_of(model, batch)
    for conditions in example_conditions(model):
        out = model(x, **prepare_conditions(model, conditions, x))
        target = target_of(model, batch)
        assert out.shape[0] == target.shape[0] and out.shape[2:] == target.shape[2:], conditions
        if not {c.kind for c in model.inference_conditions().values()} & {"choice"}:
            assert out.shape == target_of(model, batch).shape
        assert torch.isfinite(out).all() and out.abs().max() <= 1.0, conditions


def test_unknown_and_bad_conditions_are_clear_errors(any_model_cls):
    model = tiny(any_model_cls).eval()
    with pytest.raises(ValueError, match="no_such_condition"):
        model.translate(Image.new("L", (32, 32)), no_such_condition=1)
    if model.unconditional:
        with pytest.raises(ValueError, match="no_such_condition"):
            model.sample(2, no_such_condition=1)
        with pytest.raises(ValueError, match="unconditional"):
            model.translate(Image.new("L", (32, 32)))
    for name, cond in model.inference_conditions().items():
        bad = {"choice": "sideways", "index": cond.dim, "code": torch.zeros(1, (cond.dim or 0) + 1)}.get(cond.kind)
        if cond.kind == "image":
            bad = torch.zeros(1, 2, 32, 32)  # neither the declared channels nor an image
        if cond.kind == "vector":
            bad = torch.zeros(1, cond.dim + 1)
        with pytest.raises(ValueError, match=f"{type(model).__name__}: {name}"):
            model.check_conditions({name: bad})


def test_param_groups_disjoint_and_complete(any_model_cls):
    model = tiny(any_model_cls)
    groups = model.param_groups()
    assert groups  # GANs have two or more players; a VAE has one (encoder and decoder under one objective)
    ids = [{id(p) for m in mods for p in m.parameters() if p.requires_grad} for mods in groups.values()]
    for i in range(len(ids)):
        for j in range(i + 1, len(ids)):
            assert not ids[i] & ids[j], f"groups {list(groups)[i]} and {list(groups)[j]} share parameters"
    assert set().union(*ids) == {id(p) for p in model.parameters() if p.requires_grad}
    assert len(model.configure_optimizers()[0]) == len(groups)


def test_one_training_step_updates_every_parameter(any_model_cls, tmp_path):
    model = tiny(any_model_cls)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    fit_one_step(model, tmp_path)
    unchanged = [n for n, p in model.named_parameters() if p.requires_grad and torch.equal(p, before[n])]
    assert not unchanged, f"parameters not updated by one training step: {unchanged[:5]}"


def test_checkpoint_roundtrip_gives_identical_outputs(any_model_cls, tmp_path):
    model = tiny(any_model_cls)
    trainer = fit_one_step(model, tmp_path)
    ckpt = tmp_path / "m.ckpt"
    trainer.save_checkpoint(ckpt)
    loaded = any_model_cls.load_from_checkpoint(ckpt, weights_only=True)
    assert dict(loaded.hparams) == dict(model.hparams)
    x = source_of(model, make_batch(model, seed=3))
    model.eval(), loaded.eval()
    torch.manual_seed(1)
    a = model(x)
    torch.manual_seed(1)
    b = loaded(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    for (n, t1), (_, t2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        if isinstance(t1, torch.Tensor):
            assert torch.equal(t1, t2), n


def test_predict_step_returns_fakes_samples_and_paths(any_model_cls):
    model = tiny(any_model_cls).eval()
    x = source_of(model, make_batch(model))
    out = model.predict_step(predict_batch(model, x, ["x/1.png", "2.png"]), 0)
    assert out["fake"].shape[0] == 2 and out["path"] == ["x/1.png", "2.png"]
    assert "samples" not in out
    for conditions in example_conditions(model)[1:]:
        model.predict_conditions, model.predict_num_samples = conditions, 3
        out = model.predict_step(predict_batch(model, x, ["1.png", "2.png"]), 0)
        assert len(out["samples"]) == 3 and out["fake"] is out["samples"][0]
    declared = model.inference_conditions()
    if any(c.kind == "code" for c in declared.values()):  # multimodal: samples of one input differ
        model.predict_conditions, model.predict_num_samples = {}, 2
        first, second = model.predict_step(predict_batch(model, x, None), 0)["samples"]
        assert not torch.equal(first, second)


def test_visuals_rows_have_batch_size(any_model_cls):
    model = tiny(any_model_cls).eval()
    rows = model.visuals(make_batch(model, n=3))
    assert rows and all(t.shape[0] == 3 and t.dim() == 4 for row in rows for t in row)


def test_translate_pil_in_pil_out_for_every_condition(any_model_cls):
    model = tiny(any_model_cls).eval()
    if model.unconditional:
        pytest.skip(f"{any_model_cls.__name__} is unconditional: it translates no image (sample() is tested)")
    channels = model.inference_spec().input_nc
    if channels not in (1, 3):
        pytest.skip(f"{any_model_cls.__name__} translates {channels}-channel inputs, not images")
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 28), dtype=np.uint8))
    for conditions in example_conditions(model):
        out = model.translate(picture, **conditions)
        assert out.size == (28, 20), conditions
    samples = model.translate([picture, picture], num_samples=2)
    assert len(samples) == 2 and all(len(s) == 2 for s in samples)


@pytest.mark.parametrize("precision", ["bf16-mixed"])
def test_mixed_precision_step(any_model_cls, tmp_path, precision):
    model = tiny(any_model_cls)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    fit_one_step(model, tmp_path, precision=precision)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay fp32
    unchanged = [n for n, p in model.named_parameters() if torch.equal(p, before[n])]
    # A bias right before a batch norm (kept where the official layout has one, e.g. Fader Networks) has a gradient
    # that is mathematically zero: in fp32 it moves by round-off, in bf16 it may not move at all.
    # A model may name parameters whose gradient is exactly zero in this step (its own test checks that in fp32).
    allowed = biases_before_batch_norm(model) | set(getattr(model, "zero_gradient_parameters", set)())
    assert set(unchanged) <= allowed, unchanged


def biases_before_batch_norm(model: torch.nn.Module) -> set[str]:
    """Names of the biases of convolutions / linear layers that a batch norm follows directly in a Sequential."""
    names = set()
    for prefix, module in model.named_modules():
        if isinstance(module, torch.nn.Sequential):
            children = list(module.named_children())
            for (name, layer), (_, following) in zip(children, children[1:]):
                if getattr(layer, "bias", None) is not None and isinstance(
                    following, torch.nn.modules.batchnorm._BatchNorm
                ):
                    names.add(f"{prefix}.{name}.bias" if prefix else f"{name}.bias")
    return names


def test_torchscript_export_round_trip(any_model_cls, tmp_path):
    """The exported graph (with the model's extra inputs, e.g. z) equals the model's network after a reload."""
    model = tiny(any_model_cls).eval()
    for conditions in [c for c in example_conditions(model) if all(isinstance(v, str) for v in c.values())]:
        spec = model.inference_spec(**conditions)
        path = export_generator(model, tmp_path / "g.pt", "torchscript", size=32, **conditions)  # verifies too
        g = torch.Generator().manual_seed(0)
        image = (torch.rand(2, spec.input_nc, 32, 32, generator=g) * 2 - 1,) if spec.image_input else ()
        inputs = image + tuple(
            torch.randn(2, *v.shape[1:], generator=g) if v.is_floating_point() else v.expand(2, *v.shape[1:])
            for v in spec.extra_inputs.values()
        )
        diff = compare_with_pytorch(Path(path), spec.module.eval(), inputs, "torchscript")
        assert diff is not None and diff[0] < 1e-4, (conditions, diff)


def test_lightning_checkpoint_loads_through_load_model(any_model_cls, tmp_path):
    model = tiny(any_model_cls)
    trainer = fit_one_step(model, tmp_path)
    ckpt = tmp_path / "m.ckpt"
    trainer.save_checkpoint(ckpt)
    loaded = load_model(ckpt, model=any_model_cls)
    assert type(loaded) is any_model_cls and not loaded.training
    pairs = zip(model.state_dict().values(), loaded.state_dict().values())
    assert all(torch.equal(a, b) for a, b in pairs if isinstance(a, torch.Tensor))
