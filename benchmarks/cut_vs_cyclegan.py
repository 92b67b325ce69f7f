"""FID per training time: CUT and FastCUT against CycleGAN on the embedded MNIST → UCI task (Park et al. 2020, §4).

    python benchmarks/cut_vs_cyclegan.py --steps 480 --eval-every 40   # the run of benchmarks/RESULTS.md (~6 min)
    python benchmarks/cut_vs_cyclegan.py --steps 40 --eval-every 20 --models cut   # smoke test
    python benchmarks/cut_vs_cyclegan.py --steps 480 --eval-every 80 --set fastcut:lambda_NCE=1   # FastCUT's λ_NCE 1

The paper's efficiency claim in miniature: CUT learns one generator (no inverse G, no second D), so an iteration
costs less than CycleGAN's, and FastCUT less again. Every model gets the same architecture (``resnet_6blocks``,
``ngf = ndf = 16``, its paper's other defaults; CUT's H at the same 1/4 width, ``netF_nc`` 64; FastCUT without
flip-equivariance on these unflipped digits, see :func:`build`), data (``mnist_uci``: A = MNIST, B = UCI digits,
32x32), batch, number of steps, LR policy (constant, then linear decay, compressed into 4 epochs of ``steps / 4``
random batches) and seed.
Every ``--eval-every`` steps, G: A → B translates the 500 MNIST test digits, scored in the feature space of a small
CNN trained on real UCI digits (``digits_uci``): FID and KID against the 200 UCI test digits, and ``acc``, that
classifier's accuracy on G(a) w.r.t. a's digit (does the translation keep the class?). Training time counts the
training steps only (data loading and evaluation excluded). Reference row: the untranslated MNIST digits.

Output: a summary table (s/iter, final FID/KID/acc, training seconds, and the training seconds each model needed to
reach CycleGAN's final FID), then each model's curve.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from typing import Any

import lightning as L
import torch
import yaml

from translation_zoo.data import DemoUnpairedDataModule
from translation_zoo.metrics import score_translations
from translation_zoo.models.base import n_params

MODELS = ("cyclegan", "cut", "fastcut")
EPOCHS = 4


def build(name: str, ngf: int, netf_nc: int | None = None, **options: Any) -> L.LightningModule:
    from translation_zoo.models import CycleGAN
    from translation_zoo.models.cut import CUT

    # The papers' LR policy (constant, then linear decay to ~0), compressed into the budget's 4 epochs.
    common = {"input_nc": 1, "output_nc": 1, "netG": "resnet_6blocks", "ngf": ngf, "ndf": ngf}
    schedule = {"n_epochs": EPOCHS // 2, "n_epochs_decay": EPOCHS // 2}
    if name == "cyclegan":
        return CycleGAN(**common, **schedule, **options)
    # H scaled with the networks (paper: netF_nc 256 at ngf 64): at full width H would be as large as G here
    # (388k vs 491k parameters at ngf 16) and dominate the cost of a step, unlike in the paper (0.56M vs 11.4M).
    # FastCUT's flip-equivariance assumes flip augmentation (official default: the reals D sees are flipped too);
    # digits are not mirror-symmetric and the demo data never flips them, so D would tell G's mirrored outputs from
    # the never-mirrored real UCI digits and fight the equivariance term. Off here, as for any unflipped data.
    flips = {"flip_equivariance": False} if name == "fastcut" else {}
    return CUT(mode=name, netF_nc=netf_nc or 256 * ngf // 64, **common, **schedule, **{**flips, **options})


@torch.no_grad()
def score(translate, test: list[dict[str, Any]]) -> dict[str, float]:
    """FID/KID/acc of ``translate(A)`` over the test split, each real B counted once (as the models' test_step)."""
    values = score_translations(translate, test, ("fid", "kid", "acc"), "digits_uci")
    return {k.removesuffix("_digits_uci"): v for k, v in values.items()}


class Curve(L.Callback):
    """Times every training step and scores G on the test split every ``every`` steps (outside the timing)."""

    def __init__(self, test: list[dict[str, Any]], every: int) -> None:
        self.test, self.every = test, every
        self.step_s: list[float] = []
        self.points: list[dict[str, float]] = []

    def evaluate(self, model: L.LightningModule, steps: int) -> None:
        was_training = model.training
        model.eval()
        point = {"steps": steps, "train_s": sum(self.step_s), **score(model, self.test)}
        model.train(was_training)
        self.points.append(point)

    def on_train_start(self, trainer, pl_module) -> None:
        self.evaluate(pl_module, 0)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.step_s.append(time.perf_counter() - self.t0)
        if len(self.step_s) % self.every == 0:
            self.evaluate(pl_module, len(self.step_s))


def train(
    name: str,
    steps: int,
    eval_every: int,
    seed: int,
    batch_size: int,
    ngf: int,
    test: list,
    netf_nc: int | None = None,
    **options: Any,
) -> dict[str, Any]:
    L.seed_everything(seed, verbose=False)
    model = build(name, ngf, netf_nc, **options)
    data = DemoUnpairedDataModule(batch_size=batch_size, num_workers=0)
    curve = Curve(test, eval_every)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=EPOCHS,
        limit_train_batches=steps // EPOCHS,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[curve],
    )
    trainer.fit(model, datamodule=data)
    if curve.points[-1]["steps"] != len(curve.step_s):
        curve.evaluate(model, len(curve.step_s))
    groups = model.param_groups()
    return {
        "curve": curve.points,
        "s_per_iter": statistics.median(curve.step_s),
        "train_s": sum(curve.step_s),
        "params": {k: sum(n_params(m) for m in mods) for k, mods in groups.items()},
    }


def test_split(batch_size: int) -> list[dict[str, Any]]:
    data = DemoUnpairedDataModule(batch_size=batch_size, num_workers=0)
    data.prepare_data()
    data.setup("test")
    return list(data.test_dataloader())


def run(
    models: tuple[str, ...] = MODELS,
    steps: int = 240,
    eval_every: int = 30,
    seed: int = 0,
    batch_size: int = 8,
    ngf: int = 16,
    netf_nc: int | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Train each of ``models`` and return its curve; ``"input"`` holds the untranslated digits' scores.
    ``options``: further model options, ``{"lambda_NCE": 1}`` for every model or ``{"fastcut:lambda_NCE": 1}``
    for one."""
    test = test_split(batch_size)
    results: dict[str, Any] = {"input": score(lambda a: a, test)}
    for name in models:
        own = {k.split(":", 1)[-1]: v for k, v in options.items() if ":" not in k or k.startswith(name + ":")}
        results[name] = train(name, steps, eval_every, seed, batch_size, ngf, test, netf_nc, **own)
    return results


def time_to_reach(curve: list[dict[str, float]], fid: float) -> float | None:
    """Training seconds at the first evaluation with FID ≤ ``fid`` (None if never)."""
    return next((p["train_s"] for p in curve if p["fid"] <= fid), None)


def report(results: dict[str, Any], models: tuple[str, ...]) -> str:
    ref = results.get("cyclegan", {}).get("curve", [{}])[-1].get("fid")
    head = "| model | params G(+F) / D | s/iter | FID ↓ | KID ↓ | class acc ↑ | train s | train s to CycleGAN's FID |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for name in models:
        r = results[name]
        end = r["curve"][-1]
        reach = time_to_reach(r["curve"], ref) if ref is not None else None
        p = r["params"]
        lines.append(
            f"| {name} | {p['G']:,} / {p['D']:,} | {r['s_per_iter']:.3f} | {end['fid']:.2f} | {end['kid']:.3f} | "
            f"{end['acc']:.3f} | {r['train_s']:.0f} | {'–' if reach is None else f'{reach:.0f}'} |"
        )
    i = results["input"]
    lines.append(f"| *input (no translation)* | – | – | {i['fid']:.2f} | {i['kid']:.3f} | {i['acc']:.3f} | – | – |")
    for name in models:
        lines += ["", f"{name}: steps / train s / FID / acc", ""]
        lines.append(
            " · ".join(
                f"{p['steps']}: {p['train_s']:.0f} s {p['fid']:.1f} {p['acc']:.2f}" for p in results[name]["curve"]
            )
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--steps", type=int, default=240, help=f"training steps in all ({EPOCHS} epochs)")
    p.add_argument("--eval-every", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--ngf", type=int, default=16, help="generator and discriminator width (paper 64)")
    p.add_argument("--netF-nc", type=int, default=None, help="CUT's H width (default 256 * ngf / 64, as the paper)")
    p.add_argument("--seed", type=int, default=0)
    # One thread: these small networks lose to thread contention on a shared 2-core machine.
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="model options (YAML values) for every model, e.g. lambda_NCE=1, or for one: fastcut:lambda_NCE=1",
    )
    args = p.parse_args()
    options = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    torch.set_num_threads(args.threads)
    print(
        f"# torch {torch.__version__}, lightning {L.__version__}, {platform.processor() or platform.machine()}, "
        f"{args.threads} threads; {args.steps} steps of batch {args.batch_size}, ngf=ndf={args.ngf}, seed {args.seed}, "
        f"options {options}",
        flush=True,
    )
    t0 = time.perf_counter()
    models = tuple(args.models)
    results = run(models, args.steps, args.eval_every, args.seed, args.batch_size, args.ngf, args.netF_nc, **options)
    print(report(results, models))
    print(f"\ntotal {(time.perf_counter() - t0) / 60:.1f} min", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), **results}, f, indent=2)


if __name__ == "__main__":
    main()
