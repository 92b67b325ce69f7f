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
from lightning.pytorch.loggers import Logger
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
    # Every number the resumed run logged: step values, validation metrics and the epoch means of the training
    # losses, those of the interrupted epoch 0 too (its running sums travel in the checkpoint).
    assert resumed and all(k in ref for k in resumed)
    different = {k: (ref[k], v) for k, v in resumed.items() if ref[k] != v}
    assert not different, f"resumed run differs from the uninterrupted one: {sorted(different.items())[:6]}"
    epoch_means = {k for k in resumed if k[1].startswith("train/") and k[1].endswith("_epoch")}
    assert {step for step, _ in epoch_means} == {EPOCH - 1, 2 * EPOCH - 1}  # both epochs' ends
    assert epoch_means == {k for k in ref if k[1].startswith("train/") and k[1].endswith("_epoch")}
    assert sum(k[1].startswith("val/") for k in resumed) >= 2  # validation after epochs 0 and 1 repeats too
    # The sums of the 3 batches before the checkpoint, one entry per process, e.g. pix2pix's train/g_l1.
    sums = ckpt["epoch_sums"]
    assert (sums["epoch"], sums["world_size"]) == (0, 1) and len(sums["metrics"]) == len(epoch_means) // 2
    assert all(m["cumulated_batch_size"].tolist() == [4 * CKPT_BATCHES] for m in sums["metrics"].values())


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


# ---------------------------------------------------------------------------------------------- epoch means
# In process, over every model of the zoo: a run resumed from a checkpoint written after batch SAVE_AT of a
# 6-batch epoch logs exactly what the uninterrupted run logs from there on, the epoch means included.
SAVE_AT = 3


class Recorder(Logger):
    """Keeps every number the trainer logs, ``(step, key) -> value``."""

    name, version = "recorder", 0

    def __init__(self) -> None:
        super().__init__()
        self.logged: dict[tuple[int, str], float] = {}

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.logged.update({(step, k): float(v) for k, v in metrics.items()})

    def log_hyperparams(self, *args, **kwargs) -> None:
        pass


class SaveAfter(L.Callback):
    """Writes a checkpoint after batch ``batch_idx`` of the first epoch, as ResumableCheckpoint does mid-epoch."""

    def __init__(self, batch_idx: int, path: Path) -> None:
        self.batch_idx, self.path = batch_idx, path

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx == self.batch_idx and trainer.current_epoch == 0:
            trainer.save_checkpoint(self.path)


class BatchItems(Dataset):
    def __init__(self, batch: dict) -> None:
        n = len(next(v for v in batch.values() if isinstance(v, torch.Tensor)))  # any batch kind
        self.items = [{k: v[i] for k, v in batch.items()} for i in range(n)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def fit_recorded(model_cls, ckpt: Path, resume: bool = False) -> dict[tuple[int, str], float]:
    """One epoch of 6 batches of 2; saves ``ckpt`` after batch SAVE_AT, or resumes from it."""
    # Not at module level: the SIGKILL victims import this module (StallAfter), and conftest sets 2 torch threads,
    # which changes the victim's float results next to the 1-thread uninterrupted run.
    from conftest import make_batch

    torch.manual_seed(0)
    model = model_cls(**model_cls.tiny_config)
    recorder = Recorder()
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=recorder,
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[] if resume else [SaveAfter(SAVE_AT, ckpt)],
    )
    loader = ResumableDataLoader(BatchItems(make_batch(model, n=12, seed=1)), batch_size=2, seed=3)
    trainer.fit(model, loader, ckpt_path=ckpt if resume else None)
    return recorder.logged


def epoch_means(logged: dict) -> dict:
    return {k: v for k, v in logged.items() if k[1].startswith("train/") and k[1].endswith("_epoch")}


@pytest.mark.usefixtures("one_torch_thread")
def test_resumed_run_logs_the_same_epoch_means(model_cls, tmp_path):
    ckpt = tmp_path / "mid.ckpt"
    ref = fit_recorded(model_cls, ckpt)
    resumed = fit_recorded(model_cls, ckpt, resume=True)
    assert {step for step, _ in resumed} == {4, 5}  # the batches after the checkpoint, then the epoch end (5)
    assert {step for step, _ in epoch_means(resumed)} == {5} and len(epoch_means(resumed)) >= 2
    different = {k: (ref.get(k), v) for k, v in resumed.items() if ref.get(k) != v}
    assert not different, f"{model_cls.__name__} resumed differs (uninterrupted, resumed): {different}"


class UnevenLogs(Pix2Pix):
    """Pix2Pix that also logs a term on odd batches only, one twice per batch, and epoch maxima and sums."""

    def training_step(self, batch, batch_idx) -> None:
        super().training_step(batch, batch_idx)
        x = batch["B"].std() * (batch_idx + 1) / 3
        if batch_idx % 2:
            self.log("train/odd", x, on_step=True, on_epoch=True, batch_size=2)
        for i in range(2):
            self.log("train/twice", x / (i + 7), on_step=True, on_epoch=True, batch_size=2)
        self.log("train/peak", x.sqrt(), on_step=False, on_epoch=True, reduce_fx="max")
        self.log("train/total", x.sqrt(), on_step=False, on_epoch=True, reduce_fx="sum")


@pytest.mark.usefixtures("one_torch_thread")
def test_resumed_run_continues_sparse_repeated_max_and_sum_logs(tmp_path):
    ckpt = tmp_path / "mid.ckpt"
    ref = fit_recorded(UnevenLogs, ckpt)
    resumed = fit_recorded(UnevenLogs, ckpt, resume=True)
    # Batch 4 does not log train/odd: Lightning logs its latest step value again, that of batch 3.
    assert ref[4, "train/odd_step"] == ref[3, "train/odd_step"] == resumed[4, "train/odd_step"]
    assert {"train/odd_epoch", "train/twice_epoch", "train/peak", "train/total"} <= {k for _, k in resumed}
    assert all(ref[k] == v for k, v in resumed.items())


@pytest.mark.usefixtures("one_torch_thread")
def test_checkpoint_without_sums_still_resumes(tmp_path):
    ckpt = tmp_path / "mid.ckpt"
    ref = fit_recorded(Pix2Pix, ckpt)
    state = torch.load(ckpt, weights_only=True)
    losses = ("d_real", "d_fake", "g_gan", "g_l1")
    assert set(state["epoch_sums"]["metrics"]) == {f"training_step.train/{k}" for k in losses}
    other_world = {**state, "epoch_sums": {**state["epoch_sums"], "world_size": 2}}
    torch.save(other_world, ckpt)
    with pytest.warns(UserWarning, match=r"epoch 0 cover only .* \(saved by 2 processes, resumed with 1\)"):
        resumed = fit_recorded(Pix2Pix, ckpt, resume=True)
    torch.save({k: v for k, v in state.items() if k != "epoch_sums"}, ckpt)  # as written before the sums existed
    assert fit_recorded(Pix2Pix, ckpt, resume=True) == resumed
    # Step values are unaffected; the epoch means average the 2 batches after the resume only (Lightning's way).
    assert all(ref[k] == v for k, v in resumed.items() if not k[1].endswith("_epoch"))
    for (step, key), value in epoch_means(resumed).items():
        after = [resumed[s, key.replace("_epoch", "_step")] for s in (4, 5)]
        assert value == pytest.approx(sum(after) / 2) and value != ref[step, key]


def test_ddp_resume_restores_every_ranks_sums(tmp_path):
    """2 gloo processes: the checkpoint holds each rank's own sums, and the resumed epoch means (all-reduced over
    the ranks) equal the uninterrupted run's."""
    ensure_demo("mnist_edges")
    exe = Path(sys.executable).with_name("lightning")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "translation_zoo.cli"]
    env = {**os.environ, "PYTHONPATH": str(TESTS), "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    ckpt = tmp_path / "mid.ckpt"
    # 32 samples in batches of 4 on 2 ranks: 4 batches per rank; the checkpoint follows the 2nd (batch_idx 1).
    save = "trainer:\n  callbacks:\n    - class_path: test_resume.SaveAfter\n"
    save += f"      init_args: {{batch_idx: 1, path: {ckpt}}}\n"
    (tmp_path / "save.yaml").write_text(save)
    (tmp_path / "none.yaml").write_text("trainer:\n  callbacks: []\n")
    ddp = [*CASES["pix2pix"], *COMMON, "--trainer.max_epochs=1", "--trainer.limit_val_batches=2"]
    ddp += ["--trainer.devices=2", "--trainer.strategy=ddp_find_unused_parameters_true"]
    ddp += ["--trainer.enable_checkpointing=false", "--trainer.logger.init_args.name=ddp"]
    for config, extra in (("save.yaml", []), ("none.yaml", ["--ckpt_path", str(ckpt)])):
        out = subprocess.run(
            [*cmd, "fit", *ddp, "--config", str(tmp_path / config), *extra],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]

    sums = torch.load(ckpt, weights_only=True)["epoch_sums"]
    assert (sums["epoch"], sums["world_size"]) == (0, 2)
    g_l1 = sums["metrics"]["training_step.train/g_l1"]
    assert g_l1["cumulated_batch_size"].tolist() == [8, 8]  # 2 batches of 4 on each rank
    assert g_l1["value"][0] != g_l1["value"][1]  # each rank's own sum (its own samples), not the reduced one
    ref, resumed = metrics(tmp_path / "runs" / "ddp" / "version_0"), metrics(tmp_path / "runs" / "ddp" / "version_1")
    assert sorted({step for step, _ in resumed}) == [2, 3]
    assert len(epoch_means(resumed)) == 4 and any(k[1].startswith("val/") for k in resumed)
    different = {k: (ref.get(k), v) for k, v in resumed.items() if ref.get(k) != v}
    assert not different, f"resumed DDP run differs (uninterrupted, resumed): {different}"


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
