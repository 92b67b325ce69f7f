"""A training DataLoader whose position in the epoch travels in checkpoints, for exact mid-epoch resume.

Lightning 2.x resumes a checkpoint written in the middle of an epoch at the right batch only if the training
DataLoader itself has ``state_dict``/``load_state_dict`` (``FitLoop.setup_data`` restores it; it never skips
batches on its own). This module provides one, built so that the data of a resumed epoch are exactly those of
the uninterrupted run:

* The order of epoch ``e`` is a pure function of ``(seed, e)``: a permutation drawn from a generator seeded
  with both (``epoch`` is set by Lightning through ``set_epoch``), like ``DistributedSampler``.
* Every sample gets its own seed from the same generator, and the dataset runs under it: the datasets draw all
  their randomness (CycleGAN's random B, crops, flips) from torch's RNG, so a sample's content depends neither
  on the number of workers, nor on which worker loads it, nor on what was loaded before. The global RNG of the
  training process is left untouched (``fork_rng``).
* The loader counts the batches it has *delivered* in the current epoch (worker processes prefetch ahead, so
  the sampler's own position would be wrong) and starts the next iteration after them when resumed.
* Worker base seeds are derived from ``(seed, e)`` too, so ``worker_init_fn`` seeding repeats.

The sampler derives from ``DistributedSampler`` and shards by rank itself, so Lightning keeps it under DDP
instead of swapping in its own (which would lose the state).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler


def mix_seed(*parts: Any) -> int:
    """A well-mixed 63-bit seed from ``parts`` (e.g. a run seed and an epoch), stable across runs and machines."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class SeededItems(Dataset):
    """Wraps a dataset so that ``ds[(index, seed)]`` loads ``index`` with torch's CPU RNG seeded by ``seed``.

    A plain ``int`` index loads without reseeding (e.g. when Lightning swaps in a sequential sampler for
    ``overfit_batches``). Attributes of the wrapped dataset are reachable through the wrapper.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: int | tuple[int, int]) -> Any:
        if not isinstance(key, tuple):
            return self.dataset[key]
        index, seed = key
        # Only the CPU generator: torch.manual_seed would also reseed CUDA, i.e. the model's dropout stream.
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            return self.dataset[index]

    def __getattr__(self, name: str) -> Any:
        if name == "dataset":  # not set yet (unpickling in a worker): avoid infinite recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)


class ResumableSampler(DistributedSampler):
    """Yields ``(index, sample_seed)`` for this rank's share of epoch ``self.epoch``; see the module doc.

    Args:
        dataset: the (unwrapped) dataset; only its length is used.
        seed: run seed; epoch ``e`` uses the order and sample seeds drawn from ``mix_seed(seed, e)``.
        shuffle: permute the samples (False: in order, e.g. the official ``serial_batches``).
        num_replicas: number of ranks (processes) sharing the epoch; the epoch is padded to a multiple of it
            by repeating samples, as ``DistributedSampler`` does.
        rank: this process's rank.
    """

    def __init__(self, dataset: Dataset, seed: int, shuffle: bool = True, num_replicas: int = 1, rank: int = 0):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=False)
        self._skip = 0

    def plan(self, epoch: int) -> tuple[list[int], list[int]]:
        """This rank's (indices, sample seeds) of ``epoch``."""
        n = len(self.dataset)
        g = torch.Generator().manual_seed(mix_seed(self.seed, epoch))
        order = torch.randperm(n, generator=g) if self.shuffle else torch.arange(n)
        seeds = torch.randint(0, 2**62, (self.total_size,), generator=g)
        if self.total_size > n:  # pad so every rank gets num_samples items (DistributedSampler's rule)
            order = order.repeat(-(-self.total_size // n))[: self.total_size]
        return order[self.rank :: self.num_replicas].tolist(), seeds[self.rank :: self.num_replicas].tolist()

    def skip(self, n_samples: int) -> None:
        """Start the next iteration after the first ``n_samples`` samples of the epoch (once)."""
        self._skip = n_samples

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order, seeds = self.plan(self.epoch)
        start, self._skip = self._skip, 0
        return iter(list(zip(order, seeds))[start:])


class ResumableDataLoader(DataLoader):
    """A ``DataLoader`` over :class:`ResumableSampler` that Lightning can checkpoint and resume mid-epoch.

    ``state_dict()`` is ``{"seed", "epoch", "batches", "num_samples", "batch_size"}``: the run seed, the epoch
    being iterated and how many of its batches were handed out. After ``load_state_dict``, the next iteration
    over that same epoch starts at the following batch; an iteration over any other epoch (Lightning moves on
    when the checkpoint was written after an epoch's last batch) starts at its beginning.

    Args:
        dataset: the training dataset (its randomness must come from torch's RNG; see the module doc).
        batch_size: samples per batch.
        seed: run seed.
        shuffle: shuffle every epoch.
        num_replicas: ranks sharing each epoch (``trainer.world_size``).
        rank: this process's rank (``trainer.global_rank``).
        **kwargs: other ``DataLoader`` options (``num_workers``, ``collate_fn``, ``pin_memory`` ...), except
            ``sampler``, ``batch_sampler``, ``shuffle`` and ``generator``, which this class owns.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int = 1,
        seed: int = 0,
        shuffle: bool = True,
        num_replicas: int = 1,
        rank: int = 0,
        **kwargs: Any,
    ) -> None:
        sampler = kwargs.pop("sampler", None)
        if sampler is None:
            sampler = ResumableSampler(dataset, seed, shuffle, num_replicas, rank)
        if isinstance(dataset, SeededItems):  # re-instantiated by Lightning (e.g. overfit_batches)
            dataset = dataset.dataset
        # Our own generator: the worker base seed is otherwise drawn from the global RNG at every iter(), which
        # would make the training stream depend on when the loader was (re)created.
        super().__init__(
            SeededItems(dataset), batch_size=batch_size, sampler=sampler, generator=torch.Generator(), **kwargs
        )
        self.seed = seed
        self._epoch: int | None = None  # epoch of the current iteration
        self._delivered = 0  # batches of that epoch handed out so far
        self._resume: tuple[int, int] | None = None  # (epoch, batches) to skip in the next iteration

    def __iter__(self) -> Iterator[Any]:
        # A generator: the real iterator (and worker prefetching) starts at the first next(), i.e. after
        # Lightning's set_epoch(); Lightning creates the iterator in setup_data(), before it sets the epoch.
        sampler = self.sampler
        epoch = sampler.epoch if isinstance(sampler, ResumableSampler) else 0
        start = 0
        if self._resume is not None:
            resume_epoch, resume_batches = self._resume
            self._resume = None
            if resume_epoch == epoch:
                start = resume_batches
        if isinstance(sampler, ResumableSampler):
            sampler.skip(start * self.batch_size)
        self.generator.manual_seed(mix_seed(self.seed, epoch, "workers"))
        self._epoch, self._delivered = epoch, start
        for batch in super().__iter__():
            self._delivered += 1
            yield batch

    def state_dict(self) -> dict[str, Any]:
        epoch = self._epoch if self._epoch is not None else getattr(self.sampler, "epoch", 0)
        return {
            "seed": self.seed,
            "epoch": epoch,
            "batches": self._delivered,
            "num_samples": len(self.sampler),
            "batch_size": self.batch_size,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        here = {"num_samples": len(self.sampler), "batch_size": self.batch_size}
        changed = {k: (state[k], v) for k, v in here.items() if k in state and state[k] != v}
        if changed and state["batches"] > 0:
            what = ", ".join(f"{k} {old} -> {new}" for k, (old, new) in changed.items())
            raise ValueError(
                f"cannot resume in the middle of an epoch: the training data changed since the checkpoint ({what}; "
                "samples per rank and batch size must stay the same). Resume from an end-of-epoch checkpoint, or "
                "restore the data options (max_dataset_size, batch_size, number of devices)."
            )
        self.seed = int(state["seed"])
        if isinstance(self.sampler, ResumableSampler):
            self.sampler.seed = self.seed
            self.sampler.set_epoch(int(state["epoch"]))
        self._resume = (int(state["epoch"]), int(state["batches"]))


__all__ = ["ResumableDataLoader", "ResumableSampler", "SeededItems", "mix_seed"]
