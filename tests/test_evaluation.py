"""Evaluation in the models: validation/test metrics, their names and values, checkpoint selection, DDP sync."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader

from translation_zoo.data import DemoPairedDataModule, DemoUnpairedDataModule, label_from_path
from translation_zoo.models import CycleGAN, Pix2Pix

ROOT = Path(__file__).resolve().parents[1]
PIX2PIX_NAMES = {
    "fid_digits_mnist",
    "kid_digits_mnist",
    "kid_std_digits_mnist",
    "acc_digits_mnist",
    "l1",
    "psnr",
    "ssim",
}
CYCLEGAN_NAMES = {"cyc_a", "cyc_b", "fid_digits_uci", "kid_digits_uci", "kid_std_digits_uci", "acc_digits_uci"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def trainer(tmp_path, **kw) -> L.Trainer:
    defaults = dict(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    return L.Trainer(**{**defaults, **kw})


def run_cli(*args: str, cwd: Path) -> str:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "translation_zoo.cli", *args]
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"exit {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}"
    return out.stdout


def tiny_pix2pix(**kw) -> Pix2Pix:
    torch.manual_seed(0)
    metrics = ["fid", "kid", "acc", "l1", "psnr", "ssim"]
    return Pix2Pix(**{**Pix2Pix.tiny_config, "val_metrics": metrics, "feature_extractor": "digits_mnist", **kw})


def tiny_cyclegan(**kw) -> CycleGAN:
    torch.manual_seed(0)
    return CycleGAN(
        **{**CycleGAN.tiny_config, "val_metrics": ["fid", "kid", "acc"], "feature_extractor": "digits_uci", **kw}
    )


def finite(results: dict) -> bool:
    return all(math.isfinite(float(v)) for v in results.values())


def test_pix2pix_validate_and_test_log_every_metric(tmp_path):
    model = tiny_pix2pix(eval_mode=True)  # deterministic generator, so two validations must agree
    data = DemoPairedDataModule(batch_size=8, max_dataset_size=16)
    t = trainer(tmp_path)
    (val,) = t.validate(model, datamodule=data, verbose=False)
    (test,) = t.test(model, datamodule=data, verbose=False)
    assert set(val) == {f"val/{n}" for n in PIX2PIX_NAMES}
    assert set(test) == {f"test/{n}" for n in PIX2PIX_NAMES}
    assert finite(val) and finite(test)
    assert 0 <= val["val/acc_digits_mnist"] <= 1 and val["val/fid_digits_mnist"] > 0
    # Each run starts from empty statistics, even after an interrupted one left some behind.
    model.eval_metrics.update(torch.ones(4, 1, 32, 32), -torch.ones(4, 1, 32, 32), torch.zeros(4))
    (again,) = t.validate(model, datamodule=data, verbose=False)
    assert again == pytest.approx(val, rel=1e-5)


def test_metrics_measure_the_translation_not_noise(tmp_path):
    """Perfect translations score perfectly; the untrained model does not."""
    data = DemoPairedDataModule(batch_size=16, max_dataset_size=32)
    model = tiny_pix2pix()
    (untrained,) = trainer(tmp_path).validate(model, datamodule=data, verbose=False)

    oracle = tiny_pix2pix()
    oracle.validation_step = lambda batch, batch_idx: oracle.update_eval_metrics(batch["B"], batch["B"], batch)
    (perfect,) = trainer(tmp_path).validate(oracle, datamodule=data, verbose=False)
    assert perfect["val/l1"] == 0 and perfect["val/ssim"] == pytest.approx(1, abs=1e-4)
    assert perfect["val/fid_digits_mnist"] == pytest.approx(0, abs=1e-2)
    assert perfect["val/acc_digits_mnist"] > 0.9  # the held-in classifier on real digits
    assert untrained["val/fid_digits_mnist"] > 10 and untrained["val/l1"] > 0.1


def test_best_checkpoint_is_selected_on_fid(tmp_path):
    model = tiny_pix2pix()
    data = DemoPairedDataModule(batch_size=8, max_dataset_size=16)
    ckpt = ModelCheckpoint(dirpath=tmp_path, monitor="val/fid_digits_mnist", mode="min", filename="best-{epoch}")
    t = trainer(tmp_path, max_epochs=2, limit_train_batches=1, enable_checkpointing=True, callbacks=[ckpt])
    t.fit(model, datamodule=data)
    assert ckpt.best_model_path.endswith(".ckpt") and math.isfinite(float(ckpt.best_model_score))
    epoch_fids = [float(s) for s in ckpt.best_k_models.values()]
    assert float(ckpt.best_model_score) == min(epoch_fids)
    # The checkpoint loads strictly (the frozen extractor is not in it) and rebuilds the same suite.
    state = torch.load(ckpt.best_model_path, weights_only=True, map_location="cpu")["state_dict"]
    assert not any(".extractor." in k for k in state)
    loaded = Pix2Pix.load_from_checkpoint(ckpt.best_model_path, weights_only=True)
    assert loaded.eval_metrics.metric_names == model.eval_metrics.metric_names


def test_cyclegan_scores_g_of_a_against_real_b(tmp_path):
    model = tiny_cyclegan()
    data = DemoUnpairedDataModule(batch_size=8, max_dataset_size=16)
    seen: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    update = model.eval_metrics.update

    def spy(fake, real, labels=None):
        seen.append((fake, real, labels))
        update(fake, real, labels)

    model.eval_metrics.update = spy
    (test,) = trainer(tmp_path).test(model, datamodule=data, verbose=False)
    assert set(test) == {f"test/{n}" for n in CYCLEGAN_NAMES} and finite(test)

    data.setup("test")
    batches = list(data.test_dataloader())
    assert len(seen) == len(batches) == 2
    model.eval()
    for (fake, real, labels), batch in zip(seen, batches):
        with torch.no_grad():
            torch.testing.assert_close(fake, model.gen_a2b(batch["A"]))  # G(a), not F(b) nor a
        torch.testing.assert_close(real, batch["B"])  # real B images of the test split
        assert labels.tolist() == [label_from_path(p) for p in batch["A_path"]]  # a's digit, not b's


def test_unpaired_real_images_are_counted_once_per_epoch():
    model = tiny_cyclegan(val_metrics=["fid"]).eval()
    x = torch.rand(4, 1, 32, 32) * 2 - 1
    batch = {"A": x, "B": x.flip(0), "A_path": [f"a{i}" for i in range(4)], "B_path": ["b0", "b1", "b0", "b1"]}
    model.on_validation_epoch_start()
    model.log = lambda *a, **k: None
    model.validation_step(batch, 0)
    model.validation_step(batch, 1)
    fid = model.eval_metrics.metrics["fid"]
    assert int(fid.fake_features_num_samples) == 8 and int(fid.real_features_num_samples) == 2
    model.on_validation_epoch_start()  # a new epoch counts them again
    assert int(fid.real_features_num_samples) == 0


def test_paper_defaults_construct_and_validate_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # no Inception weights anywhere
    monkeypatch.delenv("TRANSLATION_ZOO_INCEPTION_WEIGHTS", raising=False)
    pix = Pix2Pix()  # RGB, unet_256, no feature network: L1 / PSNR / SSIM only
    assert pix.eval_metrics.metric_names == ["psnr", "ssim", "l1"]
    img = torch.rand(1, 3, 256, 256) * 2 - 1
    loader = DataLoader([{"A": img[0], "B": img[0].flip(-1)}], batch_size=1)
    (res,) = trainer(tmp_path).validate(pix, loader, verbose=False)
    assert set(res) == {"val/l1", "val/psnr", "val/ssim"} and finite(res)

    cyc = CycleGAN(**CycleGAN.tiny_config)  # default metrics: unpaired, no feature network -> only the cycle errors
    assert cyc.eval_metrics is None
    small = torch.rand(1, 1, 32, 32) * 2 - 1
    (res,) = trainer(tmp_path).validate(cyc, DataLoader([{"A": small[0], "B": small[0]}]), verbose=False)
    assert set(res) == {"val/cyc_a", "val/cyc_b"}

    # Inception is only loaded when first used, so a model that asks for it still constructs offline ...
    inc = Pix2Pix(**Pix2Pix.tiny_config, feature_extractor="inception")
    assert "fid_inception" in inc.eval_metrics.metric_names
    # ... and validating says where the weights must come from.
    with pytest.raises(FileNotFoundError, match="never downloads"):
        inc.update_eval_metrics(torch.zeros(2, 1, 32, 32), torch.zeros(2, 1, 32, 32), {})


def test_bad_metric_options_are_clear():
    with pytest.raises(ValueError, match="need a feature space"):
        Pix2Pix(**Pix2Pix.tiny_config, val_metrics=["fid", "l1"])
    with pytest.raises(ValueError, match="aligned ground truth"):
        CycleGAN(**CycleGAN.tiny_config, val_metrics=["l1"], feature_extractor="digits_uci")
    with pytest.raises(ValueError, match="Unknown metric"):
        Pix2Pix(**Pix2Pix.tiny_config, val_metrics=["fidd"], feature_extractor="digits_mnist")


def test_lightning_test_under_ddp_prints_the_same_metrics_as_one_process(tmp_path):
    """`lightning test` prints the suite, and under DDP (2 CPU processes) the metric states are synchronised:
    FID/KID/acc over both ranks' halves equal the single-process values (unsynchronised ranks would each
    report their own half)."""
    recipe = ROOT / "recipes" / "quickstart_cyclegan_digits.yaml"
    # The recipe's model; its weights reach the CLI run through the checkpoint.
    model = tiny_cyclegan(netG="resnet_6blocks", ngf=16, ndf=16)
    data = DemoUnpairedDataModule(batch_size=16, max_dataset_size=32)  # 2 batches: one per rank
    t = trainer(tmp_path)
    (one,) = t.test(model, datamodule=data, verbose=False)
    ckpt = tmp_path / "model.ckpt"
    t.save_checkpoint(ckpt)
    # What `lightning fit` would have recorded: LightningCLI (subclass mode) reads the class from the checkpoint.
    state = torch.load(ckpt, weights_only=True)
    state["hyper_parameters"]["_class_path"] = "translation_zoo.models.CycleGAN"
    torch.save(state, ckpt)
    out = run_cli(
        "test",
        "--config", str(recipe),
        "--ckpt_path", str(ckpt),
        "--data.init_args.max_dataset_size=32",
        "--data.init_args.batch_size=16",
        "--trainer.logger=false",
        "--trainer.devices=2",
        "--trainer.strategy=ddp",
        cwd=tmp_path,
    )  # fmt: skip
    assert set(one) == {f"test/{n}" for n in CYCLEGAN_NAMES}
    for name, expected in one.items():
        match = re.search(rf"{re.escape(name)}\s+│?\s*([-\d.e+]+)", out)
        assert match, f"{name} not printed:\n{out[-3000:]}"
        assert float(match.group(1)) == pytest.approx(expected, rel=1e-4, abs=1e-6), name
