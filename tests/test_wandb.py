"""Weights & Biases: the logger snippet composed with the recipes, offline runs, sweeps, rank-zero logging under DDP.

Every run here is offline (``WANDB_MODE=offline``): nothing needs a network or an account. What a run logged is
read back from its ``run-<id>.wandb`` file, the transaction log ``wandb sync`` would upload.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import yaml
from lightning.pytorch.loggers import CSVLogger, WandbLogger

from translation_zoo.callbacks.wandb import WandbConfigCallback
from translation_zoo.cli import TranslationCLI
from translation_zoo.models import TranslationGAN

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))
SNIPPET = ROOT / "recipes" / "snippets" / "wandb.yaml"
SWEEPS = sorted((ROOT / "recipes" / "sweeps").glob("*.yaml"))
QUICK = ROOT / "recipes" / "quickstart_pix2pix_digits.yaml"
FAST = ["--trainer.max_epochs=1", "--data.init_args.max_dataset_size=32", "--trainer.num_sanity_val_steps=0"]


# ------------------------------------------------------------------------------------------------------- helpers
def wandb_env(tmp_path: Path) -> dict[str, str]:
    """Offline W&B whose caches and staging areas stay inside ``tmp_path``; the CLI on PATH."""
    home = tmp_path / "wandb_home"
    return {
        **os.environ,
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "WANDB_CACHE_DIR": str(home / "cache"),
        "WANDB_CONFIG_DIR": str(home / "config"),
        "WANDB_DATA_DIR": str(home / "data"),
        "WANDB_ARTIFACT_DIR": str(home / "artifacts"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONWARNINGS": "ignore",
        "OMP_NUM_THREADS": "1",
    }


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, cwd=cwd, env=wandb_env(cwd), capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise AssertionError(
            f"exit {out.returncode}: {cmd}\nSTDOUT:\n{out.stdout[-3000:]}\nSTDERR:\n{out.stderr[-5000:]}"
        )
    return out


def lightning_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("lightning")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "translation_zoo.cli"]


def offline_runs(root: Path) -> list[Path]:
    return sorted((root / "runs" / "wandb").glob("offline-run-*"))


def wandb_records(run_dir: Path):
    """The protobuf records of an offline run's ``run-<id>.wandb`` file.

    The file is a LevelDB-style log (what the Go ``wandb-core`` writes and ``wandb sync`` reads): a 7-byte header
    ``:W&B`` + magic + version, then 32 KiB blocks of chunks, each ``crc32 (4) | length (2) | type (1) | data``;
    type 1 is a whole record, 2/3/4 its first/middle/last piece; a block tail shorter than a chunk header is padding.
    """
    from wandb.proto import wandb_internal_pb2

    (path,) = run_dir.glob("run-*.wandb")
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"unknown .wandb format in {path} (wandb {data[:7]!r}); update this reader"
    pos, block, pieces = 7, 32768, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 0:
            continue
        pieces = chunk if kind in (1, 2) else pieces + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pieces)
            yield record


def read_offline_run(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[Any]]:
    """(run config, history rows, artifact records) of an offline run, from its transaction log."""
    config: dict[str, Any] = {}
    history: list[dict[str, Any]] = []
    artifacts: list[Any] = []

    def key(item) -> str:
        return ".".join(item.nested_key) if item.nested_key else item.key

    for record in wandb_records(run_dir):
        kind = record.WhichOneof("record_type")
        if kind == "config":
            config.update({key(i): json.loads(i.value_json) for i in record.config.update})
        elif kind == "history":
            history.append({key(i): json.loads(i.value_json) for i in record.history.item})
        elif kind == "artifact":
            artifacts.append(record.artifact)
    return config, history, artifacts


def dotted(config: dict[str, Any], name: str) -> Any:
    """``config["model"]["init_args"]["lambda_l1"]`` for ``name = "model.init_args.lambda_l1"``."""
    value: Any = config
    for part in name.split("."):
        value = value[part]
    return value


def agent_command(sweep: dict[str, Any], params: dict[str, Any]) -> list[str]:
    """The command line a ``wandb agent`` builds for one run of ``sweep`` with the suggested ``params``.

    Mirrors ``wandb.wandb_agent.Agent._command_run`` (wandb 0.31): ``${envvar:NAME}`` inside a chunk is replaced by
    the environment variable; a chunk that is exactly a macro expands to a list of arguments (``${args}`` ->
    ``--name=value``, ``${args_no_hyphens}`` -> ``name=value``, ``${args_no_equals}`` -> ``--name value``,
    ``${args_json}``; ``${env}`` -> /usr/bin/env, ``${interpreter}`` -> python, ``${program}``); unknown macros vanish.
    """
    command = sweep.get("command") or ["${env}", "${interpreter}", "${program}", "${args}"]
    command = [re.sub(r"\$\{envvar:([A-Z0-9_]*)\}", lambda m: os.environ.get(m[1], m[1]), str(c)) for c in command]
    macros = {
        "env": ["/usr/bin/env"] if sys.platform != "win32" else [],
        "interpreter": ["python"],
        "program": [sweep["program"]] if "program" in sweep else [],
        "args": [f"--{k}={v}" for k, v in params.items()],
        "args_no_hyphens": [f"{k}={v}" for k, v in params.items()],
        "args_no_equals": [s for k, v in params.items() for s in (f"--{k}", str(v))],
        "args_json": [json.dumps(params)],
    }
    expanded: list[str] = []
    for chunk in command:
        if chunk.startswith("${") and chunk.endswith("}"):
            expanded += macros.get(chunk[2:-1], [])
        else:
            expanded.append(chunk)
    return expanded


# --------------------------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_snippet_adds_wandb_to_every_recipe(recipe, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lightning"])  # LightningCLI warns when given args beside pytest's argv
    cli = TranslationCLI(
        TranslationGAN,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        auto_configure_optimizers=False,
        run=False,
        args=["--config", str(recipe), "--config", str(SNIPPET)],
    )
    # Appended, not replaced: the recipe's CSVLogger and callbacks stay, W&B comes second.
    assert [type(lg) for lg in cli.trainer.loggers] == [CSVLogger, WandbLogger]
    recipe_callbacks = yaml.safe_load(recipe.read_text())["trainer"]["callbacks"]
    names = [type(cb).__name__ for cb in cli.trainer.callbacks]
    expected = [c["class_path"].rsplit(".", 1)[-1] for c in recipe_callbacks] + ["WandbConfigCallback"]
    assert all(names.count(name) == expected.count(name) for name in expected), names
    assert cli.trainer.loggers[1].name == "translation-zoo"  # WandbLogger.name is the project


def test_offline_run_logs_config_losses_images_and_checkpoints(tmp_path):
    args = [*FAST, "--model.init_args.lambda_l1=50", "--trainer.logger.init_args.log_model=true"]
    run([*lightning_cmd(), "fit", "--config", str(QUICK), "--config", str(SNIPPET), *args], cwd=tmp_path)

    (run_dir,) = offline_runs(tmp_path)
    assert (run_dir / "files").is_dir()
    config, history, artifacts = read_offline_run(run_dir)
    # The full resolved config (WandbConfigCallback), nested as in config.yaml ...
    assert dotted(config, "model.class_path") == "translation_zoo.models.Pix2Pix"
    assert dotted(config, "model.init_args.lambda_l1") == 50
    assert dotted(config, "trainer.max_epochs") == 1
    assert dotted(config, "data.class_path") == "translation_zoo.data.DemoPairedDataModule"
    assert config["seed_everything"] == 0
    # ... beside Lightning's own flat hparams of the model.
    assert config["lambda_l1"] == 50 and config["netG"] == "unet_5d"

    logged = {k for row in history for k in row}
    assert {"train/g_l1_epoch", "train/g_gan_epoch", "train/d_real_epoch", "val/l1"} <= logged
    (image,) = [row for row in history if row.get("val/images._type") == "images/separated"]
    (png,) = image["val/images.filenames"]
    assert (run_dir / "files" / png).stat().st_size > 0
    # log_model=true: best and last checkpoints as "model" artifacts, at the end of fit.
    assert artifacts and {a.type for a in artifacts} == {"model"}
    # The recipe's own CSV run is unchanged.
    (csv_run,) = (tmp_path / "runs" / "quickstart_pix2pix").iterdir()
    assert (csv_run / "checkpoints" / "last.ckpt").exists() and (csv_run / "metrics.csv").exists()


@pytest.mark.parametrize("sweep_file", SWEEPS, ids=lambda p: p.stem)
@pytest.mark.filterwarnings("ignore:Valid config keys have changed in V2")  # sweeps 0.3.0's pydantic v1 Config
def test_sweep_runs_get_the_swept_values(sweep_file, tmp_path):
    try:
        import sweeps  # W&B's open-source sweep logic: what the controller runs for random / grid / bayes search
    except ImportError:
        pytest.fail("needs `pip install --no-deps sweeps==0.3.0 jsonref` (sweeps pins numpy<2 but runs on numpy 2)")

    sweep = yaml.safe_load(sweep_file.read_text())
    assert sweeps.schema_violations_from_proposed_config(sweep) == []
    assert sweep["method"] == "bayes" and all(p.startswith("model.init_args.") for p in sweep["parameters"])
    metric = sweep["metric"]["name"]

    # Two suggestions: the first from the prior, the second from the Gaussian process fitted to a finished run.
    first = sweeps.next_run(sweep, [], validate=True)
    finished = sweeps.SweepRun(name="r0", state="finished", config=first.config, history=[{metric: 0.5}])
    second = sweeps.next_run(sweep, [finished], validate=True)
    assert second.config != first.config
    # The controller sends the suggestion to the agent as JSON: plain floats and strings, no numpy scalars.
    params = json.loads(json.dumps({k: v["value"] for k, v in second.config.items()}, default=lambda x: x.item()))

    cmd = agent_command(sweep, params)
    assert cmd[:3] == ["/usr/bin/env", "lightning", "fit"] and all(f"--{k}={v}" in cmd for k, v in params.items())
    (tmp_path / "recipes").symlink_to(ROOT / "recipes")  # the agent runs from the repository root
    run([*cmd, *FAST, "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1"], cwd=tmp_path)

    (run_dir,) = offline_runs(tmp_path)
    config, history, _ = read_offline_run(run_dir)
    for name, value in params.items():
        assert dotted(config, name) == value, name  # the resolved config W&B holds
        assert config[name.rsplit(".", 1)[-1]] == value, name  # and the model's hparams: the model got it
    # The sweep optimises a metric the run really logs.
    assert any(metric in row for row in history), f"{metric} never logged"


def test_ddp_two_processes_make_one_wandb_run(tmp_path):
    ddp = ["--trainer.devices=2", "--trainer.strategy=ddp_find_unused_parameters_true"]
    run([*lightning_cmd(), "fit", "--config", str(QUICK), "--config", str(SNIPPET), *FAST, *ddp], cwd=tmp_path)

    (run_dir,) = offline_runs(tmp_path)  # rank 1 created no run of its own
    config, history, _ = read_offline_run(run_dir)
    assert str(dotted(config, "trainer.devices")) == "2"  # devices: list | str | int keeps the CLI's "2"
    images = [row for row in history if "val/images._type" in row]
    assert len(images) == 1  # one grid per validation epoch, from rank 0 only
    assert any("val/l1" in row for row in history)


def test_config_callback_without_cli_warns_and_skips(tmp_path):
    logger = WandbLogger(save_dir=tmp_path, mode="disabled")
    trainer = L.Trainer(logger=logger, callbacks=[WandbConfigCallback()], max_epochs=1)
    with pytest.warns(UserWarning, match="no LightningCLI config"):
        WandbConfigCallback().setup(trainer, None, "fit")
