"""The `lightning` console script end to end: recipes, fit, predict, overrides, DDP, bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from PIL import Image

from translation_zoo.cli import TranslationCLI
from translation_zoo.models import TranslationGAN

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))
QUICK = ROOT / "recipes" / "quickstart_pix2pix_digits.yaml"
# A few steps of the quickstart recipe: tiny subsets, no sanity validation, CPU.
FAST = [
    "--trainer.max_epochs=1",
    "--data.init_args.max_dataset_size=32",
    "--trainer.num_sanity_val_steps=0",
]


def run_cli(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    exe = Path(sys.executable).with_name("lightning")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "translation_zoo.cli"]
    out = subprocess.run([*cmd, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check and out.returncode != 0:
        raise AssertionError(f"exit {out.returncode}\nSTDOUT:\n{out.stdout[-3000:]}\nSTDERR:\n{out.stderr[-5000:]}")
    return out


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipe_parses_and_instantiates_without_data(recipe, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a recipe's relative data root must not need to exist
    cli = TranslationCLI(
        TranslationGAN,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        auto_configure_optimizers=False,
        run=False,
        args=["--config", str(recipe), "--trainer.logger=false"],
    )
    assert isinstance(cli.model, TranslationGAN)
    assert isinstance(cli.datamodule, L.LightningDataModule)
    assert not list(tmp_path.iterdir())  # nothing written, nothing downloaded


def test_fit_then_predict_on_a_folder(tmp_path):
    run_cli("fit", "--config", str(QUICK), *FAST, "--model.init_args.lambda_l1=50", cwd=tmp_path)
    (run_dir,) = (tmp_path / "runs" / "quickstart_pix2pix").iterdir()
    config = (run_dir / "config.yaml").read_text()
    assert "lambda_l1: 50" in config  # the resolved config, with the override, beside the checkpoints
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    assert ckpt.exists() and list((run_dir / "images").glob("*.png"))
    assert "train/g_l1_epoch" in (run_dir / "metrics.csv").read_text()
    loaded = torch.load(ckpt, weights_only=True, map_location="cpu")
    assert loaded["hyper_parameters"]["lambda_l1"] == 50

    inputs = tmp_path / "inputs"
    (inputs / "sub").mkdir(parents=True)
    for name in ("a.png", "sub/b.png"):
        Image.new("L", (32, 32), 128).save(inputs / name)

    def predict(out_dir, *extra, check=True):
        return run_cli(
            "predict",
            "--config",
            str(QUICK),
            "--ckpt_path",
            str(ckpt),
            f"--data.init_args.predict_dir={inputs}",
            f"--predict_writer.output_dir={out_dir}",
            "--trainer.logger=false",
            *extra,
            cwd=tmp_path,
            check=check,
        )

    out_dir = tmp_path / "translated"
    predict(out_dir)
    written = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*.png"))
    assert written == ["a.png", "sub/b.png"]
    assert Image.open(out_dir / "a.png").size == (32, 32)

    # A second predict into the same folder refuses to overwrite what is there.
    before = (out_dir / "a.png").read_bytes()
    again = predict(out_dir, check=False)
    assert again.returncode != 0 and "already exists" in again.stderr
    assert (out_dir / "a.png").read_bytes() == before

    # Predict-time options: several samples per input (pix2pix's paper test mode keeps dropout on, so they differ).
    samples_dir = tmp_path / "samples"
    predict(samples_dir, "--predict_writer.num_samples=2")
    written = sorted(p.relative_to(samples_dir).as_posix() for p in samples_dir.rglob("*.png"))
    assert written == ["a_0.png", "a_1.png", "sub/b_0.png", "sub/b_1.png"]
    unknown = predict(tmp_path / "never", "--predict_writer.conditions={direction: b2a}", check=False)
    assert unknown.returncode == 2 and "error: direction='b2a': Pix2Pix has one generator (A→B)" in unknown.stderr
    assert not (tmp_path / "never").exists()


def test_second_fit_into_the_same_folder_keeps_the_first_config(tmp_path):
    same = ["--trainer.logger.init_args.version=fixed"]
    run_cli("fit", "--config", str(QUICK), *FAST, *same, cwd=tmp_path)
    run_cli("fit", "--config", str(QUICK), *FAST, *same, "--model.init_args.lambda_l1=7", cwd=tmp_path)
    run_dir = tmp_path / "runs" / "quickstart_pix2pix" / "fixed"
    assert "lambda_l1: 7" in (run_dir / "config.yaml").read_text()
    assert "lambda_l1: 100" in (run_dir / "config.1.yaml").read_text()


def test_bad_option_and_bad_file_give_clear_errors(tmp_path):
    bad = run_cli("fit", "--config", str(QUICK), "--data.init_args.direction=XtoY", cwd=tmp_path, check=False)
    assert bad.returncode != 0 and "direction" in bad.stderr

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "broken.png").write_bytes(b"not a png at all")
    out = run_cli(
        "predict",
        "--config",
        str(QUICK),
        f"--data.init_args.predict_dir={inputs}",
        "--trainer.logger=false",
        cwd=tmp_path,
        check=False,
    )
    assert out.returncode == 2
    assert "broken.png" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "recipe,run_name,batch",
    [("quickstart_pix2pix_digits", "quickstart_pix2pix", 16), ("quickstart_cyclegan_digits", "quickstart_cyclegan", 8)],
)
def test_ddp_two_cpu_processes(tmp_path, recipe, run_name, batch):
    run_cli(
        "fit",
        "--config",
        str(ROOT / "recipes" / f"{recipe}.yaml"),
        *FAST,
        f"--data.init_args.max_dataset_size={2 * batch}",
        "--trainer.devices=2",
        "--trainer.strategy=ddp_find_unused_parameters_true",
        "--trainer.logger.init_args.version=ddp",
        cwd=tmp_path,
    )
    ckpt = tmp_path / "runs" / run_name / "ddp" / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, weights_only=True, map_location="cpu")
    # 2 batches, 2 ranks: one batch per rank -> one step for each of the two optimisers.
    assert state["global_step"] == 2
    tensors = [v for v in state["state_dict"].values() if isinstance(v, torch.Tensor) and v.is_floating_point()]
    assert tensors and all(torch.isfinite(v).all() for v in tensors)
