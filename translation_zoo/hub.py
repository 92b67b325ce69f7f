"""Official checkpoints of junyanz/pytorch-CycleGAN-and-pix2pix, in and out.

The official code saves each network as a plain state dict, ``<epoch>_net_<name>.pth`` (``BaseModel.save_networks``):
``G`` and ``D`` for ``--model pix2pix``; ``G_A`` (A→B), ``G_B`` (B→A), ``D_A`` (judges domain B) and ``D_B`` (judges
domain A) for ``--model cycle_gan``; the released pretrained models hold one ``latest_net_G.pth``. Our networks are
built key for key like the official ones, so importing is a matter of recognising which options built a file:

==================  =====================================  ============================
official name       ours (:class:`~translation_zoo.models.Pix2Pix` / :class:`~translation_zoo.models.CycleGAN`)
==================  =====================================  ============================
``G`` / ``D``       ``Pix2Pix.gen`` / ``Pix2Pix.disc``
``G_A`` / ``G_B``   ``CycleGAN.gen_a2b`` / ``gen_b2a``
``D_A`` / ``D_B``   ``CycleGAN.disc_b`` / ``disc_a``
==================  =====================================  ============================

:func:`from_official` reads the architecture (``netG``, ``ngf``, channels, residual blocks / U-Net depth, ``norm``,
ResNet dropout, ``netD``, ``n_layers_D``, ``ndf``) from the keys and shapes, so the standard models load without
options; an option you pass that contradicts the weights is an error naming the option to set. Like the official
``load_networks`` it accepts files saved from a ``DataParallel`` wrapper (``module.`` prefixes) and files from
PyTorch < 0.4, whose InstanceNorm layers carry ``running_mean``/``running_var`` that the current code does not use
(the official ``__patch_instance_norm_state_dict`` deletes them; so do we).

:func:`to_official` / :func:`save_official` go the other way, for the official ``test.py`` or other tools.
"""

from __future__ import annotations

import inspect
import os
import pickle
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .models import CycleGAN, Pix2Pix, TranslationGAN

StateDict = dict[str, torch.Tensor]
WeightSource = str | os.PathLike | Mapping[str, torch.Tensor] | nn.Module

# Official network name -> our submodule, per official ``--model``.
OFFICIAL_NETWORKS: dict[str, dict[str, str]] = {
    "pix2pix": {"G": "gen", "D": "disc"},
    "cyclegan": {"G_A": "gen_a2b", "G_B": "gen_b2a", "D_A": "disc_b", "D_B": "disc_a"},
}
MODEL_CLASSES: dict[str, type[TranslationGAN]] = {"pix2pix": Pix2Pix, "cyclegan": CycleGAN}
_NORM_STATS = ("running_mean", "running_var", "num_batches_tracked")


class OfficialWeightsError(ValueError):
    """Official weights that cannot be loaded as given; the message names the file and the option to set."""


# ------------------------------------------------------------------------------------------------- reading
def official_model_name(model: str | type[TranslationGAN]) -> str:
    """Normalise ``"pix2pix"``, ``"cycle_gan"`` (the official ``--model``), ``"CycleGAN"`` or the class itself."""
    if isinstance(model, type):
        for name, cls in MODEL_CLASSES.items():
            if issubclass(model, cls):
                return name
        raise OfficialWeightsError(f"official checkpoints exist for {sorted(MODEL_CLASSES)}, not {model.__name__}")
    key = str(model).lower().replace("_", "").replace("-", "")
    if key not in MODEL_CLASSES:
        raise OfficialWeightsError(
            f"model must be 'pix2pix' or 'cyclegan' (the official --model that trained the weights), got {model!r}"
        )
    return key


def read_state_dict(source: WeightSource, name: str = "weights") -> StateDict:
    """Load one official network's weights as a plain ``{key: tensor}`` dict on the CPU.

    Files are read with ``torch.load(..., weights_only=True)``: an official ``.pth`` holds tensors only, and nothing
    else in a downloaded file gets to run. A ``module.`` prefix on every key (a ``DataParallel``/DDP wrapper saved
    as is) is removed.

    Args:
        source: a ``.pth`` path, a state dict, or a module (its ``state_dict()``).
        name: which network this is (``"G_A"`` ...), for error messages.

    Raises:
        FileNotFoundError: if the file does not exist.
        OfficialWeightsError: if the file is not a plain state dict (e.g. a Lightning checkpoint).
    """
    where = name
    if isinstance(source, nn.Module):
        obj: Any = source.state_dict()
    elif isinstance(source, Mapping):
        obj = source
    else:
        path = Path(source).expanduser()
        where = f"{name} ({path})"
        if not path.is_file():
            raise FileNotFoundError(f"{name}: weights file {path} does not exist")
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            raise OfficialWeightsError(
                f"{where} cannot be loaded with weights_only=True: it holds Python objects besides tensors, so it "
                f"is not an official state dict (the official save_networks stores tensors only). {e}"
            ) from e
    if not isinstance(obj, Mapping):
        raise OfficialWeightsError(f"{where}: expected a state dict (key -> tensor), got {type(obj).__name__}")
    if "state_dict" in obj and "pytorch-lightning_version" in obj:
        raise OfficialWeightsError(
            f"{where} is a Lightning checkpoint, not official weights: load it with translation_zoo.load_model"
        )
    not_tensors = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise OfficialWeightsError(f"{where}: expected a state dict of tensors, but {not_tensors[:3]} are not tensors")
    sd = {str(k): v for k, v in obj.items()}
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    return sd


# ---------------------------------------------------------------------------------- architecture inference
class _Evidence(dict):
    """option -> (value, why): what one network's keys say about the options that built it."""

    def add(self, option: str, value: Any, why: str) -> None:
        self[option] = (value, why)


def _layer_keys(sd: StateDict, prefix: str) -> set[str]:
    """Parameter/buffer names directly under ``prefix`` (``"model.2."`` -> {"weight", "running_mean", ...})."""
    return {k[len(prefix) :] for k in sd if k.startswith(prefix) and "." not in k[len(prefix) :]}


def _infer_norm(sd: StateDict, norm_prefix: str, conv_bias_key: str, ev: _Evidence) -> None:
    """Tell batch / instance / none apart from one norm position and the conv before it.

    The official networks give batch norm affine parameters and running statistics and drop the bias of the conv
    before it; instance norm has neither parameters nor (since PyTorch 0.4) statistics, and keeps the conv bias;
    ``none`` has neither the norm nor, because of the official ``use_bias`` rule, the bias.
    """
    keys = _layer_keys(sd, norm_prefix)
    if "weight" in keys and "running_mean" in keys:
        ev.add("norm", "batch", f"found {norm_prefix}running_mean: the weights have batch-norm running statistics")
    elif "running_mean" in keys:
        ev.add(
            "norm", "instance", f"found {norm_prefix}running_mean without affine weights: old InstanceNorm statistics"
        )
    elif keys:
        raise OfficialWeightsError(f"unrecognised normalisation layer {norm_prefix[:-1]} with {sorted(keys)}")
    elif conv_bias_key in sd:
        ev.add("norm", "instance", f"found {conv_bias_key} and no norm parameters: instance norm")
    else:
        ev.add("norm", "none", f"found neither norm parameters nor {conv_bias_key}: no normalisation")


def _shape(sd: StateDict, key: str) -> tuple[int, ...]:
    return tuple(sd[key].shape)


def _infer_resnet(sd: StateDict, ev: _Evidence) -> None:
    """Official ``ResnetGenerator``: stem ``model.1``, norms at 2/5/8, blocks ``model.10`` onwards."""
    blocks = sorted({int(m.group(1)) for k in sd if (m := re.match(r"model\.(\d+)\.conv_block\.", k))})
    if blocks != list(range(10, 10 + len(blocks))):
        raise OfficialWeightsError(f"ResNet generator weights with residual blocks at unexpected indices {blocks}")
    n = len(blocks)
    span = f"model.10.conv_block … model.{9 + n}.conv_block" if n else "no model.<i>.conv_block"
    ev.add("netG", f"resnet_{n}blocks", f"found {span}, {n} residual blocks")
    w = sd["model.1.weight"]
    ev.add("ngf", w.shape[0], f"model.1.weight has shape {_shape(sd, 'model.1.weight')}")
    ev.add("input_nc", w.shape[1], f"model.1.weight has shape {_shape(sd, 'model.1.weight')}")
    head = f"model.{17 + n}.weight"
    if head not in sd:
        raise OfficialWeightsError(f"ResNet generator weights without their output conv {head}")
    ev.add("output_nc", sd[head].shape[0], f"{head} has shape {_shape(sd, head)}")
    if n:
        block = sorted(_conv_indices(sd, "model.10.conv_block."))
        if block[:1] != [1]:
            raise OfficialWeightsError(
                f"residual blocks with convs at {block}: only padding_type='reflect' (the official one) is supported"
            )
        # Dropout sits between the two convs and shifts the second one from index 5 to 6.
        ev.add("use_dropout", block[-1] == 6, f"second conv of each residual block at conv_block.{block[-1]}")
    _infer_norm(sd, "model.2.", "model.1.bias", ev)


def _conv_indices(sd: StateDict, prefix: str) -> set[int]:
    """Indices ``i`` of the conv layers ``<prefix><i>`` (4-D weights; batch-norm weights are 1-D)."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.weight$")
    return {int(m.group(1)) for k, v in sd.items() if (m := pattern.match(k)) and v.dim() == 4}


def _infer_unet(sd: StateDict, ev: _Evidence) -> None:
    """Official ``UnetGenerator``: nested ``model.model.1.model.3.model.3...`` blocks, one per down-sampling."""
    depth, prefix = 1, "model.model.1."
    while any(k.startswith(prefix + "model.3.model.") for k in sd):
        depth, prefix = depth + 1, prefix + "model.3."
    num_downs = depth + 1  # the outermost block plus the nested ones
    named = {7: "unet_128", 8: "unet_256"}
    ev.add("netG", named.get(num_downs, f"unet_{num_downs}d"), f"found {num_downs} nested U-Net blocks ({prefix}…)")
    w = sd["model.model.0.weight"]
    ev.add("ngf", w.shape[0], f"model.model.0.weight has shape {_shape(sd, 'model.model.0.weight')}")
    ev.add("input_nc", w.shape[1], f"model.model.0.weight has shape {_shape(sd, 'model.model.0.weight')}")
    # ConvTranspose2d weights are (in, out, kH, kW).
    ev.add(
        "output_nc",
        sd["model.model.3.weight"].shape[1],
        f"model.model.3.weight has shape {_shape(sd, 'model.model.3.weight')}",
    )
    _infer_norm(sd, "model.model.1.model.2.", "model.model.0.bias", ev)


def _infer_generator(sd: StateDict) -> _Evidence:
    ev = _Evidence()
    if sd.get("model.1.weight") is not None and sd["model.1.weight"].dim() == 4 and sd["model.1.weight"].shape[-1] == 7:
        _infer_resnet(sd, ev)
    elif "model.model.0.weight" in sd and "model.model.3.weight" in sd:
        _infer_unet(sd, ev)
    else:
        raise OfficialWeightsError(
            "unrecognised generator weights: expected the official ResnetGenerator (model.1.weight, a 7x7 conv) "
            f"or UnetGenerator (model.model.0.weight); found {sorted(sd)[:6]}"
        )
    return ev


def _infer_discriminator(sd: StateDict) -> tuple[_Evidence, int]:
    """Returns the evidence and the discriminator's input channels."""
    ev = _Evidence()
    if "net.0.weight" in sd:  # PixelDiscriminator: 1x1 convs net.0, net.2, norm net.3, net.5
        ev.add("netD", "pixel", "found net.0.weight, the 1x1 PixelGAN")
        ev.add("ndf", sd["net.0.weight"].shape[0], f"net.0.weight has shape {_shape(sd, 'net.0.weight')}")
        _infer_norm(sd, "net.3.", "net.2.bias", ev)
        return ev, sd["net.0.weight"].shape[1]
    if "model.0.weight" in sd:  # NLayerDiscriminator: conv i at 0, 2, 5, 8, ..., last at 3 * n_layers + 2
        last = max(_conv_indices(sd, "model."))
        n_layers, rest = divmod(last - 2, 3)
        if rest or n_layers < 1:
            raise OfficialWeightsError(f"PatchGAN discriminator weights with last conv at model.{last}: not official")
        why = f"last conv at model.{last}: {n_layers} stride-2 layers"
        ev.add("netD", "basic" if n_layers == 3 else "n_layers", why)
        ev.add("n_layers_D", n_layers, why)
        ev.add("ndf", sd["model.0.weight"].shape[0], f"model.0.weight has shape {_shape(sd, 'model.0.weight')}")
        _infer_norm(sd, "model.3.", "model.2.bias", ev)
        return ev, sd["model.0.weight"].shape[1]
    raise OfficialWeightsError(
        "unrecognised discriminator weights: expected the official NLayerDiscriminator (model.0.weight) or "
        f"PixelDiscriminator (net.0.weight); found {sorted(sd)[:6]}"
    )


def _same_netG(a: str, b: str) -> bool:
    """``unet_256`` and ``unet_8d`` name the same network."""

    def canon(name: str) -> str:
        return {"unet_128": "unet_7d", "unet_256": "unet_8d"}.get(name, name)

    return canon(a) == canon(b)


def _same(option: str, a: Any, b: Any) -> bool:
    if option == "netG":
        return _same_netG(str(a), str(b))
    if option == "norm":  # syncbatch saves exactly batch norm's keys
        return {a, b} <= {"batch", "syncbatch"} or a == b
    if option == "netD":  # n_layers with n_layers_D=3 is "basic"; n_layers_D is checked on its own
        return {a, b} <= {"basic", "n_layers"} or a == b
    return a == b


# --------------------------------------------------------------------------------------------- building
def from_official(
    model: str | type[TranslationGAN],
    *,
    G: WeightSource | None = None,
    D: WeightSource | None = None,
    G_A: WeightSource | None = None,
    G_B: WeightSource | None = None,
    D_A: WeightSource | None = None,
    D_B: WeightSource | None = None,
    **hparams: Any,
) -> TranslationGAN:
    """Build our LightningModule with weights trained by the official pix2pix/CycleGAN code.

    Examples:
        >>> m = from_official("pix2pix", G="checkpoints/facades_label2photo_pretrained/latest_net_G.pth")
        >>> m = from_official("cyclegan", G_A="latest_net_G_A.pth", G_B="latest_net_G_B.pth")

    The architecture options (``netG``, ``ngf``, ``input_nc``, ``output_nc``, ``norm``, ``netD``, ``n_layers_D``,
    ``ndf``, and ``use_dropout`` for ResNet generators) are read from the weights; passing one that contradicts
    them raises an error saying which value to pass. ``use_dropout`` of a U-Net cannot be seen in its keys: it
    keeps the model's default (pix2pix: on, as trained by the official code) unless given.

    The model is returned in eval mode. ``Pix2Pix`` then runs the paper's test mode (dropout on, batch statistics),
    like the official ``test.py`` without ``--eval``; pass ``eval_mode=True`` for the deterministic generator.

    Args:
        model: ``"pix2pix"`` or ``"cyclegan"`` (official ``--model pix2pix`` / ``cycle_gan``), or the class.
        G: pix2pix generator, e.g. ``latest_net_G.pth`` (a path, a state dict or a module).
        D: pix2pix discriminator (``latest_net_D.pth``); optional, released models have none.
        G_A: CycleGAN generator A→B (``gen_a2b``). A released one-direction model's ``latest_net_G.pth`` goes here.
        G_B: CycleGAN generator B→A (``gen_b2a``).
        D_A: CycleGAN discriminator of domain B (``disc_b``); optional.
        D_B: CycleGAN discriminator of domain A (``disc_a``); optional.
        **hparams: further constructor arguments of the model (e.g. ``eval_mode=True``, ``lambda_l1``).

    Returns:
        The model, on the CPU, in eval mode. Networks without weights keep their random initialisation (a
        warning names missing generators).

    Raises:
        OfficialWeightsError: weights that do not fit, with the option to set; files that are not state dicts.
        FileNotFoundError: a missing file.
    """
    name = official_model_name(model)
    given = {"G": G, "D": D, "G_A": G_A, "G_B": G_B, "D_A": D_A, "D_B": D_B}
    wrong = [k for k, v in given.items() if v is not None and k not in OFFICIAL_NETWORKS[name]]
    if wrong:
        raise OfficialWeightsError(
            f"{name} has the official networks {list(OFFICIAL_NETWORKS[name])}; {wrong} belong to another model"
        )
    sources = {k: v for k, v in given.items() if v is not None}
    if not sources:
        raise OfficialWeightsError(f"give at least one of {list(OFFICIAL_NETWORKS[name])} to from_official({name!r})")
    state = {k: read_state_dict(v, k) for k, v in sources.items()}

    options = _infer_options(name, state, hparams)
    if name == "cyclegan" and "lambda_identity" not in hparams and options["input_nc"] != options["output_nc"]:
        # The identity loss needs equal channels; these weights cannot have been trained with it.
        options["lambda_identity"] = 0.0
    net = MODEL_CLASSES[name](**{**options, **hparams})

    for official, attr in OFFICIAL_NETWORKS[name].items():
        if official in state:
            _load_network(getattr(net, attr), state[official], f"{official} ({attr})", options)
        elif official.startswith("G"):
            warnings.warn(
                f"no weights for {official}: {attr} keeps its random initialisation", UserWarning, stacklevel=2
            )
    return net.eval()


def _infer_options(name: str, state: dict[str, StateDict], hparams: dict[str, Any]) -> dict[str, Any]:
    """Merge what every network's keys say, check it against ``hparams``; return the inferred options."""
    found: dict[str, tuple[Any, str]] = {}  # option -> (value, "G_A: why")

    def merge(source: str, ev: _Evidence, rename: dict[str, str] | None = None) -> None:
        for option, (value, why) in ev.items():
            option = (rename or {}).get(option, option)
            if option in found and not _same(option, found[option][0], value):
                raise OfficialWeightsError(
                    f"the networks disagree on {option}: {found[option][1]} says {option}={found[option][0]!r}, "
                    f"{source}: {why} says {option}={value!r}; the official code uses one {option} for all of them"
                )
            found.setdefault(option, (value, f"{source}: {why}"))

    gens = ("G",) if name == "pix2pix" else ("G_A", "G_B")
    for g in gens:
        if g in state:
            # G_B maps B -> A: its input is the model's output_nc and vice versa.
            swap = {"input_nc": "output_nc", "output_nc": "input_nc"} if g == "G_B" else None
            merge(g, _infer_generator(state[g]), swap)
    disc_inputs: dict[str, tuple[int, str]] = {}
    for d in ("D",) if name == "pix2pix" else ("D_A", "D_B"):
        if d in state:
            ev, in_nc = _infer_discriminator(state[d])
            merge(d, ev)
            disc_inputs[d] = (in_nc, f"{d}: its first conv takes {in_nc} channels")

    for option, (value, why) in found.items():
        if option in hparams and not _same(option, value, hparams[option]):
            raise OfficialWeightsError(
                f"{why}; the weights look like {option}={value!r}, you passed {option}={hparams[option]!r}: "
                f"pass {option}={value!r} or leave it out (it is read from the weights)"
            )
    options = {k: v for k, (v, _) in found.items()}

    # Discriminator input channels: the conditional pix2pix D sees A and B stacked; CycleGAN's D_A sees B, D_B sees A.
    defaults = MODEL_CLASSES[name]
    channels = {c: hparams.get(c, options.get(c, _default(defaults, c))) for c in ("input_nc", "output_nc")}
    expected = (
        {"D": channels["input_nc"] + channels["output_nc"]}
        if name == "pix2pix"
        else {"D_A": channels["output_nc"], "D_B": channels["input_nc"]}
    )
    for d, (in_nc, why) in disc_inputs.items():
        if in_nc != expected[d]:
            what = {
                "D": "input_nc + output_nc (it judges A and B stacked)",
                "D_A": "output_nc (it judges domain B)",
                "D_B": "input_nc (it judges domain A)",
            }[d]
            raise OfficialWeightsError(
                f"{why}, but {what} = {expected[d]} with input_nc={channels['input_nc']}, "
                f"output_nc={channels['output_nc']}: set input_nc/output_nc to match the weights"
            )
    return options


def _default(cls: type, option: str) -> Any:
    return inspect.signature(cls.__init__).parameters[option].default


def _load_network(net: nn.Module, sd: StateDict, where: str, options: dict[str, Any]) -> None:
    """``net.load_state_dict(sd)`` after the official fix-ups, with an error that says what does not fit."""
    sd = dict(sd)
    modules = dict(net.named_modules())
    own = net.state_dict()
    for key in list(sd):
        module_name, _, leaf = key.rpartition(".")
        module = modules.get(module_name)
        # Weights from PyTorch < 0.4 carry InstanceNorm statistics that the current official code (and ours)
        # neither tracks nor uses; the official load_networks deletes them, as here.
        if isinstance(module, nn.InstanceNorm2d) and leaf in _NORM_STATS and key not in own:
            del sd[key]
    for key, value in own.items():
        # Batch norm saved by PyTorch < 0.4.1 has no step counter; it only matters for momentum=None.
        if key.endswith(".num_batches_tracked") and key not in sd:
            sd[key] = torch.zeros_like(value)
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [
        f"{k} {tuple(sd[k].shape)} vs {tuple(own[k].shape)}" for k in own if k in sd and sd[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        built = ", ".join(f"{k}={v!r}" for k, v in options.items())
        parts = [
            f"missing {missing[:5]}" if missing else "",
            f"unexpected {unexpected[:5]}" if unexpected else "",
            f"shape mismatch (file vs model) {shapes[:3]}" if shapes else "",
        ]
        raise OfficialWeightsError(
            f"the weights of {where} do not fit the network built with {built or 'the defaults'}: "
            + "; ".join(p for p in parts if p)
        )
    net.load_state_dict(sd, strict=True)


# ------------------------------------------------------------------------------------------- exporting
def to_official(model: TranslationGAN) -> dict[str, StateDict]:
    """The model's networks as official state dicts, keyed by official name (``{"G", "D"}`` or
    ``{"G_A", "G_B", "D_A", "D_B"}``); CPU tensors, loadable by the official ``load_networks``."""
    name = official_model_name(type(model))
    return {
        official: {k: v.detach().cpu().clone() for k, v in getattr(model, attr).state_dict().items()}
        for official, attr in OFFICIAL_NETWORKS[name].items()
    }


def save_official(model: TranslationGAN, directory: str | os.PathLike, epoch: str | int = "latest") -> dict[str, Path]:
    """Write ``<epoch>_net_<name>.pth`` for every network, as the official ``save_networks`` does.

    The official ``test.py --model test`` loads ``latest_net_G<model_suffix>.pth``: for one CycleGAN direction
    pass ``--model_suffix _A`` (or rename ``latest_net_G_A.pth`` to ``latest_net_G.pth``).

    Returns:
        Official name -> written path.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for official, sd in to_official(model).items():
        path = directory / f"{epoch}_net_{official}.pth"
        torch.save(sd, path)
        written[official] = path
    return written


def official_files(directory: str | os.PathLike, model: str, epoch: str | int = "latest") -> dict[str, Path]:
    """The official weight files of ``model`` in a checkpoints folder, by official name.

    A one-direction CycleGAN release (``latest_net_G.pth``, official ``--model test``) counts as ``G_A``.

    Raises:
        FileNotFoundError: if the folder holds none of them.
    """
    directory = Path(directory)
    name = official_model_name(model)
    found = {n: directory / f"{epoch}_net_{n}.pth" for n in OFFICIAL_NETWORKS[name]}
    found = {n: p for n, p in found.items() if p.is_file()}
    single = directory / f"{epoch}_net_G.pth"
    if name == "cyclegan" and "G_A" not in found and single.is_file():
        found["G_A"] = single
    if not found:
        expected = ", ".join(f"{epoch}_net_{n}.pth" for n in OFFICIAL_NETWORKS[name])
        raise FileNotFoundError(f"no official {name} weights in {directory}: expected {expected}")
    return found


__all__ = [
    "OFFICIAL_NETWORKS",
    "OfficialWeightsError",
    "from_official",
    "official_files",
    "official_model_name",
    "read_state_dict",
    "save_official",
    "to_official",
]
