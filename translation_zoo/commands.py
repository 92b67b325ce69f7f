"""``translation-zoo translate`` and ``translation-zoo list``: inference without a config file.

    translation-zoo translate --weights cyclegan/horse2zebra --input horses/ --output zebras/
    translation-zoo translate --weights runs/.../last.ckpt --input photo.jpg --output out/ --direction b2a
    translation-zoo translate --weights latest_net_G.pth --model pix2pix --input labels/ --output out/ --num-samples 4
    translation-zoo list

``translate`` writes one image per input with the input's file name (and sub-folder, for a folder input) and the
input's width and height; with ``--num-samples N`` > 1 it writes ``<stem>_<k><ext>`` for k = 0 .. N-1. ``--weights``
is a catalogue name (downloaded once, see :mod:`translation_zoo.weights`), a Lightning checkpoint, or official
``.pth`` weights / checkpoints folder (with ``--model``). ``list`` prints the models of the zoo and the catalogue of
released weights, marking those in the cache.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from .data.base import DataError, list_images
from .data.datasets import DatasetDownloadError
from .inference import load_model, translate
from .registry import list_models
from .weights import cached, catalogue, is_pretrained_name, load_pretrained, resolve, weights_home

SUBCOMMANDS = ("translate", "list")


# --------------------------------------------------------------------------------------------- translate
def build_translate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="translation-zoo translate",
        description=(
            "Translate an image or a folder of images with released weights (by name, see `translation-zoo list`) "
            "or a trained model. Outputs keep the input file names, sub-folders and sizes."
        ),
    )
    parser.add_argument(
        "--weights",
        required=True,
        help="catalogue name (cyclegan/horse2zebra), Lightning .ckpt, or official .pth / checkpoints folder",
    )
    parser.add_argument("--input", required=True, help="an image file or a folder (searched recursively)")
    parser.add_argument("--output", required=True, help="folder to write to (created if missing)")
    parser.add_argument("--model", help="model class for checkpoints without one; pix2pix/cyclegan for .pth weights")
    parser.add_argument("--direction", choices=("a2b", "b2a"), help="for two-way models such as CycleGAN")
    parser.add_argument(
        "--num-samples", type=int, default=1, help="outputs per input (multimodal models); writes <stem>_<k><ext>"
    )
    parser.add_argument(
        "--target", help="target domain of multi-domain models: an index, a name, or comma-separated attribute values"
    )
    parser.add_argument("--style", help="style / reference image of reference-guided models")
    parser.add_argument(
        "--size",
        help="size the network sees: an int, or 'input' for the image's own size (rounded to what the network "
        "accepts); default: the training size when known",
    )
    parser.add_argument("--seed", type=int, help="seed for sampled codes and dropout, for repeatable outputs")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, mps ... (default: auto)")
    parser.add_argument("--extension", help="write this file type instead of the input's, e.g. .png")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--quiet", action="store_true", help="no progress bar while downloading weights")
    return parser


def _device(name: str) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _inputs(path: Path) -> list[tuple[Path, Path]]:
    """(image file, its path relative to the output folder) for a file or every image below a folder."""
    if path.is_file():
        return [(path, Path(path.name))]
    return [(p, p.relative_to(path)) for p in list_images(path)]


def _targets(rel: Path, output: Path, extension: str | None, num_samples: int) -> list[Path]:
    out = output / rel
    if extension:
        out = out.with_suffix(extension if extension.startswith(".") else f".{extension}")
    if num_samples == 1:
        return [out]
    return [out.with_name(f"{out.stem}_{k}{out.suffix}") for k in range(num_samples)]


def _parse_target(value: str) -> Any:
    """``3`` -> 3; ``0,1,0.5`` -> [0.0, 1.0, 0.5] (an attribute vector); anything else stays a string."""
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    if "," in text:
        try:
            return [float(v) for v in text.split(",")]
        except ValueError:
            pass
    return text


def _style_keyword(model: Any) -> str:
    """``style`` or ``reference``: the image condition the model declares (``style`` when it declares none)."""
    declared = getattr(model, "inference_conditions", None)
    if not callable(declared):
        return "style"
    conditions = declared()
    for name in ("style", "reference"):
        if name in conditions:
            return name
    images = [n for n, c in conditions.items() if getattr(c, "kind", None) == "image"]
    if images:
        return images[0]
    raise ValueError(f"--style: {type(model).__name__} takes no style or reference image")


def _accepts(func: Any, name: str) -> bool:
    params = inspect.signature(func).parameters
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _translate_one(model: Any, image: Path, num_samples: int, conditions: dict[str, Any], size: Any) -> list:
    """The ``num_samples`` translations of one image, as PIL images."""
    missing = [k for k in conditions if not _accepts(translate, k)]
    if missing:
        raise ValueError(f"this version of translation_zoo.inference.translate does not take {missing} yet")
    kwargs = dict(conditions)
    if size is not None:
        kwargs["size"] = size
    if num_samples == 1:
        return [translate(model, image, **kwargs)]
    if "num_samples" in inspect.signature(translate).parameters:
        out = translate(model, image, num_samples=num_samples, **kwargs)
        out = out if isinstance(out, list) else [out]
        if len(out) == 1 and isinstance(out[0], list):  # a list per input
            out = out[0]
        return out
    # translate without num_samples: one call per sample (dropout or a sampled code makes them differ).
    return [translate(model, image, **kwargs) for _ in range(num_samples)]


def _load(args: argparse.Namespace, device: torch.device) -> Any:
    if is_pretrained_name(args.weights):
        entry = resolve(args.weights)
        if args.direction == "b2a" and entry.direction == "a2b" and not any(f.network == "G_B" for f in entry.files):
            other = f"; use --weights {entry.reverse}" if entry.reverse else ""
            raise ValueError(
                f"--direction b2a: {entry.name} is the released {entry.source} -> {entry.target} generator only{other}"
            )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*direction 'b2a' would run an untrained generator")
            return load_pretrained(entry, device=device, progress=not args.quiet)
    path = Path(args.weights).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"--weights {args.weights}: neither a file nor a folder, nor a name in the catalogue "
            "(`translation-zoo list` shows it)"
        )
    return load_model(path, args.model, device=device)


def _fail(message: str, code: int = 2) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def translate_main(argv: list[str]) -> None:
    parser = build_translate_parser()
    args = parser.parse_args(argv)
    if args.num_samples < 1:
        parser.error(f"--num-samples must be at least 1, got {args.num_samples}")
    size: Any = None
    if args.size is not None:
        if args.size == "input":
            size = "input"
        elif args.size.isdigit() and int(args.size) > 0:
            size = int(args.size)
        else:
            parser.error(f"--size must be a positive int or 'input', got {args.size!r}")
    source = Path(args.input).expanduser()
    if not source.exists():
        parser.error(f"--input: {source} does not exist")
    items = _inputs(source)
    if not items:
        parser.error(f"--input: no images below {source}")
    output = Path(args.output).expanduser()
    plan = [(image, _targets(rel, output, args.extension, args.num_samples)) for image, rel in items]
    if not args.overwrite:
        # Before loading anything (a download can take minutes): a second run must not half-overwrite a folder.
        existing = [t for _, targets in plan for t in targets if t.exists()]
        if existing:
            _fail(f"{existing[0]} already exists ({len(existing)} outputs do); pass --overwrite or another --output")

    try:
        model = _load(args, _device(args.device))
    except DatasetDownloadError as e:
        _fail(str(e), 1)
    except (ValueError, FileNotFoundError, DataError) as e:
        _fail(str(e))

    conditions: dict[str, Any] = {}
    if args.direction is not None:
        conditions["direction"] = args.direction
    if args.target is not None:
        conditions["target"] = _parse_target(args.target)
    try:
        if args.style is not None:
            style = Path(args.style).expanduser()
            if not style.is_file():
                raise FileNotFoundError(f"--style: {style} is not a file")
            conditions[_style_keyword(model)] = style
        if args.seed is not None:
            torch.manual_seed(args.seed)
        written = 0
        for image, targets in plan:
            outputs = _translate_one(model, image, args.num_samples, conditions, size)
            if len(outputs) != len(targets):
                raise ValueError(f"expected {len(targets)} outputs for {image}, got {len(outputs)}")
            for out, target in zip(outputs, targets, strict=True):
                target.parent.mkdir(parents=True, exist_ok=True)
                _save(out, target)
                written += 1
    except (ValueError, FileNotFoundError, DataError) as e:
        _fail(str(e))
    print(f"wrote {written} image{'s' if written != 1 else ''} to {output}")


def _save(image: Image.Image, target: Path) -> None:
    if target.suffix.lower() in (".jpg", ".jpeg"):
        image.save(target, quality=95)
    else:
        image.save(target)


# -------------------------------------------------------------------------------------------------- list
def list_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="translation-zoo list", description="Print the models of the zoo and the catalogue of released weights."
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    released: dict[str, int] = {}
    for entry in catalogue().values():
        released[entry.model] = released.get(entry.model, 0) + 1
    models = [
        {
            "name": m.name,
            "batch_kind": m.batch_kind,
            "paper": m.title,
            "official_import": m.official_weights,
            "released_weights": released.get(m.name, 0),
        }
        for m in list_models()
    ]
    entries = [
        {
            "name": e.name,
            "model": e.model,
            "source": e.source,
            "target": e.target,
            "size": e.size,
            "channels": [e.input_nc, e.output_nc],
            "cached": cached(e),
            "urls": [f.url for f in e.files],
            "licence": e.licence,
        }
        for e in catalogue().values()
    ]
    if args.json:
        print(json.dumps({"models": models, "weights": entries, "cache": str(weights_home())}, indent=1))
        return
    print("Models (weights: entries below / 'import' = from_official reads the authors' files):")
    width = max(len(m["name"]) for m in models)
    for m in models:
        got = str(m["released_weights"]) if m["released_weights"] else "import" if m["official_import"] else "-"
        print(f"  {m['name']:<{width}}  {m['batch_kind']:<9} {got:<7} {m['paper']}")
    print(f"\nReleased weights (translation-zoo translate --weights NAME; cache: {weights_home()}):")
    width = max(len(e["name"]) for e in entries)
    print(f"  {'NAME':<{width}}  {'MODEL':<9} {'SIZE':>4}  {'CACHED':<6}  TRANSLATES")
    for e in entries:
        mark = "yes" if e["cached"] else "-"
        print(f"  {e['name']:<{width}}  {e['model']:<9} {e['size']:>4}  {mark:<6}  {e['source']} -> {e['target']}")
    licences = sorted({e["licence"] for e in entries})
    print("\nLicence: " + "; ".join(licences))


# -------------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    """``translation-zoo translate ...`` / ``translation-zoo list ...``: ``argv`` starts with the subcommand."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in SUBCOMMANDS:
        _fail(f"expected one of {', '.join(SUBCOMMANDS)} as the first argument, got {argv[:1] or 'nothing'}")
    command, rest = argv[0], argv[1:]
    if command == "translate":
        translate_main(rest)
    else:
        list_main(rest)


if __name__ == "__main__":
    main()
