"""The model contract seen from outside: list_models, dispatch by name, old checkpoints, predict-time options."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from contract_models import TinyMultiDomain, TinyMultimodal
from torch.utils.data import DataLoader

from translation_zoo import list_models, load_model
from translation_zoo.callbacks import TranslationWriter
from translation_zoo.export import main as export_main
from translation_zoo.hub import OfficialWeightsError, from_official
from translation_zoo.registry import model_class

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FIXTURES = Path(__file__).parent / "fixtures"


def test_list_models_describes_every_paper_file():
    rows = {m.name: m for m in list_models()}
    assert {"Pix2Pix", "CycleGAN"} <= set(rows)
    p2p, cyc = rows["Pix2Pix"], rows["CycleGAN"]
    assert (p2p.batch_kind, cyc.batch_kind) == ("paired", "unpaired")
    assert p2p.official_weights and cyc.official_weights and "cycle_gan" in cyc.official_names
    assert "arXiv:1611.07004" in p2p.citation and p2p.title.startswith("pix2pix")
    assert cyc.class_path == "translation_zoo.models.CycleGAN"
    assert "TinyMultimodal" not in rows  # test-only models are not in the zoo


def test_model_class_by_any_spelling_and_clear_errors():
    assert model_class("cycle-gan").__name__ == "CycleGAN"
    assert model_class("translation_zoo.models.Pix2Pix").__name__ == "Pix2Pix"
    with pytest.raises(ValueError, match=r"unknown model 'nope'; the zoo has \[.*'CycleGAN'"):
        model_class("nope")
    with pytest.raises(OfficialWeightsError, match="no official weights import for 'TinyMultimodal'"):
        from_official(TinyMultimodal, G={})


@pytest.mark.parametrize("name", ["pix2pix", "cyclegan"])
def test_checkpoints_written_before_the_contract_still_load(name):
    """Lightning checkpoints written by main at 9d7511a (before this contract) load and give the same outputs."""
    path = FIXTURES / f"{name}_main_9d7511a.ckpt"
    model = load_model(path)
    ckpt = torch.load(path, weights_only=True)
    kwargs = {"direction": "b2a"} if name == "cyclegan" else {}
    with torch.no_grad():
        # Same weights, same output up to float rounding: the fixture was written by another torch build/CPU,
        # whose kernels may sum in another order (~1e-7 relative).
        torch.testing.assert_close(model(ckpt["fixture_input"], **kwargs), ckpt["fixture_output"], rtol=1e-4, atol=1e-6)


def test_predict_writes_several_samples_per_input_with_conditions(tmp_path):
    torch.manual_seed(0)
    model = TinyMultimodal()
    images = torch.rand(3, 1, 16, 16) * 2 - 1
    items = [{"A": images[i], "path": f"sub/img{i}.png"} for i in range(3)]
    writer = TranslationWriter(output_dir=str(tmp_path / "out"), num_samples=2)
    trainer = L.Trainer(accelerator="cpu", logger=False, callbacks=[writer], enable_progress_bar=False)
    trainer.predict(model, DataLoader(items, batch_size=2))
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png"))
    assert written == [f"sub/img{i}_{k}.png" for i in range(3) for k in range(2)]
    with pytest.raises(FileExistsError, match="img0_0.png already exists"):
        trainer.predict(model, DataLoader(items, batch_size=2))

    # A domain index as a predict-time condition; an unknown one names the model's conditions before any batch.
    multi = TinyMultiDomain()
    bad = TranslationWriter(output_dir=str(tmp_path / "bad"), conditions={"domain": 1})
    trainer = L.Trainer(accelerator="cpu", logger=False, callbacks=[bad], enable_progress_bar=False)
    with pytest.raises(ValueError, match=r"domain=1: TinyMultiDomain takes no condition 'domain'.*\['target'\]"):
        trainer.predict(multi, DataLoader(items, batch_size=2))
    assert not (tmp_path / "bad").exists()
    out_of_range = TranslationWriter(output_dir=str(tmp_path / "range"), conditions={"target": 3})
    trainer = L.Trainer(accelerator="cpu", logger=False, callbacks=[out_of_range], enable_progress_bar=False)
    with pytest.raises(ValueError, match=r"target=3 is out of range: expected a domain index in 0..2"):
        trainer.predict(multi, DataLoader(items, batch_size=2))


def test_translate_reference_image_files_and_wrong_channels(tmp_path):
    from PIL import Image

    model = TinyMultimodal(output_nc=3).eval()
    style = tmp_path / "style.png"
    Image.new("RGB", (40, 24), (200, 30, 30)).save(style)
    grey = Image.new("L", (20, 12), 128)
    first, again = model.translate(grey, style=style), model.translate(grey, style=str(style))
    assert first.size == (20, 12) and first.mode == "RGB"
    assert list(first.getdata()) == list(again.getdata())  # the style fixes the code: deterministic
    with pytest.raises(ValueError, match=r"TinyMultimodal: style must be \(N, 3, H, W\) images \(3 channels\)"):
        model(torch.zeros(1, 1, 8, 8), **model.check_conditions({"style": torch.zeros(1, 1, 8, 8)}))
    with pytest.raises(Exception, match="missing.png"):
        model.translate(grey, style=tmp_path / "missing.png")


def test_export_cli_takes_conditions_and_extra_inputs(tmp_path, capsys):
    model = TinyMultiDomain()
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    trainer.strategy.connect(model)
    ckpt = tmp_path / "multi.ckpt"
    trainer.save_checkpoint(ckpt)
    export_main(
        [
            "--ckpt",
            str(ckpt),
            "--model",
            "tests.contract_models.TinyMultiDomain",
            "--format",
            "torchscript",
            "--size",
            "16",
        ]
    )
    assert "wrote" in capsys.readouterr().out
    loaded = torch.jit.load(str(ckpt.with_suffix(".pt")))
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    target = torch.tensor([2, 0])
    with torch.no_grad():
        assert torch.allclose(loaded(x, target), model.gen(x, target), atol=1e-6)
    with pytest.raises(SystemExit):
        export_main(
            [
                "--ckpt",
                str(ckpt),
                "--model",
                "tests.contract_models.TinyMultiDomain",
                "--format",
                "torchscript",
                "--condition",
                "target",
            ]
        )
    assert "--condition takes NAME=VALUE" in capsys.readouterr().err
