"""The ``lightning`` / ``translation-zoo`` command: a LightningCLI over every model and DataModule of the zoo.

    lightning fit --config recipes/pix2pix_facades.yaml
    lightning fit --config recipes/pix2pix_facades.yaml --model.init_args.lambda_l1=50
    lightning predict --config recipes/quickstart_pix2pix_digits.yaml --ckpt_path last.ckpt \
        --data.init_args.predict_dir my_images/ --predict_writer.output_dir translated/
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import lightning as L
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback
from lightning.pytorch.utilities.rank_zero import rank_zero_info

from .callbacks import TranslationWriter
from .callbacks.checkpointing import find_last_checkpoint
from .models import TranslationGAN
from .utils.checkpoint import CheckpointMismatchError


class KeepPreviousConfig(SaveConfigCallback):
    """Save the resolved config beside the run's checkpoints; an earlier run's ``config.yaml`` in the same folder is
    kept as ``config.<n>.yaml`` instead of crashing the new run or being overwritten."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # trainer.log_dir broadcasts from rank 0: every rank must ask for it, or DDP deadlocks.
        log_dir = trainer.log_dir or trainer.default_root_dir
        if trainer.is_global_zero:
            target = Path(log_dir) / self.config_filename
            if target.exists() and not self.already_saved:
                n = 1
                while (kept := target.with_suffix(f".{n}{target.suffix}")).exists():
                    n += 1
                target.rename(kept)
        super().setup(trainer, pl_module, stage)


class TranslationCLI(LightningCLI):
    """LightningCLI in subclass mode: ``model`` is any :class:`TranslationGAN`, ``data`` any LightningDataModule."""

    def add_arguments_to_parser(self, parser) -> None:
        # Always present, active only in `predict`: writes translated images keeping the input file names.
        parser.add_lightning_class_args(TranslationWriter, "predict_writer")

    # Checkpoints in: untrusted files cannot run code, and `--ckpt_path last` finds the previous run's last.ckpt.
    def before_fit(self) -> None:
        self._prepare_checkpoint_loading("fit")

    def before_validate(self) -> None:
        self._prepare_checkpoint_loading("validate")

    def before_test(self) -> None:
        self._prepare_checkpoint_loading("test")

    def before_predict(self) -> None:
        self._prepare_checkpoint_loading("predict")

    def _prepare_checkpoint_loading(self, subcommand: str) -> None:
        config = self.config_init[subcommand]
        if "weights_only" in self._subcommand_method_arguments[subcommand] and config.get("weights_only") is None:
            # A checkpoint is data: load tensors and plain values only, never pickled code. torch >= 2.6 defaults to
            # this as well, unless TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD is set. `--weights_only false` for trusted files.
            config["weights_only"] = True
        if config.get("ckpt_path") == "last":
            found = find_last_checkpoint(self.trainer)
            if found is not None:
                rank_zero_info(f"--ckpt_path last: resuming from {found}, the newest last checkpoint of earlier runs")
                config["ckpt_path"] = str(found)
            # else Lightning warns and starts from scratch: `--ckpt_path last` can be set on the first launch too.


def main(args: list[str] | None = None) -> None:
    """Console entry point."""
    argv = sys.argv[1:] if args is None else args
    if isinstance(argv, list) and argv[:1] == ["export"]:
        # Not a Trainer subcommand: exporting a generator needs no Trainer, data or config file.
        from .export import main as export_main

        export_main(argv[1:])
        return
    if isinstance(argv, list) and argv[:1] in (["translate"], ["list"]):
        # Inference on files with official or trained weights: no Trainer or config file either.
        from .commands import main as commands_main

        commands_main(argv)
        return
    from . import data, models  # noqa: F401  (registers every model and DataModule for subclass mode)
    from .data import DataError
    from .models import ConditionError

    try:
        TranslationCLI(
            TranslationGAN,
            L.LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            save_config_callback=KeepPreviousConfig,
            save_config_kwargs={"overwrite": True},
            auto_configure_optimizers=False,
            args=args,
        )
    except (DataError, FileExistsError, ConditionError) as e:
        # Bad input: one clear line naming the file/option, not a traceback (DataLoader workers wrap the message).
        msg = str(e).strip().splitlines()
        print(f"error: {msg[-1] if msg else type(e).__name__}", file=sys.stderr)
        raise SystemExit(2) from None
    except CheckpointMismatchError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except pickle.UnpicklingError as e:
        # weights_only refused an object: the file holds pickled code or classes, not just tensors and plain data.
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(
            f"error: refusing to load the checkpoint: it holds objects other than tensors and plain data, and "
            f"unpickling them could run code ({first}). Pass --weights_only false only for files you trust.",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    except FloatingPointError as e:
        # Divergence (TranslationGAN._step): say which loss and where; exit 3 so job scripts need not retry it.
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(3) from None


if __name__ == "__main__":
    main()
