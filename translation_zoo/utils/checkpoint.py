"""Checkpoint helpers: RNG states in plain types, crash-safe writes, readable state-dict mismatches.

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
    "non_finite_tensors",
    "rng_states",
    "set_rng_states",
    "stale_temp_files",
    "state_dict_mismatch",
]
