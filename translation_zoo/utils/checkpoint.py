"""Checkpoint helpers: RNG states and running epoch sums in plain types, crash-safe writes, readable mismatches.

Everything put in a checkpoint here is made of tensors, ints, floats, strings, lists, tuples and dicts, so a
checkpoint loads with ``torch.load(..., weights_only=True)`` (no pickled code runs on load).
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch


class CheckpointMismatchError(RuntimeError):
    """A checkpoint's state dict does not fit the model; the message lists the keys and shapes that differ."""


# ------------------------------------------------------------------------------------------------ RNG states


def rng_states() -> dict[str, Any]:
    """The global RNG states of torch (CPU and, if initialised, CUDA), numpy and Python, in weights_only types."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": [version, list(internal), gauss],
        # numpy's MT19937 key is a uint32 array: kept as an int64 tensor (arrays are not weights_only-loadable).
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_states` returned (CUDA states only if the device count matches)."""
    torch.set_rng_state(states["torch"])
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    cuda = states.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


# ------------------------------------------------------------------------------------- running epoch sums
# Lightning averages a metric logged with ``on_epoch=True`` from running sums it keeps in the training loop
# (``fit_loop.epoch_loop._results``: one ``_ResultMetric`` per logged key, holding ``value`` = sum of value x batch
# size and ``cumulated_batch_size``; for DDP, each rank's own sums, all-reduced only when the epoch mean is computed).
# It does not checkpoint them: a run resumed mid-epoch would average only the batches after the resume. Saved and
# restored here, the resumed run continues the very same sums, so its epoch means are bitwise those of the
# uninterrupted run. Lightning (2.6) has no public API for this; the private names used are all in this section.

_REDUCE_FX = {"mean": torch.mean, "sum": torch.sum, "max": torch.max, "min": torch.min}
_REDUCE_FX.update({"builtins.sum": sum, "builtins.max": max, "builtins.min": min})
_META_FLAGS = ("prog_bar", "logger", "on_step", "on_epoch", "enable_graph", "add_dataloader_idx")


def _reduce_name(fx: Any) -> str | None:
    return next((name for name, f in _REDUCE_FX.items() if f is fx), None)


def epoch_sums(trainer: Any) -> dict[str, Any] | None:
    """The running sums of the metrics logged so far in the current training epoch, in weights_only types.

    Call it on every rank: under DDP it all-gathers each rank's own sums (rank 0 writes the checkpoint).
    ``None`` when there is nothing to carry over: not fitting, not in the middle of an epoch (between epochs the
    sums are reset anyway; after an epoch's last batch Lightning resumes at the next epoch), nothing logged yet,
    or an exception being handled under DDP (the other ranks may not be there to gather with).

    Returns:
        ``{"epoch", "world_size", "metrics": {key: {"fx", "name", "reduce_fx", <flags>, "dataloader_idx",
        "sync_dist", "rank_zero_only", "updates", "value", "cumulated_batch_size", "forward_cache"}}}``, the last
        three as tensors with one entry per rank (``cumulated_batch_size`` only for means, ``forward_cache`` (the
        latest step value) only for metrics logged on step).
    """
    from lightning.pytorch.trainer.states import TrainerFn

    if trainer.state.fn != TrainerFn.FITTING or trainer.sanity_checking:
        return None
    if trainer.world_size > 1 and trainer.interrupted:
        return None
    fit_loop = trainer.fit_loop
    progress = fit_loop.epoch_progress.total
    if progress.started != progress.processed + 1 or fit_loop.epoch_loop.batch_progress.is_last_batch:
        return None  # not within an epoch's batches: every rank sees the same loop state, so all skip the gather
    items = []
    for key, metric in fit_loop.epoch_loop._results.items():
        meta = metric.meta
        reduce_fx = _reduce_name(meta.reduce_fx)
        if not metric.is_tensor or metric.has_reset or not meta.on_epoch or reduce_fx is None:
            continue  # torchmetrics objects keep their own state; reset entries hold nothing of this epoch
        if meta.metric_attribute is not None or meta.sync.group is not None:
            continue
        items.append((key, metric, reduce_fx))
    if not items:
        return None
    # One gather of every number, as float64: exact for float32/float64 sums and for counts below 2**53.
    nan = torch.tensor(float("nan"), dtype=torch.float64)
    rows = []
    for _, metric, _ in items:
        count = getattr(metric, "cumulated_batch_size", None)
        cache = metric._forward_cache if metric.meta.on_step else None
        rows.append(
            torch.stack(
                [
                    metric.value.detach().to("cpu", torch.float64),
                    nan if count is None else count.detach().to("cpu", torch.float64),
                    nan if cache is None else cache.detach().to("cpu", torch.float64).reshape(()),
                ]
            )
        )
    table = torch.stack(rows).unsqueeze(0)  # (1, n metrics, 3)
    if trainer.world_size > 1:
        device = items[0][1].value.device  # the device the strategy's collectives run on
        table = trainer.strategy.all_gather(table.to(device)).reshape(trainer.world_size, len(items), 3).cpu()
    metrics = {}
    for i, (key, metric, reduce_fx) in enumerate(items):
        meta = metric.meta
        count = getattr(metric, "cumulated_batch_size", None)
        cache = metric._forward_cache if meta.on_step else None
        metrics[key] = {
            "fx": meta.fx,
            "name": meta.name,
            "reduce_fx": reduce_fx,
            **{flag: bool(getattr(meta, flag)) for flag in _META_FLAGS},
            "dataloader_idx": meta.dataloader_idx,
            "sync_dist": bool(meta.sync.should),
            "rank_zero_only": bool(meta.sync.rank_zero_only),
            "updates": int(metric._update_count),
            "value": table[:, i, 0].to(metric.value.dtype),
            "cumulated_batch_size": None if count is None else table[:, i, 1].to(count.dtype),
            "forward_cache": None if cache is None else table[:, i, 2].to(cache.dtype),
        }
    return {"epoch": int(trainer.current_epoch), "world_size": int(trainer.world_size), "metrics": metrics}


def restore_epoch_sums(trainer: Any, state: Mapping[str, Any] | None, device: torch.device | str = "cpu") -> str:
    """Put the sums :func:`epoch_sums` saved back into the training loop, so the epoch continues them.

    Call it in ``on_train_start`` of a run resumed from the checkpoint holding ``state``: Lightning has restored
    its loop state by then and logs nothing of the epoch before the first batch. Each rank takes its own sums.

    Returns:
        ``""`` if restored, else why not (no sums in the checkpoint, not resumed in the middle of the epoch the
        sums belong to, another number of processes): the epoch means of that epoch then cover only the batches
        after the resume, as in Lightning.
    """
    from lightning.pytorch.trainer.connectors.logger_connector.result import _Metadata, _ResultMetric, _Sync

    if not state or not state.get("metrics"):
        return "the checkpoint holds no running epoch sums"
    fit_loop = trainer.fit_loop
    if not fit_loop.restarted_mid_epoch or fit_loop.epoch_loop.batch_progress.is_last_batch:
        return "not resumed in the middle of an epoch"
    if state["epoch"] != trainer.current_epoch:
        return f"the sums are of epoch {state['epoch']}, the run resumes epoch {trainer.current_epoch}"
    if state["world_size"] != trainer.world_size:
        return f"saved by {state['world_size']} processes, resumed with {trainer.world_size}"
    rank = trainer.global_rank
    results = fit_loop.epoch_loop._results
    for key, saved in state["metrics"].items():
        meta = _Metadata(
            fx=saved["fx"],
            name=saved["name"],
            reduce_fx=_REDUCE_FX[saved["reduce_fx"]],
            dataloader_idx=saved["dataloader_idx"],
            **{flag: saved[flag] for flag in _META_FLAGS},
        )
        # As LightningModule.log builds it: the next log of this key must find equal metadata.
        meta.sync = _Sync(
            fn=trainer.strategy.reduce, _should=saved["sync_dist"], rank_zero_only=saved["rank_zero_only"]
        )
        metric = _ResultMetric(meta, is_tensor=True)
        metric.value = saved["value"][rank].to(device)
        if saved["cumulated_batch_size"] is not None:
            metric.cumulated_batch_size = saved["cumulated_batch_size"][rank].to(device)
        if saved["forward_cache"] is not None:
            metric._forward_cache = saved["forward_cache"][rank].to(device)
        metric._update_count = saved["updates"]
        metric.has_reset = False
        results[key] = metric
    # Lightning resets the sums of a hook's metrics when that hook first logs in an epoch's first batch; this
    # epoch's first batch was before the checkpoint.
    trainer._logger_connector._first_loop_iter = False
    return ""


# -------------------------------------------------------------------------------------------- crash-safe write


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` that never leaves a truncated file at ``path``.

    Writes to a hidden temporary file in the same directory, flushes it to disk (fsync), renames it over
    ``path`` (``os.replace``: atomic on POSIX and Windows within one file system) and fsyncs the directory so
    the rename itself survives a power cut. A crash at any point leaves either the old file or the new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600 files; give the checkpoint the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems (e.g. some network mounts) refuse fsync on directories
        pass
    finally:
        os.close(fd)


def stale_temp_files(folder: str | Path) -> list[Path]:
    """Temporary files :func:`atomic_torch_save` leaves behind if killed mid-write (``.<name>.<random>.tmp``)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(".*.ckpt.*.tmp") if p.is_file())


# ------------------------------------------------------------------------------------------ health and shape


def non_finite_tensors(named: Iterable[tuple[str, Any]]) -> list[str]:
    """Names of the floating-point tensors in ``named`` that hold a NaN or an infinity."""
    bad = []
    for name, t in named:
        if isinstance(t, torch.Tensor) and t.is_floating_point() and t.numel():
            # min and max propagate NaN and show infinities: ~10x faster than isfinite(t).all() on CPU.
            lo, hi = torch.aminmax(t.detach())
            if not bool(torch.isfinite(lo) & torch.isfinite(hi)):
                bad.append(name)
    return bad


def _names(keys: list[str], limit: int = 6) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" ... and {len(keys) - limit} more" if len(keys) > limit else "")


def _by_module(keys: list[str]) -> str:
    """``gen_a2b (52 keys), disc_a (10 keys)``: where the keys are, when there are many."""
    counts: dict[str, int] = {}
    for k in keys:
        top = k.split(".", 1)[0]
        counts[top] = counts.get(top, 0) + 1
    return ", ".join(f"{m} ({n} key{'s' if n > 1 else ''})" for m, n in counts.items())


def state_dict_mismatch(expected: Mapping[str, Any], found: Mapping[str, Any]) -> str:
    """A readable list of what differs between a model's state dict (``expected``) and a checkpoint's.

    Returns "" if every key is present on both sides with the same tensor shapes. Otherwise names the missing
    keys, the unexpected keys (each grouped by top-level module when there are many) and every shape mismatch.
    """
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    shapes = [
        f"{k}: checkpoint {tuple(found[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in found
        and isinstance(v, torch.Tensor)
        and isinstance(found[k], torch.Tensor)
        and found[k].shape != v.shape
    ]
    lines = []
    if missing:
        where = f" in {_by_module(missing)}" if len(missing) > 6 else ""
        lines.append(f"missing from the checkpoint ({len(missing)}){where}: {_names(missing)}")
    if unexpected:
        where = f" in {_by_module(unexpected)}" if len(unexpected) > 6 else ""
        lines.append(f"unexpected in the checkpoint ({len(unexpected)}){where}: {_names(unexpected)}")
    if shapes:
        lines.append(
            f"shape mismatches ({len(shapes)}): " + "; ".join(shapes[:6]) + (" ..." if len(shapes) > 6 else "")
        )
    return "\n".join(lines)


__all__ = [
    "CheckpointMismatchError",
    "atomic_torch_save",
    "epoch_sums",
    "non_finite_tensors",
    "restore_epoch_sums",
    "rng_states",
    "set_rng_states",
    "stale_temp_files",
    "state_dict_mismatch",
]
