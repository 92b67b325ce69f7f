"""Export a trained generator for inference outside Python training code: ONNX or TorchScript.

    translation-zoo export --ckpt runs/.../last.ckpt --format onnx
    translation-zoo export --ckpt last.ckpt --format torchscript --direction b2a --output zebra2horse.pt
    translation-zoo export --ckpt checkpoints/facades_pretrained/latest_net_G.pth --model pix2pix --format onnx

The exported graph is the generator alone, in eval mode: input ``image`` (N, C, H, W) float32 in [-1, 1], output
``translated`` (N, C', H, W) in [-1, 1]. Unconditional models (GAN, DCGAN, VAE) export their generator with the
latent code as the only input: ``z`` (N, nz) -> ``generated`` (N, C, H, W) in [-1, 1], dynamic batch.
Batch, height and width are dynamic; height and width must be multiples of the architecture's factor (U-Net:
``2**num_downs``, e.g. 256 for ``unet_256``; ResNet generator: 4).

pix2pix note: the paper (and the official ``test.py`` without ``--eval``) keeps dropout on and uses the test batch's
batch-norm statistics at inference. An exported graph is the deterministic eval-mode generator instead (dropout off,
batch norm with its running statistics, the official ``--eval``), so its outputs differ from ``Pix2Pix.forward`` in
paper mode; they equal ``model.gen.eval()(x)``.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .data.base import DataError
from .hub import OfficialWeightsError
from .inference import check_size, load_model, network_conditions
from .models import TranslationGAN

FORMATS = ("onnx", "torchscript")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}
# Verification tolerances on the tanh output in [-1, 1]. Runtimes agree to ~1e-5 for well-conditioned weights, but
# float32 itself is off by up to ~4e-3 (measured against float64) where large pre-tanh activations (~1e3, e.g. random
# BN weights in a unet_256) cross zero; export bugs (wrong mode, padding, size) move far more pixels than that.
TOLERANCE_MAX = 1e-2  # about one 8-bit grey level (2 / 255)
TOLERANCE_MEAN = 1e-4
_ONNX_SINGLE_FILE_LIMIT = 2**31 - 2**27  # protobuf's 2 GB limit, with margin for the graph itself


def export_generator(
    model: TranslationGAN,
    output: str | os.PathLike,
    format: str = "onnx",
    *,
    direction: str | None = None,
    size: int | tuple[int, int] | None = None,
    opset: int | None = None,
    dynamo: bool | None = None,
    verify: bool = True,
    **conditions: Any,
) -> Path:
    """Write the model's generator as ONNX or TorchScript, in eval mode (see the module docstring).

    Args:
        model: the trained model (e.g. from :func:`translation_zoo.load_model`).
        output: file to write (``.onnx`` / ``.pt``).
        format: ``"onnx"`` or ``"torchscript"`` (traced; TorchScript is deprecated upstream, prefer ONNX).
        direction: ``"a2b"`` (default) or ``"b2a"`` for two-way models such as CycleGAN.
        **conditions: further conditions that fix what the model's ``inference_spec`` returns. Inputs the model
            declares in ``InferenceSpec.extra_inputs`` (e.g. a latent code ``z``) become graph inputs after
            ``image``, with a dynamic batch dimension.
        size: example image size for tracing, an int or (height, width); default: the training crop size if known
            (``model.inference_size``), else 256 rounded to the architecture's factor. The graph stays dynamic.
        opset: ONNX opset (default: the exporter's).
        dynamo: ONNX exporter: the ``torch.export``-based one (default when available: torch >= 2.6 and
            ``onnxscript`` installed) or, with ``False``, the legacy TorchScript-based one.
        verify: run the written file on a batch of 2 at a second size and compare with PyTorch (ONNX needs
            ``onnxruntime``; skipped with a warning without it).

    Returns:
        The written path.

    Raises:
        ValueError: unknown format or direction, a size the generator does not accept.
        RuntimeError: the exported model's output differs from PyTorch's (with ``verify``).
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    if direction is not None:
        conditions["direction"] = direction
    spec = model.inference_spec(**network_conditions(model, conditions), **_fixed(model, conditions))
    # A private float32 CPU copy in eval mode: the caller's model keeps its device, dtype and train/eval state.
    gen = copy.deepcopy(spec.module).float().cpu().eval().requires_grad_(False)
    multiple = spec.size_multiple
    if size is None:
        known = getattr(model, "inference_size", None)
        base = known if known is not None else (256, 256)
        size = tuple(max(multiple, round(s / multiple) * multiple) for s in base)
    height, width = check_size(size, multiple)
    g = torch.Generator().manual_seed(0)
    extra = {k: _batch_of(v, 2, g) for k, v in spec.extra_inputs.items()}
    image = (torch.rand(2, spec.input_nc, height, width, generator=g) * 2 - 1,) if spec.image_input else ()
    example = (*image, *extra.values())

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if format == "onnx":
        _export_onnx(gen, example, list(spec.extra_inputs), output, opset, dynamo, spec.image_input)
    else:
        _export_torchscript(gen, example, output)
    if verify:
        # A second size and batch check that the graph really is dynamic, not just right at the trace size.
        image = (
            (torch.rand(3, spec.input_nc, height + multiple, width, generator=g) * 2 - 1,) if spec.image_input else ()
        )
        probe = (*image, *(_batch_of(v, 3, g) for v in spec.extra_inputs.values()))
        diff = compare_with_pytorch(output, gen, probe, format)
        if diff is not None and (diff[0] > TOLERANCE_MAX or diff[1] > TOLERANCE_MEAN):
            raise RuntimeError(
                f"the exported {format} model differs from PyTorch on inputs {[tuple(t.shape) for t in probe]}: "
                f"max |diff| "
                f"{diff[0]:.2e} (tolerance {TOLERANCE_MAX}), mean {diff[1]:.2e} (tolerance {TOLERANCE_MEAN}); "
                "please report this with the model's hyper-parameters"
            )
    return output


def _fixed(model: TranslationGAN, conditions: dict[str, Any]) -> dict[str, Any]:
    """The conditions other than the network-selecting ones, checked (the model may bake them into the graph)."""
    checked = model.check_conditions(conditions)
    declared = model.inference_conditions()
    return {k: v for k, v in checked.items() if declared[k].kind != "choice"}


def _batch_of(example: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    """An ``n``-item input like the batch-1 ``example``: random normal codes, or the example repeated."""
    if example.is_floating_point():
        return torch.randn(n, *example.shape[1:], generator=g, dtype=example.dtype)
    return example[:1].expand(n, *example.shape[1:]).clone()


def _export_onnx(
    gen: nn.Module,
    example: tuple[torch.Tensor, ...],
    extra_names: list[str],
    output: Path,
    opset: int | None,
    dynamo: bool | None,
    image_input: bool = True,
) -> None:
    if importlib.util.find_spec("onnx") is None:
        raise ImportError("ONNX export needs the onnx package: pip install onnx onnxscript")
    has_dynamic = hasattr(torch.export, "Dim") and hasattr(torch.export.Dim, "DYNAMIC")
    if dynamo is None:
        dynamo = has_dynamic and importlib.util.find_spec("onnxscript") is not None
    image_names = ["image"] if image_input else []
    names = {
        "input_names": [*image_names, *extra_names],
        "output_names": ["translated" if image_input else "generated"],
    }
    if opset is not None:
        names["opset_version"] = opset  # type: ignore[assignment]
    if dynamo:
        if not has_dynamic or importlib.util.find_spec("onnxscript") is None:
            raise ImportError("the torch.export-based ONNX exporter needs torch >= 2.6 and onnxscript")
        dim = torch.export.Dim.DYNAMIC
        big = sum(p.numel() * p.element_size() for p in gen.parameters()) > _ONNX_SINGLE_FILE_LIMIT
        torch.onnx.export(
            gen,
            example,
            str(output),
            dynamo=True,
            # DYNAMIC lets torch.export derive the constraints (e.g. U-Net sizes divisible by 2**num_downs) itself.
            # Positional: generators name their arguments freely. Extra inputs: a dynamic batch only.
            dynamic_shapes=(*({0: dim, 2: dim, 3: dim} for _ in image_names), *({0: dim} for _ in extra_names)),
            external_data=big,  # one self-contained file unless the weights exceed protobuf's 2 GB
            verbose=False,
            **names,
        )
    else:
        axes = {0: "batch", 2: "height", 3: "width"}
        out_name = names["output_names"][0]
        dynamic = {**{n: axes for n in image_names}, out_name: axes, **{n: {0: "batch"} for n in extra_names}}
        with warnings.catch_warnings():
            # The legacy exporter warns that it is deprecated and that instance norm uses input statistics (it
            # should: the official InstanceNorm tracks no running statistics).
            warnings.simplefilter("ignore")
            torch.onnx.export(
                gen,
                example,
                str(output),
                dynamo=False,
                dynamic_axes=dynamic,
                **names,
            )


def _export_torchscript(gen: nn.Module, example: tuple[torch.Tensor, ...], output: Path) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        # Tracing warns about Python-level shape checks (e.g. the U-Net's divisibility test) becoming constants;
        # the convolutions themselves stay size-generic, which verify checks at a second size.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice; documented above
        traced = torch.jit.trace(gen, example, check_trace=False)
        torch.jit.save(traced, str(output))


def compare_with_pytorch(
    path: Path, gen: nn.Module, x: torch.Tensor | tuple[torch.Tensor, ...], format: str
) -> tuple[float, float] | None:
    """Largest and mean |exported(x) - gen(x)|, or None if the runtime for ``format`` is not installed.

    ``x`` is the image batch, or a tuple of it and the extra inputs in call order."""
    inputs = x if isinstance(x, tuple) else (x,)
    with torch.no_grad():
        expected = gen(*inputs).numpy()
    if format == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
            loaded = torch.jit.load(str(path), map_location="cpu")
        with torch.no_grad():
            got = loaded(*inputs).numpy()
    else:
        if importlib.util.find_spec("onnxruntime") is None:
            warnings.warn("onnxruntime is not installed: the exported ONNX model was not verified", stacklevel=3)
            return None
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = {i.name: t.numpy() for i, t in zip(session.get_inputs(), inputs)}
        got = session.run(None, feed)[0]
    if got.shape != expected.shape:
        return float("inf"), float("inf")
    diff = abs(got - expected)
    return float(diff.max()), float(diff.mean())


# ------------------------------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="translation-zoo export",
        description=(
            "Export a trained generator as ONNX or TorchScript: the deterministic eval-mode generator (dropout off, "
            "batch norm with running statistics), not pix2pix's paper test mode (dropout on, batch statistics). "
            "Input 'image' (N, C, H, W) in "
            "[-1, 1], output 'translated' in [-1, 1]; batch, height and width are dynamic (multiples of the "
            "architecture's factor: 2**num_downs for U-Nets, 4 for ResNet generators)."
        ),
    )
    parser.add_argument(
        "--ckpt", required=True, help="Lightning .ckpt, or official .pth weights / folder (with --model)"
    )
    parser.add_argument("--format", required=True, choices=FORMATS, help="onnx or torchscript")
    parser.add_argument("--output", help="file to write (default: beside the checkpoint, .onnx or .pt)")
    parser.add_argument("--direction", help="generator of a two-way model: a2b (default) or b2a")
    parser.add_argument(
        "--condition",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another inference condition of the model that fixes the exported graph, e.g. target=2 (repeatable)",
    )
    parser.add_argument("--size", type=int, help="example image side for tracing (default: training crop size or 256)")
    parser.add_argument("--model", help="model class for checkpoints without one, or pix2pix/cyclegan for .pth")
    parser.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's)")
    parser.add_argument("--legacy-onnx", action="store_true", help="use the TorchScript-based ONNX exporter")
    parser.add_argument("--no-verify", action="store_true", help="skip comparing the exported model with PyTorch")
    return parser


def parse_conditions(items: list[str]) -> dict[str, Any]:
    """``["target=2", "direction=b2a"]`` -> ``{"target": 2, "direction": "b2a"}`` (integers where they parse)."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--condition takes NAME=VALUE, got {item!r}")
        try:
            out[name] = int(value)
        except ValueError:
            out[name] = value
    return out


def default_output(ckpt: Path, format: str, direction: str | None) -> Path:
    """``last.ckpt`` -> ``last.onnx``; ``last.b2a.onnx`` for a CycleGAN direction; inside an official folder."""
    stem = "generator" if ckpt.is_dir() else ckpt.stem
    folder = ckpt if ckpt.is_dir() else ckpt.parent
    tag = f".{direction}" if direction is not None else ""
    return folder / f"{stem}{tag}{SUFFIXES[format]}"


def main(argv: list[str] | None = None) -> None:
    """``translation-zoo export ...``: parse arguments, export, verify, print what was written."""
    parser = build_parser()
    args = parser.parse_args(argv)
    ckpt = Path(args.ckpt).expanduser()
    if not ckpt.exists():
        parser.error(f"--ckpt: {ckpt} does not exist")
    try:
        model = load_model(ckpt, args.model)
        conditions = parse_conditions(args.condition)
        if args.direction is not None:
            conditions["direction"] = args.direction
        # The network-selecting conditions with their defaults (CycleGAN: direction a2b) name the default file.
        declared = model.inference_conditions()
        chosen = {k: c.default for k, c in declared.items() if c.kind == "choice" and c.default is not None}
        chosen.update(network_conditions(model, conditions))
        direction = ".".join(str(v) for v in chosen.values()) or None
        output = Path(args.output) if args.output else default_output(ckpt, args.format, direction)
        path = export_generator(
            model,
            output,
            args.format,
            size=args.size,
            opset=args.opset,
            dynamo=False if args.legacy_onnx else None,
            verify=not args.no_verify,
            **{**conditions, **chosen},
        )
    except (ValueError, FileNotFoundError, ImportError, DataError, OfficialWeightsError) as e:
        parser.error(str(e))
    verified = "" if args.no_verify else ", verified against PyTorch"
    which = f" ({direction})" if direction else ""
    print(f"wrote {path}: {type(model).__name__} generator{which}, {args.format}{verified}")


if __name__ == "__main__":
    main()
