"""Resumable, deterministic, fault-tolerant training.

Real processes killed with SIGKILL in the middle of an epoch and resumed with ``lightning fit --ckpt_path last``
must continue bitwise like the uninterrupted run; checkpoint writes are crash-safe; a NaN stops training with a
clear message and leaves the last good checkpoint; checkpoints load with ``weights_only=True`` and a mismatched
one is explained key by key.
"""

from __future__ import annotations

import csv
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from translation_zoo.callbacks import AtomicCheckpointIO, ResumableCheckpoint
from translation_zoo.cli import main as cli_main
from translation_zoo.data.demo import ensure_demo
from translation_zoo.data.resumable import ResumableDataLoader
from translation_zoo.models import CycleGAN, Pix2Pix
from translation_zoo.utils.checkpoint import CheckpointMismatchError, stale_temp_files

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent

# The quickstart recipes, tiny: 32 samples in batches of 4 = 8 batches per epoch, 2 epochs with the LR decaying after
# the first (n_epochs=1, n_epochs_decay=1), last.ckpt every 3 batches, validation on 2 batches after each epoch.
EPOCH = 8
CASES = {
    # CycleGAN loads with 2 worker processes (its random B, crops and flips are drawn there); a pool of 6 images
    # is full after 2 batches, so the pools draw from the global RNG long before the checkpoint.
    "cyclegan": [
        "--config",
        str(ROOT / "recipes" / "quickstart_cyclegan_digits.yaml"),
        "--model.init_args.netG=resnet_2blocks",
        "--model.init_args.pool_size=6",
        "--model.init_args.val_metrics=null",
        "--data.init_args.num_workers=2",
    ],
    # pix2pix with a ResNet generator: its dropout draws from the global RNG at every step (the tiny U-Net has
    # none: the official U-Net puts dropout only in blocks below the 5th down-sampling).
    "pix2pix": [
        "--config",
        str(ROOT / "recipes" / "quickstart_pix2pix_digits.yaml"),
        "--model.init_args.netG=resnet_2blocks",
        "--model.init_args.val_metrics=[l1]",
        "--data.init_args.num_workers=0",
    ],
}
COMMON = [
    "--model.init_args.ngf=4",
    "--model.init_args.ndf=4",
    "--model.init_args.feature_extractor=null",
    "--model.init_args.n_epochs=1",
    "--model.init_args.n_epochs_decay=1",
    "--data.init_args.max_dataset_size=32",
    "--data.init_args.batch_size=4",
    "--trainer.max_epochs=2",
    "--trainer.log_every_n_steps=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--trainer.logger.init_args.flush_logs_every_n_steps=1",
]
CALLBACKS = """
trainer:
  limit_val_batches: 2
  callbacks:
    - class_path: translation_zoo.callbacks.ResumableCheckpoint
      init_args: {every_n_batches: 3, monitor: null, filename: null, save_top_k: 1}
    - class_path: translation_zoo.callbacks.ImageGridCallback
      init_args: {every_n_batches: 5, max_images: 2}
"""
# The victim blocks after its 5th batch (epoch 0, batch 4) and is killed there: its last.ckpt is from the 3rd batch,
# so batches 3 and 4 were trained, lost and must be replayed identically; then the resumed run crosses an epoch end
# (scheduler step, validation) and trains all of epoch 1.
STALL_AT = 5
CKPT_BATCHES = 3


class StallAfter(L.Callback):
    """Test helper run inside the victim process: after ``batches`` batches, write ``marker`` and block."""

    def __init__(self, batches: int, marker: str) -> None:
        self.batches, self.marker, self.seen = batches, marker, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.seen += 1
        if self.seen == self.batches:
            Path(self.marker).write_text(str(trainer.global_step))
            time.sleep(3600)


def launch(cwd: Path, case: str, role: str, *extra: str, stall: Path | None = None) -> subprocess.Popen:
    callbacks = CALLBACKS
    if stall is not None:
        callbacks += (
            f"    - class_path: test_resume.StallAfter\n      init_args: {{batches: {STALL_AT}, marker: {stall}}}\n"
        )
    config = cwd / f"{case}-{role}-callbacks.yaml"
    config.write_text(callbacks)
    exe = Path(sys.executable).with_name("lightning")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "translation_zoo.cli"]
    args = ["fit", *CASES[case], *COMMON, "--config", str(config), f"--trainer.logger.init_args.name={case}-{role}"]
    env = {**os.environ, "PYTHONPATH": str(TESTS), "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    log = open(cwd / f"{case}-{role}{'-resume' if extra else ''}.log", "w")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen([*cmd, *args, *extra], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """For each model: an uninterrupted run, a run SIGKILLed mid-epoch, and its resume with ``--ckpt_path last``."""
    root = tmp_path_factory.mktemp("resume")
    for name in ("mnist_uci", "mnist_edges"):
        ensure_demo(name)  # once here, not twice concurrently in the subprocesses (they share the cache)
    procs = {}
    for case in CASES:
        procs[case, "ref"] = launch(root, case, "ref")
        procs[case, "victim"] = launch(root, case, "victim", stall=root / f"{case}.stalled")
    try:
        waiting, deadline = set(CASES), time.monotonic() + 400
        while waiting:  # kill each victim once it stalls, and resume it at once
            for case in sorted(waiting):
                victim = procs[case, "victim"]
                assert victim.poll() is None, f"{case} victim exited early:\n{_log(root, case, 'victim')}"
                if (root / f"{case}.stalled").exists():
                    os.kill(victim.pid, signal.SIGKILL)
                    victim.wait()
                    procs[case, "resume"] = launch(root, case, "victim", "--ckpt_path", "last")
                    waiting.discard(case)
            assert time.monotonic() < deadline, f"victims {waiting} never reached batch {STALL_AT}"
            time.sleep(0.5)
        for (case, role), proc in procs.items():
            if role != "victim":
                rc = proc.wait(timeout=400)
                log = role if role == "ref" else "victim-resume"
                assert rc == 0, f"{case} {role} exited with {rc}:\n{_log(root, case, log)}"
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
    return root


def _log(root: Path, case: str, role: str) -> str:
    return (root / f"{case}-{role}.log").read_text()[-4000:]


def metrics(run_dir: Path) -> dict[tuple[int, str], float]:
    """(step, key) -> value of every train/val number a run logged (CSV floats repr float32 exactly)."""
    out = {}
    with open(run_dir / "metrics.csv") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key.startswith(("train/", "val/")) and value != "":
                    out[int(row["step"]), key] = float(value)
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_sigkill_mid_epoch_then_resume_continues_bitwise(runs, case):
    killed, resumed_dir = runs / "runs" / f"{case}-victim" / "version_0", runs / "runs" / f"{case}-victim" / "version_1"
    assert f"resuming from runs/{case}-victim/version_0/checkpoints/last.ckpt" in _log(runs, case, "victim-resume")

    ckpt = torch.load(killed / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    (loader_state,) = ckpt["loops"]["fit_loop"]["state_dict"]["combined_loader"]
    # Written mid-epoch: epoch 0 after 3 of its 8 batches (every_n_batches=3), 2 optimiser steps per batch.
    assert (loader_state["epoch"], loader_state["batches"]) == (0, CKPT_BATCHES)
    assert ckpt["global_step"] == 2 * CKPT_BATCHES

    ref, victim, resumed = metrics(runs / "runs" / f"{case}-ref" / "version_0"), metrics(killed), metrics(resumed_dir)
    # Logged steps count batches from 0; the checkpoint followed step CKPT_BATCHES - 1. The victim trained (and
    # logged) past it before the kill (the stalled batch itself is not logged): that work was lost and is replayed.
    assert max(step for step, _ in victim) == STALL_AT - 2 >= CKPT_BATCHES
    steps = sorted({step for step, _ in resumed})
    assert steps == list(range(CKPT_BATCHES, 2 * EPOCH))  # no batch skipped or repeated
    assert steps == sorted({step for step, _ in ref if step >= CKPT_BATCHES})
    per_step = {k: v for k, v in resumed.items() if not k[1].endswith("_epoch")}
    assert per_step and all(k in ref for k in per_step)
    different = {k: (ref[k], v) for k, v in per_step.items() if ref[k] != v}
    assert not different, f"resumed run differs from the uninterrupted one: {sorted(different.items())[:6]}"
    # Epoch means of epoch 1 (all after the resume) match too; those of the interrupted epoch 0 average only the
    # batches after the resume (Lightning does not checkpoint its running sums), so they are not compared.
    last_epoch = {k: v for k, v in resumed.items() if k[1].endswith("_epoch") and k[0] == steps[-1]}
    assert last_epoch and all(ref[k] == v for k, v in last_epoch.items())
    assert sum(k[1].startswith("val/") for k in per_step) >= 2  # validation after epochs 0 and 1 repeats too


@pytest.mark.parametrize("case", list(CASES))
def test_two_seeded_deterministic_runs_give_identical_losses(runs, case):
    # The recipe's seed_everything + trainer.deterministic; the victim before its kill is a second run.
    config = (runs / "runs" / f"{case}-ref" / "version_0" / "config.yaml").read_text()
    assert "deterministic: true" in config and "seed_everything: 0" in config
    ref, victim = (
        metrics(runs / "runs" / f"{case}-ref" / "version_0"),
        metrics(runs / "runs" / f"{case}-victim" / "version_0"),
    )
    common = sorted(set(ref) & set(victim))
    assert len({step for step, _ in common}) == STALL_AT - 1  # every logged step of the victim
    assert all(ref[k] == victim[k] for k in common)


def test_checkpoint_holds_plain_data_only(runs):
    path = runs / "runs" / "cyclegan-victim" / "version_0" / "checkpoints" / "last.ckpt"
    ckpt = torch.load(path, weights_only=True, map_location="cpu")  # no pickled code needed to load it
    assert set(ckpt["rng_states"]) >= {"torch", "numpy", "python"}
    assert ckpt["DemoUnpairedDataModule"] == {"train_seed": 0}
    pool = ckpt["state_dict"]["fake_a_pool._extra_state"]
    assert len(pool["images"]) == 6  # the image pool's history travels with it
    assert not stale_temp_files(path.parent)


# ---------------------------------------------------------------------------------------------- data order


class Items(Dataset):
    """Each item draws from torch's RNG, like the zoo's datasets (random B, augmentation seeds)."""

    def __len__(self) -> int:
        return 10

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.tensor([i, int(torch.randint(1000, ()))])


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_resumes_after_the_delivered_batches(workers):
    def loader():
        return ResumableDataLoader(Items(), batch_size=3, seed=7, num_workers=workers)

    full = loader()
    full.sampler.set_epoch(1)
    reference = [b.tolist() for b in full]
    assert sorted(i for b in reference for i, _ in b) == list(range(10))  # a permutation of the epoch

    first = loader()
    first.sampler.set_epoch(1)
    it = iter(first)
    seen = [next(it).tolist() for _ in range(2)]  # workers have prefetched further: only 2 were delivered
    state = first.state_dict()
    assert (state["epoch"], state["batches"]) == (1, 2)
    torch.manual_seed(123)  # the global RNG does not matter: each item has its own seed

    second = loader()
    second.load_state_dict(state)
    assert seen + [b.tolist() for b in second] == reference
    second.sampler.set_epoch(2)  # the next epoch starts at its beginning, in a new order
    epoch2 = [b.tolist() for b in second]
    assert len(epoch2) == 4 and epoch2 != reference


# ------------------------------------------------------------------------------------------- when to save


class RecordingCheckpoint(ResumableCheckpoint):
    def _save_checkpoint(self, trainer, filepath) -> None:
        self.saved = [*getattr(self, "saved", []), trainer.global_step]
        super()._save_checkpoint(trainer, filepath)


def test_last_checkpoint_schedule(tmp_path):
    schedules = {
        # Batches 3 and 6 of the 8-batch epoch, and the epoch end (not batch 8: the epoch end follows at once).
        "every_3_batches": ({"every_n_batches": 3}, [6, 12, 16]),
        # Every batch and the epoch end; the last batch is left to the epoch end.
        "every_0_minutes": ({"every_n_minutes": 0}, list(range(2, 17, 2))),
        # Not due at any batch or epoch end: only the final state.
        "every_60_minutes": ({"every_n_minutes": 60}, [16]),
    }
    callbacks = {
        name: RecordingCheckpoint(dirpath=str(tmp_path / name), save_top_k=0, **interval)
        for name, (interval, _) in schedules.items()
    }
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=list(callbacks.values()),
    )
    trainer.fit(Pix2Pix(**Pix2Pix.tiny_config), DataLoader(Pairs(), batch_size=2))
    for name, (_, steps) in schedules.items():
        assert callbacks[name].saved == steps, name  # global steps: 2 optimiser steps per batch
        assert sorted(p.name for p in (tmp_path / name).iterdir()) == ["last.ckpt"]


# --------------------------------------------------------------------------------------- crash-safe writes


def test_failed_write_leaves_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"step": 1, "w": torch.ones(3)}, path)

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="No space"):
        AtomicCheckpointIO().save_checkpoint({"step": 2, "w": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["step"] == 1
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


# AtomicCheckpointIO's writer (imported alone: no Lightning, a faster start).
KILLED_WRITER = """
import sys, time, torch
from translation_zoo.utils.checkpoint import atomic_torch_save
path, marker = sys.argv[1], sys.argv[2]
atomic_torch_save({"step": 1, "w": torch.ones(1000)}, path)
def slow_save(obj, f, *a, **k):
    f.write(b"x" * 100_000)
    f.flush()
    open(marker, "w").close()
    time.sleep(600)  # killed here, mid-write
torch.save = slow_save
atomic_torch_save({"step": 2, "w": torch.zeros(1000)}, path)
"""


def test_kill_during_write_leaves_previous_checkpoint(tmp_path):
    path, marker = tmp_path / "ckpts" / "last.ckpt", tmp_path / "writing"
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(KILLED_WRITER), str(path), str(marker)])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "writer did not start its second save"
            time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert torch.load(path, weights_only=True)["step"] == 1
    (leftover,) = stale_temp_files(path.parent)  # the half-written temp file, not the checkpoint
    assert leftover.stat().st_size >= 100_000
    # The next run's checkpoint callback sweeps it away.
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    ResumableCheckpoint(dirpath=str(path.parent)).setup(trainer, Pix2Pix(**Pix2Pix.tiny_config), "fit")
    assert not stale_temp_files(path.parent) and path.exists()


# -------------------------------------------------------------------------------------------- divergence


class Pairs(Dataset):
    def __len__(self) -> int:
        return 16

    def __getitem__(self, i: int) -> dict:
        g = torch.Generator().manual_seed(i)
        return {"A": torch.rand(1, 32, 32, generator=g) * 2 - 1, "B": torch.rand(1, 32, 32, generator=g) * 2 - 1}


class PoisonAt(L.Callback):
    """Makes pix2pix's L1 term NaN from batch ``batch`` on (as an overflowing loss would)."""

    def __init__(self, batch: int) -> None:
        self.batch = batch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == self.batch:
            pl_module.hparams.lambda_l1 = float("nan")


def test_nan_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = Pix2Pix(**Pix2Pix.tiny_config)
    ckpts = tmp_path / "ckpts"
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[
            ResumableCheckpoint(dirpath=str(ckpts), every_n_batches=1, save_on_exception=True),
            # A plain ModelCheckpoint that would save on the exception: refused, the message says why.
            L.pytorch.callbacks.ModelCheckpoint(dirpath=str(tmp_path / "plain"), save_on_exception=True),
            PoisonAt(batch=5),
        ],
    )
    with pytest.raises(FloatingPointError) as info:
        trainer.fit(model, DataLoader(Pairs(), batch_size=2))
    message = str(info.value)
    assert "g_l1=nan" in message and "epoch 0, batch 5" in message and "not writing a checkpoint" in message
    assert not list((tmp_path / "plain").glob("*.ckpt"))
    assert sorted(p.name for p in ckpts.iterdir()) == ["last.ckpt"]
    last = torch.load(ckpts / "last.ckpt", weights_only=True)
    assert last["global_step"] == 2 * 5  # written after batch 4: the last good state
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point())
    # The model in memory was not updated with the NaN either (D stepped on finite losses, G did not step).
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_cli_reports_divergence_and_exits_3(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["fit", *CASES["pix2pix"], *COMMON, "--trainer.max_epochs=1", "--model.init_args.lambda_l1=.nan"]
    with pytest.raises(SystemExit) as info:
        cli_main(args)
    assert info.value.code == 3
    err = capsys.readouterr().err
    assert "error: training diverged: non-finite loss (g_l1=nan) at epoch 0, batch 0" in err
    assert "lower learning rate" in err
    assert not list(tmp_path.rglob("*.ckpt"))  # nothing poisoned written


# --------------------------------------------------------------------------------------- untrusted files


def test_incompatible_checkpoint_names_the_keys(tmp_path):
    cyclegan, pix2pix = CycleGAN(**CycleGAN.tiny_config), Pix2Pix(**Pix2Pix.tiny_config)
    with pytest.raises(CheckpointMismatchError) as info:
        pix2pix.load_state_dict(cyclegan.state_dict())
    message = str(info.value)
    assert "missing from the checkpoint" in message and "in gen (" in message and "disc (" in message
    assert "unexpected in the checkpoint" in message and "gen_a2b (" in message and "fake_a_pool (" in message

    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.strategy.connect(Pix2Pix(**{**Pix2Pix.tiny_config, "ngf": 4}))
    trainer.save_checkpoint(tmp_path / "ngf4.ckpt")
    # What `lightning fit --ckpt_path ...` does with a model built from a config that differs from the checkpoint's.
    with pytest.raises(CheckpointMismatchError) as info:
        trainer.validate(Pix2Pix(**Pix2Pix.tiny_config), DataLoader(Pairs()), ckpt_path=tmp_path / "ngf4.ckpt")
    message = str(info.value)
    assert "shape mismatches (" in message
    assert "gen.model.model.0.weight: checkpoint (4, 1, 4, 4) vs model (8, 1, 4, 4)" in message
    assert "hyper-parameters that differ: ngf: checkpoint 4, model 8" in message
    # strict=False keeps torch's behaviour: load what fits.
    Pix2Pix(**Pix2Pix.tiny_config).load_state_dict({"gen.model.model.0.weight": torch.zeros(8, 1, 4, 4)}, strict=False)


class Payload:
    """Unpickling it would create a file: what a malicious checkpoint could do."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.makedirs, (self.path,))


def test_cli_loads_checkpoints_weights_only(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # torch would then default to full unpickling
    hacked = tmp_path / "hacked"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": Payload(str(hacked))}, evil)
    args = ["fit", *CASES["pix2pix"], *COMMON, "--trainer.max_epochs=1", "--ckpt_path", str(evil)]
    with pytest.raises(SystemExit) as info:
        cli_main(args)
    assert info.value.code == 2 and not hacked.exists()
    assert "refusing to load the checkpoint" in capsys.readouterr().err


def test_divergence_message_names_every_bad_term():
    # The check runs once, on the summed loss (one device sync); the message still lists each bad term.
    model = Pix2Pix(**Pix2Pix.tiny_config)
    model.trainer = L.Trainer(logger=False, enable_progress_bar=False)
    losses = {"g_l1": torch.tensor(1.0), "g_gan": torch.tensor(math.inf), "d": torch.tensor(math.nan)}
    with pytest.raises(FloatingPointError, match=r"g_gan=inf, d=nan"):
        model._step(None, losses)
