"""The one base class every paper's LightningModule derives from.

It does only what every paper shares: manual optimisation over the paper's named parameter groups,
injectable optimisers and LR schedules (including the pix2pix/CycleGAN "linear" policy), one ``_step``
helper per player, loss logging, inference (``forward``/``predict_step``). Each paper writes its whole
``training_step`` itself, top to bottom like the paper's algorithm.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

LR_POLICIES = ("linear", "step", "cosine", "constant")


def linear_decay_factor(epoch: int, n_epochs: int, n_epochs_decay: int) -> float:
    """LR multiplier of the official "linear" policy after ``epoch`` finished epochs (0-based).

    Constant for the first ``n_epochs`` epochs, then linear decay over ``n_epochs_decay`` epochs towards 0
    (``1 - max(0, epoch + 1 - n_epochs) / (n_epochs_decay + 1)``, the official ``lambda_rule`` with
    ``epoch_count = 1``).
    """
    return 1.0 - max(0, epoch + 1 - n_epochs) / float(n_epochs_decay + 1)


class TranslationGAN(L.LightningModule):
    """Base of every model in the zoo.

    Subclasses define :meth:`param_groups` (ordered players, e.g. ``{"G": [...], "D": [...]}``; one optimiser
    each, in that order, as returned by ``self.optimizers()``), :meth:`forward` (inference translation),
    :meth:`training_step`, and :meth:`visuals` (image rows for the grid callback).

    Args:
        lr: initial learning rate of every player (pix2pix/CycleGAN: 2e-4).
        beta1: Adam β1 (0.5 in both papers, for stability).
        beta2: Adam β2.
        lr_policy: ``linear`` (constant for ``n_epochs``, then linear decay over ``n_epochs_decay``), ``step``
            (×0.1 every ``lr_decay_iters`` epochs), ``cosine`` (over ``n_epochs``), ``constant``.
        n_epochs: epochs at the initial learning rate.
        n_epochs_decay: epochs of linear decay.
        lr_decay_iters: epochs between steps of the ``step`` policy.
        optimizer: overrides the default Adam (e.g. from YAML: ``class_path: torch.optim.AdamW``).
        lr_scheduler: overrides ``lr_policy``.
        init_type: weight initialisation (``normal``, ``xavier``, ``kaiming``, ``orthogonal``).
        init_gain: its scale.
    """

    batch_kind: ClassVar[str] = "paired"
    #: Constructor arguments of a tiny variant (32x32 grayscale, few filters) for tests and smoke runs.
    tiny_config: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        lr: float = 2e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
        lr_policy: Literal["linear", "step", "cosine", "constant"] = "linear",
        n_epochs: int = 100,
        n_epochs_decay: int = 100,
        lr_decay_iters: int = 50,
        optimizer: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
        init_type: Literal["normal", "xavier", "kaiming", "orthogonal"] = "normal",
        init_gain: float = 0.02,
    ) -> None:
        super().__init__()
        if lr_policy not in LR_POLICIES:
            raise ValueError(f"lr_policy must be one of {LR_POLICIES}, got {lr_policy!r}")
        # Called here, it records the subclass's arguments too (Lightning walks the chain of __init__ frames).
        self.save_hyperparameters(ignore=["optimizer", "lr_scheduler"])
        self.automatic_optimization = False
        self.optimizer_factory = optimizer
        self.lr_scheduler_factory = lr_scheduler
        self._batch_size: int | None = None

    # ----------------------------------------------------------------------------------------- players
    def param_groups(self) -> dict[str, list[nn.Module]]:
        """The players, in optimiser order: name -> modules whose parameters that optimiser updates."""
        raise NotImplementedError

    def _parameters_of(self, modules: list[nn.Module]) -> Iterator[nn.Parameter]:
        seen: set[int] = set()
        for m in modules:
            for p in m.parameters():
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    yield p

    def configure_optimizers(self):
        hp = self.hparams
        optimizers = []
        for params in (list(self._parameters_of(mods)) for mods in self.param_groups().values()):
            if self.optimizer_factory is not None:
                optimizers.append(self.optimizer_factory(params))
            else:
                optimizers.append(torch.optim.Adam(params, lr=hp.lr, betas=(hp.beta1, hp.beta2)))
        schedulers = [self._make_scheduler(opt) for opt in optimizers]
        return optimizers, [s for s in schedulers if s is not None]

    def _make_scheduler(self, opt: torch.optim.Optimizer):
        hp = self.hparams
        if self.lr_scheduler_factory is not None:
            return self.lr_scheduler_factory(opt)
        if hp.lr_policy == "linear":
            return torch.optim.lr_scheduler.LambdaLR(
                opt, lambda e: linear_decay_factor(e, hp.n_epochs, hp.n_epochs_decay)
            )
        if hp.lr_policy == "step":
            return torch.optim.lr_scheduler.StepLR(opt, step_size=hp.lr_decay_iters, gamma=0.1)
        if hp.lr_policy == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=hp.n_epochs, eta_min=0)
        return None

    def on_train_epoch_end(self) -> None:
        # Manual optimisation: Lightning does not step schedulers; the papers decay per epoch.
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return
        for sch in schedulers if isinstance(schedulers, list) else [schedulers]:
            sch.step()

    # ------------------------------------------------------------------------------------ optimisation
    def _step(self, opt, losses: dict[str, torch.Tensor], prefix: str = "train") -> torch.Tensor:
        """One player's update: zero_grad, backward of the summed ``losses``, step; logs every term.

        Call it inside ``with self.toggled_optimizer(opt):`` so the other players' parameters get no grads.
        """
        total = torch.stack([v.float() for v in losses.values()]).sum()
        bad = [k for k, v in losses.items() if not torch.isfinite(v.detach()).all()]
        if bad:
            raise FloatingPointError(
                f"non-finite loss term(s) {bad} at global step {self.global_step}; training stopped "
                "(lower the learning rate, or check the data)."
            )
        opt.zero_grad(set_to_none=True)
        self.manual_backward(total)
        opt.step()
        self.log_dict(
            {f"{prefix}/{k}": v.detach() for k, v in losses.items()},
            on_step=True,
            on_epoch=True,
            batch_size=self._batch_size,
            # Epoch means over all ranks under DDP (a few scalars: the all-reduce is cheap).
            sync_dist=self.trainer.world_size > 1,
        )
        return total.detach()

    def on_train_batch_start(self, batch: dict[str, Any], batch_idx: int) -> None:
        # Batches are dicts holding path lists too; tell the logger the real batch size for epoch averages.
        first = next((v for v in batch.values() if isinstance(v, torch.Tensor)), None)
        self._batch_size = None if first is None else first.shape[0]

    # --------------------------------------------------------------------------------------- inference
    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        """Translate a batch of source images (N, C, H, W) in [-1, 1]."""
        raise NotImplementedError

    def predict_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        return {"fake": self(batch["A"]), "path": batch.get("path")}

    @torch.no_grad()
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        """Image rows for grids: each row a list of (N, C, H, W) tensors shown side by side."""
        return [[batch["A"], self(batch["A"]), batch["B"]]]

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        fake = self(batch["A"])
        if fake.shape == batch["B"].shape:
            self.log("val/l1", (fake - batch["B"]).abs().mean(), prog_bar=True, sync_dist=True)

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        fake = self(batch["A"])
        if fake.shape == batch["B"].shape:
            self.log("test/l1", (fake - batch["B"]).abs().mean(), sync_dist=True)


def n_params(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = ["LR_POLICIES", "TranslationGAN", "linear_decay_factor", "n_params"]
