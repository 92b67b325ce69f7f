"""Put the ``lightning`` command's full resolved config into the Weights & Biases run config.

Without it a W&B run only gets what Lightning logs by itself: the model's and the DataModule's
``save_hyperparameters`` merged into one flat dict (no class paths, no trainer, no callbacks, no seed; a DataModule
argument can even shadow a model argument of the same name). With it the run config also holds the exact YAML
that ``config.yaml`` holds, nested (``model.init_args.lambda_l1``, ``trainer.max_epochs``, ...), so a run can be
reproduced from the W&B page alone and sweep parameters named ``model.init_args.<name>`` line up with it.
"""

from __future__ import annotations

import json
from typing import Any

import lightning as L
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_warn


def resolved_cli_config(trainer: L.Trainer) -> dict[str, Any] | None:
    """The resolved config of the running ``lightning`` subcommand as plain JSON types, or None outside the CLI.

    LightningCLI hands the parsed config to its :class:`SaveConfigCallback`, which it appends to
    ``trainer.callbacks``; the config is dumped with that callback's parser, as ``config.yaml`` is written.
    """
    saver = next((cb for cb in trainer.callbacks if isinstance(cb, SaveConfigCallback)), None)
    if saver is None:
        return None
    return json.loads(saver.parser.dump(saver.config, skip_none=False, format="json"))


class WandbConfigCallback(L.Callback):
    """Log the CLI's full resolved config to every :class:`WandbLogger` of the trainer (rank 0 only).

    Add it next to the W&B logger (``recipes/snippets/wandb.yaml`` does both). Outside ``lightning`` (a plain
    ``Trainer``, or LightningCLI with ``save_config_callback=None``) there is no CLI config: it warns and does
    nothing, and the run keeps Lightning's own hyper-parameter logging.
    """

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        loggers = [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]
        # The logger methods are rank-zero-only already; returning early also skips the dump on other ranks.
        if not loggers or not trainer.is_global_zero:
            return
        config = resolved_cli_config(trainer)
        if config is None:
            rank_zero_warn("WandbConfigCallback: no LightningCLI config found; only the model's hparams are logged.")
            return
        for logger in loggers:
            logger.log_hyperparams(config)


__all__ = ["WandbConfigCallback", "resolved_cli_config"]
