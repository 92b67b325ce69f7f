"""The one base class every paper's LightningModule derives from.

It does only what every paper shares: manual optimisation over the paper's named parameter groups,
injectable optimisers and LR schedules (including the pix2pix/CycleGAN "linear" policy), one ``_step``
helper per player, loss logging, evaluation (the metric suite of validation and test), inference
(``forward``/``predict_step``). Each paper writes its whole
``training_step`` itself, top to bottom like the paper's algorithm.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, NoReturn

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from ..metrics import BUILTIN_EXTRACTORS, PAIRED_METRICS, TranslationMetrics
from ..utils.checkpoint import (
    CheckpointMismatchError,
    non_finite_tensors,
    rng_states,
    set_rng_states,
    state_dict_mismatch,
)

LR_POLICIES = ("linear", "step", "cosine", "constant")


def linear_decay_factor(epoch: int, n_epochs: int, n_epochs_decay: int) -> float:
    """LR multiplier of the official "linear" policy after ``epoch`` finished epochs (0-based).

    Constant for the first ``n_epochs`` epochs, then linear decay over ``n_epochs_decay`` epochs towards 0
    (``1 - max(0, epoch + 1 - n_epochs) / (n_epochs_decay + 1)``, the official ``lambda_rule`` with
    ``epoch_count = 1``).
    """
    return 1.0 - max(0, epoch + 1 - n_epochs) / float(n_epochs_decay + 1)


# --------------------------------------------------------------------------------------- the model contract
CONDITION_KINDS = ("choice", "code", "image", "index", "vector")


class ConditionError(ValueError):
    """An inference condition that the model does not take, or a value that does not fit it."""


@dataclass(frozen=True)
class Condition:
    """One inference condition a model's ``forward`` takes (DESIGN.md, "Every kind of model").

    Args:
        kind: ``choice`` (one of ``choices``, e.g. ``direction``), ``code`` (a latent/style code of length ``dim``;
            missing = sampled from the prior, as the papers do at test time), ``image`` (a reference/style image
            with ``channels`` channels), ``index`` (a target domain in ``range(dim)``), ``vector`` (an attribute
            vector of length ``dim``).
        help: one line for users (CLI help, ``list_models``).
        choices: the allowed values of a ``choice``.
        default: the value used when the condition is not given (``None``: sampled or the paper's test default).
        dim: length of a ``code``/``vector``; number of values of an ``index``.
        channels: channels of an ``image``.
    """

    kind: Literal["choice", "code", "image", "index", "vector"]
    help: str
    choices: tuple[str, ...] = ()
    default: Any = None
    dim: int | None = None
    channels: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in CONDITION_KINDS:
            raise ValueError(f"Condition kind must be one of {CONDITION_KINDS}, got {self.kind!r}")

    def check(self, name: str, value: Any, owner: str) -> Any:
        """``value`` if it fits this condition, else a :class:`ConditionError` that says what ``owner`` expects."""
        what = f"{owner}: {name}"
        if self.kind == "choice":
            if value not in self.choices:
                *head, last = map(repr, self.choices)
                raise ConditionError(f"{what} must be {', '.join(head) + ' or ' if head else ''}{last}, got {value!r}")
            return value
        if self.kind == "index":
            values = value.flatten().tolist() if isinstance(value, torch.Tensor) else [value]
            bad = [v for v in values if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < self.dim]
            if bad:
                raise ConditionError(
                    f"{what}={bad[0]!r} is out of range: expected a domain index in 0..{self.dim - 1} "
                    f"({self.dim} domains)"
                )
            return value
        if not isinstance(value, torch.Tensor):
            raise ConditionError(
                f"{what} must be a tensor here (give files/PIL images to translate), got {type(value)}"
            )
        if self.kind == "image":
            if value.dim() != 4 or value.shape[1] != self.channels:
                raise ConditionError(
                    f"{what} must be (N, {self.channels}, H, W) images ({self.channels} channel"
                    f"{'s' if self.channels != 1 else ''}), got shape {tuple(value.shape)}"
                )
            return value
        if value.dim() != 2 or value.shape[1] != self.dim:
            raise ConditionError(f"{what} must have shape (N, {self.dim}), got {tuple(value.shape)}")
        return value


@dataclass
class InferenceSpec:
    """What inference and export need of a model for given conditions.

    Args:
        module: the network to run and export, called as ``module(image, *extra_inputs.values())`` and returning
            one image batch in [-1, 1]; without ``image_input``, as ``module(*extra_inputs.values())``.
        input_nc: channels of the image input (unconditional models: of the generated images).
        size_multiple: image height and width must be multiples of this.
        extra_inputs: example tensors (batch 1) of the further inputs, in call order, e.g. ``{"z": randn(1, 8)}``;
            exported as graph inputs named by their keys, with a dynamic batch dimension.
        image_input: whether the network takes an image first. ``False`` for unconditional generators (GAN, VAE
            decoder): their only inputs are ``extra_inputs`` (the latent code ``z``), and they translate nothing.
    """

    module: nn.Module
    input_nc: int
    size_multiple: int = 1
    extra_inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    image_input: bool = True


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
        fused: run the default Adam as one fused kernel per optimiser (``torch.optim.Adam(fused=True)``, CPU and
            GPU): the same update rule, about 1.2x faster pix2pix training on a CPU, where the per-tensor loop
            is memory-bound (``benchmarks/RESULTS.md``). ``None`` keeps PyTorch's default implementation.
            Ignored when ``optimizer`` is given (pass ``fused`` in its ``init_args`` instead).
    """

    #: The batch layout it trains on (``data/__init__.py``): ``paired``, ``unpaired``, ``multidomain`` or
    #: ``unconditional`` (no input image: ``forward(n)`` / :meth:`sample` generate images from noise).
    batch_kind: ClassVar[str] = "paired"
    #: Constructor arguments of a tiny variant (32x32 grayscale, few filters) for tests and smoke runs.
    tiny_config: ClassVar[dict[str, Any]] = {}

    # Official weights (translation_zoo.hub): the names users give ``from_official`` (the official ``--model``),
    # official network name -> our submodule, and the official file names. Empty: no official import.
    official_names: ClassVar[tuple[str, ...]] = ()
    official_networks: ClassVar[dict[str, str]] = {}
    official_file_pattern: ClassVar[str] = "{epoch}_net_{name}.pth"
    #: Other official names of the same networks (e.g. a one-direction CycleGAN release's ``G`` is ``G_A``).
    official_aliases: ClassVar[dict[str, str]] = {}
    #: Constructor options implied by the official name given to ``from_official`` when the weights look alike
    #: (CUT: ``{"fastcut": {"mode": "fastcut"}}``); options passed explicitly win.
    official_presets: ClassVar[dict[str, dict[str, Any]]] = {}

    #: Set for ``lightning predict`` (by :class:`~translation_zoo.callbacks.TranslationWriter`'s options):
    #: the conditions of every prediction and the number of samples per input.
    predict_conditions: dict[str, Any] = {}
    predict_num_samples: int = 1

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
        fused: bool | None = None,
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
        self._diverged: str | None = None  # the divergence message once a loss was NaN/inf
        self._rng_states_to_restore: dict[str, Any] | None = None  # from a checkpoint, applied on train start
        self._epoch_sums_to_restore: dict[str, Any] | None = None  # likewise: the interrupted epoch's running sums

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
        optimizers = self._make_optimizers()
        schedulers = [self._make_scheduler(opt) for opt in optimizers]
        return optimizers, [s for s in schedulers if s is not None]

    def _make_optimizers(self) -> list[torch.optim.Optimizer]:
        """One optimiser per player of :meth:`param_groups`: the injected factory, else Adam(lr, (beta1, beta2)) with
        the paper's L2 ``weight_decay`` where it has one (added to the gradient, as ``torch.optim.Adam``)."""
        hp = self.hparams
        optimizers = []
        for params in (list(self._parameters_of(mods)) for mods in self.param_groups().values()):
            if self.optimizer_factory is not None:
                optimizers.append(self.optimizer_factory(params))
            else:
                optimizers.append(
                    torch.optim.Adam(
                        params,
                        lr=hp.lr,
                        betas=(hp.beta1, hp.beta2),
                        weight_decay=hp.get("weight_decay", 0.0),
                        fused=hp.fused,
                    )
                )
        return optimizers

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

        Raises:
            FloatingPointError: a loss term is NaN or infinite (on any rank). It names the terms and the step;
                nothing is updated with them and no checkpoint is written afterwards (see
                :meth:`on_save_checkpoint`), so the newest checkpoint on disk is the last good state.
        """
        total = torch.stack([v.float() for v in losses.values()]).sum()
        # One check on the sum (a single device sync): a NaN or infinite term makes it non-finite.
        diverged = not bool(torch.isfinite(total.detach()))
        if self.trainer.world_size > 1:
            # All ranks stop together, or the others would wait forever in the next gradient all-reduce.
            diverged = self.trainer.strategy.reduce_boolean_decision(diverged, all=False)
        if diverged:
            self._stop_diverged(losses, total)
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

    def _stop_diverged(self, losses: dict[str, torch.Tensor], total: torch.Tensor) -> NoReturn:
        values = {k: float(v.detach().float().sum()) for k, v in losses.items()}
        bad = ", ".join(f"{k}={v}" for k, v in values.items() if not math.isfinite(v))
        if not bad:
            bad = "on another rank" if math.isfinite(float(total)) else f"the sum of {values} overflowed"
        where = (
            f"epoch {self.current_epoch}, batch {self.trainer.fit_loop.epoch_loop.batch_idx}, "
            f"global step {self.global_step}"
        )
        self._diverged = (
            f"training diverged: non-finite loss ({bad}) at {where}. Training stopped before this update and no "
            "checkpoint is written from here on, so the newest checkpoint is the last good state: resume from it "
            "with a lower learning rate (--model.init_args.lr), or check the data."
        )
        raise FloatingPointError(self._diverged)

    # ------------------------------------------------------------------------------------------ resume
    # Lightning checkpoints the weights, optimisers, schedulers, loop counters, callbacks and (through
    # data.resumable.ResumableDataLoader) the position in the epoch; the image pools travel in the state dict.
    # What else shapes training is the global RNG stream (dropout, pool draws): saved here, restored just before
    # the first batch of the resumed run.

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Add the global RNG states and the running epoch sums; refuse to save a diverged or non-finite state.

        The epoch sums (``checkpoint["epoch_sums"]``, written in the middle of an epoch only) are what Lightning
        averages the ``on_epoch=True`` metrics of the current epoch from (under DDP: every rank's, gathered here,
        so every rank must save, as Lightning requires anyway). Restored on resume, the resumed epoch's means cover
        the whole epoch, bitwise as in the uninterrupted run (``utils.checkpoint.epoch_sums``).

        Raises:
            FloatingPointError: after a non-finite loss, or if a parameter, buffer or optimiser state holds NaN/inf.
                Raising here stops the write, so the previous checkpoint stays the newest one.
        """
        if self._diverged:
            raise FloatingPointError(f"not writing a checkpoint after divergence ({self._diverged})")
        named = list(self.state_dict().items())
        if self._trainer is not None:
            for i, opt in enumerate(self.trainer.optimizers):
                for j, state in enumerate(opt.state.values()):
                    named += [(f"optimizer {i} state {j} {k}", v) for k, v in state.items()]
        bad = non_finite_tensors(named)
        if bad:
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
            raise FloatingPointError(
                f"not writing a checkpoint: non-finite values in {', '.join(bad[:5])}{more} at global step "
                f"{self.global_step}; the newest checkpoint on disk is the last good state."
            )
        checkpoint["rng_states"] = rng_states()
        from ..utils.checkpoint import epoch_sums

        sums = epoch_sums(self.trainer) if self._trainer is not None else None
        if sums is not None:
            checkpoint["epoch_sums"] = sums

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._rng_states_to_restore = checkpoint.get("rng_states")
        # Absent from checkpoints written between epochs or before it existed: nothing to restore.
        self._epoch_sums_to_restore = checkpoint.get("epoch_sums")
        self._checkpoint_hparams = checkpoint.get("hyper_parameters") or {}

    def on_train_start(self) -> None:
        self._diverged = None  # a new fit (e.g. resumed from the last good checkpoint with a lower lr) may save again
        # Not in on_load_checkpoint: Lightning restores the checkpoint before it builds the loaders and runs the
        # sanity check; this hook is the last one before the first batch, as on_train_batch_end (where the
        # checkpoint was written) was the last one after the previous batch.
        if self._rng_states_to_restore is not None:
            set_rng_states(self._rng_states_to_restore)
            self._rng_states_to_restore = None
        # The running sums of the interrupted epoch's logged metrics: Lightning's loop state is restored by now.
        sums, self._epoch_sums_to_restore = self._epoch_sums_to_restore, None
        if sums is not None:
            from lightning.pytorch.utilities import rank_zero_warn

            from ..utils.checkpoint import restore_epoch_sums

            why_not = restore_epoch_sums(self.trainer, sums, self.device)
            if why_not:
                rank_zero_warn(
                    f"the epoch means of epoch {self.current_epoch} cover only the batches after the resume: its "
                    f"running sums were not restored ({why_not})"
                )

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False):
        """``nn.Module.load_state_dict``; with ``strict``, a mismatch raises an error that lists what differs.

        Raises:
            CheckpointMismatchError: (a ``RuntimeError``) missing/unexpected keys or shape mismatches, with the
                hyper-parameters that differ from the checkpoint's when it was loaded through Lightning.
        """
        # The hyper-parameters of the checkpoint being loaded, if on_load_checkpoint just saw them.
        saved, self._checkpoint_hparams = getattr(self, "_checkpoint_hparams", None) or {}, None
        if strict:
            problems = state_dict_mismatch(self.state_dict(), state_dict)
            if problems:
                raise CheckpointMismatchError(self._mismatch_message(problems, saved))
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def _mismatch_message(self, problems: str, saved: Mapping[str, Any]) -> str:
        origin = saved.get("_class_path")
        head = f"the checkpoint does not fit {type(self).__name__}"
        if origin and origin.rsplit(".", 1)[-1] != type(self).__name__:
            head += f": it was saved from {origin}"
        differ = [
            f"{k}: checkpoint {saved[k]!r}, model {v!r}"
            for k, v in self.hparams.items()
            if k in saved and not k.startswith("_") and saved[k] != v
        ]
        lines = [head, problems]
        if differ:
            lines.append("hyper-parameters that differ: " + "; ".join(differ))
        lines.append(
            "Build the model with the checkpoint's hyper-parameters (its 'hyper_parameters' entry; "
            "Model.load_from_checkpoint does this), or load with strict=False to take the matching keys only."
        )
        return "\n".join(lines)

    # -------------------------------------------------------------------------------- official weights
    # translation_zoo.hub reads the files safely and dispatches here by official name; what the official networks
    # look like is the paper file's business.
    @classmethod
    def official_options(cls, state: dict[str, dict[str, torch.Tensor]], hparams: dict[str, Any]) -> dict[str, Any]:
        """Constructor options that official weights imply (architecture read-back from their keys and shapes).

        Args:
            state: official network name -> its state dict (after :meth:`official_to_ours`).
            hparams: the options the caller passed; an option that contradicts the weights is an error.

        Raises:
            translation_zoo.hub.OfficialWeightsError: naming the option to set.
        """
        return {}

    @classmethod
    def released_weights(cls) -> tuple[Any, ...]:
        """The weights the authors released, as :class:`translation_zoo.weights.Pretrained` entries (name, URL,
        archive member, options, licence, ...): what ``load_model("<family>/<name>")`` and
        ``translation-zoo translate --weights`` find. None by default."""
        return ()

    @classmethod
    def official_to_ours(cls, name: str, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Official network ``name``'s keys renamed to ours (identity where the layouts match key for key)."""
        return state_dict

    @classmethod
    def ours_to_official(cls, name: str, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The inverse of :meth:`official_to_ours`."""
        return state_dict

    # --------------------------------------------------------------------------------------- inference
    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        """Translate a batch of source images (N, C, H, W) in [-1, 1]. Unconditional models: ``forward(n)``
        generates ``n`` images (``forward(z=codes)``: one per code)."""
        raise NotImplementedError

    @property
    def unconditional(self) -> bool:
        """Whether the model generates images from noise alone (``batch_kind == "unconditional"``)."""
        return self.batch_kind == "unconditional"

    @torch.no_grad()
    def sample(self, n: int | None = None, **conditions: Any) -> torch.Tensor:
        """``n`` images (N, C, H, W) in [-1, 1] from an unconditional model, in eval mode without gradients.

        ``z=`` (N, nz) gives the latent codes (then ``n`` may be left out); missing codes are drawn from the
        model's prior. The model's train/eval mode is restored afterwards.

        Raises:
            TypeError: the model is not unconditional (use :meth:`translate`).
            ConditionError: an unknown condition or a code of the wrong shape.
        """
        if not self.unconditional:
            raise TypeError(
                f"{type(self).__name__} translates images ({self.batch_kind}); use translate(), not sample()"
            )
        conditions = self.check_conditions(conditions)
        was_training = self.training
        self.eval()
        try:
            return self(n, **conditions)
        finally:
            self.train(was_training)

    def inference_conditions(self) -> dict[str, Condition]:
        """The conditions ``forward`` takes besides the image, by name (none by default)."""
        return {}

    def check_conditions(self, conditions: Mapping[str, Any], names_only: bool = False) -> dict[str, Any]:
        """The given conditions (``None`` values dropped), each checked against :meth:`inference_conditions`.

        Raises:
            ConditionError: (a ``ValueError``) an unknown condition name (the message lists the model's), or a
                value that does not fit
                (unless ``names_only``).
        """
        declared = self.inference_conditions()
        owner = type(self).__name__
        for name, value in conditions.items():
            if name not in declared:
                given = name if value is None else f"{name}={value!r}"
                if not declared:
                    raise ConditionError(f"{given}: {owner} has one generator (A→B) and takes no conditions")
                raise ConditionError(
                    f"{given}: {owner} takes no condition {name!r}; its conditions: {sorted(declared)}"
                )
        if names_only:
            return {k: v for k, v in conditions.items() if v is not None}
        return {k: declared[k].check(k, v, owner) for k, v in conditions.items() if v is not None}

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        """The generator that inference and export run for ``conditions``, its input channels and size multiple.

        This default serves one-generator models (``self.gen``) and two-way models with a ``direction`` condition
        (``self.gen_a2b`` / ``self.gen_b2a``, taking ``input_nc`` / ``output_nc`` channels). A generator declares
        the factor its image sides must be multiples of as ``size_multiple``. Models whose generator takes a code
        or returns more than an image override this.
        """
        conditions = self.check_conditions(conditions)
        declared = self.inference_conditions()
        direction = conditions.get("direction", declared["direction"].default if "direction" in declared else None)
        other = sorted(set(conditions) - {"direction"})
        if other:
            raise NotImplementedError(f"{type(self).__name__} must override inference_spec to handle {other}")
        name = "gen" if direction is None else f"gen_{direction}"
        gen = getattr(self, name, None)
        if not isinstance(gen, nn.Module):
            raise NotImplementedError(f"{type(self).__name__} has no {name!r}: override inference_spec")
        channels = self.hparams["output_nc" if direction == "b2a" else "input_nc"]
        return InferenceSpec(gen, int(channels), int(getattr(gen, "size_multiple", 1)))

    def predict_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        """``{"fake": (N, C, H, W), "path": ...}``; with ``predict_num_samples`` > 1 also ``"samples"``, a list of
        that many (N, C, H, W) outputs (``fake`` is the first), drawn with the model's own sampling.

        Unconditional models read ``{"index": (N,), "path": ...}`` batches and generate one image per index."""
        from ..inference import prepare_conditions  # here: inference imports the models

        x = len(batch["index"]) if self.unconditional else batch["A"]
        conditions = prepare_conditions(self, self.predict_conditions, x)
        samples = [self(x, **conditions) for _ in range(max(1, int(self.predict_num_samples)))]
        out = {"fake": samples[0], "path": batch.get("path")}
        if len(samples) > 1:
            out["samples"] = samples
        return out

    @torch.no_grad()
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        """Image rows for grids: each row a list of (N, C, H, W) tensors shown side by side (unconditional
        models: samples | real images)."""
        if self.unconditional:
            return [[self(len(batch["image"])), batch["image"]]]
        return [[batch["A"], self(batch["A"]), batch["B"]]]

    @staticmethod
    @torch.no_grad()
    def cycle_visuals(
        batch: dict[str, Any],
        a2b: Callable[[torch.Tensor], torch.Tensor],
        b2a: Callable[[torch.Tensor], torch.Tensor],
    ) -> list[list[torch.Tensor]]:
        """:meth:`visuals` of a two-way model: rows a | a2b(a) | b2a(a2b(a)) and b | b2a(b) | a2b(b2a(b))."""
        real_a, real_b = batch["A"], batch["B"]
        fake_b, fake_a = a2b(real_a), b2a(real_b)
        return [[real_a, fake_b, b2a(fake_b)], [real_b, fake_a, a2b(fake_a)]]

    # -------------------------------------------------------------------------------------- evaluation
    def build_eval_metrics(
        self, metrics: list[str] | None, feature_extractor: str | None, *, paired: bool
    ) -> TranslationMetrics | None:
        """The suite that validation and test update, from a paper's ``val_metrics``/``feature_extractor``.

        ``metrics=None`` picks what works on any data: ``l1``/``psnr``/``ssim`` when ``paired``, plus ``fid`` and
        ``kid`` when a feature extractor is named. ``acc`` must be asked for: it needs class labels (the demo
        datasets' file names carry them). Nothing is loaded for ``"inception"`` until the first update, so a
        model with paper defaults constructs offline.

        Raises:
            ValueError: a feature-based metric without ``feature_extractor``, or what
                :class:`~translation_zoo.metrics.TranslationMetrics` rejects (unknown names, paired metrics on
                unpaired data, ``acc`` with a non-classifier).
        """
        if metrics is None:
            metrics = [*(PAIRED_METRICS if paired else ()), *(("fid", "kid") if feature_extractor else ())]
        feature_based = [m for m in metrics if m not in PAIRED_METRICS]
        if feature_based and feature_extractor is None:
            raise ValueError(
                f"val_metrics {feature_based} need a feature space: set feature_extractor to one of "
                f"{BUILTIN_EXTRACTORS} (digits_* for the demo digits; inception needs its weights file)"
            )
        if not metrics:
            return None
        return TranslationMetrics(metrics, feature_extractor or "none", paired=paired)

    def update_eval_metrics(self, fake: torch.Tensor, real: torch.Tensor, batch: dict[str, Any]) -> None:
        """Add translations ``fake`` of ``batch["A"]`` and real target-domain images ``real`` to the suite
        (labels and once-per-epoch counting of repeated real B images: :meth:`TranslationMetrics.update_batch`)."""
        suite = getattr(self, "eval_metrics", None)
        if suite is not None:
            # Counted once per epoch per rank: _eval_seen_b is reset with the metrics.
            seen = self._eval_seen_b = getattr(self, "_eval_seen_b", set())
            suite.update_batch(fake, batch, real=real, seen=seen)

    def _log_eval_metrics(self, stage: str) -> None:
        suite = getattr(self, "eval_metrics", None)
        if suite is None:
            return
        values = suite.compute()  # already synchronised across DDP ranks by torchmetrics
        self._reset_eval_metrics()
        for i, (name, value) in enumerate(values.items()):
            # sync_dist: the values are equal on every rank; it only silences Lightning's epoch-level warning.
            self.log(f"{stage}/{name}", value.float(), prog_bar=i == 0, sync_dist=True)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self.eval_step(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self.eval_step(batch, "test")

    def eval_step(self, batch: dict[str, Any], stage: str) -> None:
        """One validation (``stage="val"``) or test batch: the metrics score ``self(A)`` against ``B``
        (unconditional models: as many samples as real images, against ``batch["image"]``)."""
        if self.unconditional:
            self.update_eval_metrics(self(len(batch["image"])), batch["image"], batch)
            return
        self.update_eval_metrics(self(batch["A"]), batch["B"], batch)

    def eval_cycle(
        self,
        batch: dict[str, Any],
        stage: str,
        a2b: Callable[[torch.Tensor], torch.Tensor],
        b2a: Callable[[torch.Tensor], torch.Tensor],
        error: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.l1_loss,
        name: str = "cyc",
    ) -> None:
        """:meth:`eval_step` of a two-way unpaired model (generators ``a2b`` and ``b2a``).

        Unpaired data have no target, so the reconstruction errors ``error(b2a(a2b(a)), a)`` and
        ``error(a2b(b2a(b)), b)`` are logged as ``<stage>/<name>_a`` and ``<stage>/<name>_b`` (the sanity signal);
        the translation metrics judge ``a2b``, the direction a user asks for, against real B. Each translation is
        computed once.
        """
        real_a, real_b = batch["A"], batch["B"]
        fake_b, fake_a = a2b(real_a), b2a(real_b)
        n = real_a.shape[0]
        self.log(f"{stage}/{name}_a", error(b2a(fake_b), real_a), prog_bar=True, batch_size=n, sync_dist=True)
        self.log(f"{stage}/{name}_b", error(a2b(fake_a), real_b), batch_size=n, sync_dist=True)
        self.update_eval_metrics(fake_b, real_b, batch)

    def _reset_eval_metrics(self) -> None:
        self._eval_seen_b: set[str] = set()  # paths of the real B images counted this epoch
        if getattr(self, "eval_metrics", None) is not None:
            # Lightning evaluates under inference mode; states re-created there would be inference tensors that
            # no later update outside it (Trainer(inference_mode=False), a user's loop) could modify in place.
            with torch.inference_mode(False):
                self.eval_metrics.reset()

    def on_validation_epoch_start(self) -> None:
        self._reset_eval_metrics()  # an interrupted epoch must not leak into this one

    def on_test_epoch_start(self) -> None:
        self._reset_eval_metrics()

    def on_validation_epoch_end(self) -> None:
        self._log_eval_metrics("val")

    def on_test_epoch_end(self) -> None:
        self._log_eval_metrics("test")

    def translate(self, images: Any, **kwargs: Any) -> Any:
        """Translate PIL images, image files or a folder; see :func:`translation_zoo.inference.translate`."""
        from ..inference import translate  # imported here: inference imports the models

        return translate(self, images, **kwargs)


def n_params(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = ["LR_POLICIES", "TranslationGAN", "linear_decay_factor", "n_params"]
