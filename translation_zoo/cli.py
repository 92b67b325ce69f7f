"""The ``lightning`` / ``translation-zoo`` command: a LightningCLI over every model and DataModule of the zoo.

    lightning fit --config recipes/pix2pix_facades.yaml
    lightning fit --config recipes/pix2pix_facades.yaml --model.init_args.lambda_l1=50
    lightning predict --config recipes/quickstart_pix2pix_digits.yaml --ckpt_path last.ckpt \
        --data.init_args.predict_dir my_images/ --predict_writer.output_dir translated/
"""

from __future__ import annotations

import sys
from pathlib import Path

import lightning as L
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback

from .callbacks import TranslationWriter
from .models import TranslationGAN


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


def main(args: list[str] | None = None) -> None:
    """Console entry point."""
    from . import data, models  # noqa: F401  (registers every model and DataModule for subclass mode)
    from .data import DataError

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
    except (DataError, FileExistsError) as e:
        # Bad input: one clear line naming the file/option, not a traceback (DataLoader workers wrap the message).
        msg = str(e).strip().splitlines()
        print(f"error: {msg[-1] if msg else type(e).__name__}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
