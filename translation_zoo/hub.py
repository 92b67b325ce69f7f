"""Official checkpoints in and out: the shared machinery, dispatched by model name.

A paper file declares what its authors' weights look like, next to the model (see
:class:`~translation_zoo.models.TranslationGAN`): ``official_names`` (the names accepted here, e.g. the official
``--model``), ``official_networks`` (official network name -> our submodule), ``official_file_pattern``,
``official_aliases``, and the classmethods ``official_options`` (architecture read-back from keys and shapes),
``official_to_ours`` / ``ours_to_official`` (key mapping). This module only

* reads files safely (``torch.load(..., weights_only=True)``: nothing in a downloaded file gets to run) and removes
  ``module.`` prefixes of ``DataParallel``/DDP saves (:func:`read_state_dict`);
* merges what each network's keys say about the options and checks it against the options given
  (:class:`Evidence`, :func:`merge_evidence`), so that a mismatch names the option to set;
* applies the official PyTorch fix-ups (InstanceNorm statistics of PyTorch < 0.4, batch norm without a step
  counter) and loads each network strictly with a report of what does not fit;
* writes our networks back in the official layout (:func:`to_official`, :func:`save_official`).

    >>> m = from_official("pix2pix", G="checkpoints/facades_label2photo_pretrained/latest_net_G.pth")
    >>> m = from_official("cyclegan", G_A="latest_net_G_A.pth", G_B="latest_net_G_B.pth")
"""

from __future__ import annotations

import inspect
import os
import pickle
import re
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from .models import TranslationGAN

StateDict = dict[str, torch.Tensor]
WeightSource = str | os.PathLike | Mapping[str, torch.Tensor] | nn.Module
_NORM_STATS = ("running_mean", "running_var", "num_batches_tracked")


class OfficialWeightsError(ValueError):
    """Official weights that cannot be loaded as given; the message names the file and the option to set."""


def official_class(model: str | type[TranslationGAN]) -> type[TranslationGAN]:
    """The zoo class importing the official weights named ``model`` (see :mod:`translation_zoo.registry`)."""
    from .registry import official_class as find  # here: the registry imports every paper file

    return find(model)


def official_classes_names() -> list[str]:
    """The canonical official names of every model with an official weights import, e.g. ``["cyclegan", ...]``."""
    from .registry import official_classes

    return sorted({c.official_names[0] for c in official_classes().values()})


def official_model_name(model: str | type[TranslationGAN]) -> str:
    """The canonical official name of ``model`` (``"cycle_gan"``, ``"CycleGAN"`` or the class -> ``"cyclegan"``)."""
    return official_class(model).official_names[0]


# ------------------------------------------------------------------------------------------------- reading
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
                f"is not a state dict. A pickled whole module (Fader Networks' released files) loads with "
                f"translation_zoo.models.fader.load_official(path, trust_pickled_code=True), if you trust the file. {e}"
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


# ------------------------------------------------------------------------------------ architecture evidence
class Evidence(dict):
    """option -> (value, why): what one network's keys say about the options that built it."""

    def add(self, option: str, value: Any, why: str) -> None:
        self[option] = (value, why)


def merge_evidence(
    evidence: Mapping[str, Evidence],
    hparams: Mapping[str, Any],
    same: Callable[[str, Any, Any], bool] = lambda option, a, b: a == b,
    rename: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """Merge what every network's keys say and check it against the options the caller gave.

    Args:
        evidence: official network name -> its :class:`Evidence`.
        hparams: the caller's options.
        same: whether two values of an option name the same architecture (e.g. ``unet_256`` and ``unet_8d``).
        rename: per network, options to rename (a B→A generator's ``input_nc`` is the model's ``output_nc``).

    Returns:
        option -> value, as read from the weights.

    Raises:
        OfficialWeightsError: two networks disagree, or a given option contradicts the weights (naming the value
            to pass).
    """
    found: dict[str, tuple[Any, str]] = {}  # option -> (value, "G_A: why")
    for source, ev in evidence.items():
        for option, (value, why) in ev.items():
            option = (rename or {}).get(source, {}).get(option, option)
            if option in found and not same(option, found[option][0], value):
                raise OfficialWeightsError(
                    f"the networks disagree on {option}: {found[option][1]} says {option}={found[option][0]!r}, "
                    f"{source}: {why} says {option}={value!r}; the official code uses one {option} for all of them"
                )
            found.setdefault(option, (value, f"{source}: {why}"))
    for option, (value, why) in found.items():
        if option in hparams and not same(option, value, hparams[option]):
            raise OfficialWeightsError(
                f"{why}; the weights look like {option}={value!r}, you passed {option}={hparams[option]!r}: "
                f"pass {option}={value!r} or leave it out (it is read from the weights)"
            )
    return {k: v for k, (v, _) in found.items()}


def default_option(cls: type, option: str) -> Any:
    """The constructor default of ``option`` (e.g. a model's ``input_nc``)."""
    return inspect.signature(cls.__init__).parameters[option].default


# --------------------------------------------------------------------------------------------- building
def _all_official_network_names() -> set[str]:
    from .registry import zoo_classes

    return {n for c in zoo_classes() for n in (*c.official_networks, *c.official_aliases)}


def read_checkpoint(source: str | os.PathLike | Mapping[str, Any]) -> dict[str, StateDict]:
    """One official file holding several networks, ``{official name: state dict}`` (U-GAT-IT's
    ``<dataset>_params_<iteration>.pt``), read once with ``weights_only=True``.

    Raises:
        FileNotFoundError: if the file does not exist.
        OfficialWeightsError: if it is not a dict of state dicts.
    """
    where = "the given checkpoint"
    if isinstance(source, Mapping):
        obj: Any = source
    else:
        path = Path(source).expanduser()
        where = str(path)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            raise OfficialWeightsError(f"{where} cannot be loaded with weights_only=True: {e}") from e
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, Mapping) for v in obj.values()):
        raise OfficialWeightsError(
            f"{where}: expected one file of several networks, {{official name: state dict}}; for one network's "
            "weights pass it by its official name instead"
        )
    return {str(k): v for k, v in obj.items()}


def from_official(
    model: str | type[TranslationGAN], checkpoint: str | os.PathLike | Mapping[str, Any] | None = None, /, **kwargs: Any
) -> TranslationGAN:
    """Build our LightningModule with weights trained by a paper's official code.

    Keyword arguments named like the model's official networks are weights (a ``.pth`` path, a state dict or a
    module): for pix2pix ``G`` and ``D``; for CycleGAN ``G_A`` (A→B; a one-direction release's ``latest_net_G.pth``
    may be given as ``G``), ``G_B``, ``D_A`` (judges domain B), ``D_B`` (judges domain A); see each paper's
    ``official_networks``. Every other keyword is a constructor option of the model.

    The architecture options are read from the weights by the paper's ``official_options``; passing one that
    contradicts them raises an error saying which value to pass. For pix2pix/CycleGAN: ``netG``, ``ngf``,
    ``input_nc``, ``output_nc``, ``norm``, ``netD``, ``n_layers_D``, ``ndf``, and ``use_dropout`` for ResNet
    generators; ``use_dropout`` of a U-Net cannot be seen in its keys and keeps the model's default (pix2pix: on,
    as trained by the official code) unless given. ``Pix2Pix`` runs the paper's test mode (dropout on, batch
    statistics) like the official ``test.py`` without ``--eval``; pass ``eval_mode=True`` for the deterministic
    generator.

    Where the official code saves every network in one file (U-GAT-IT: ``<dataset>_params_<iteration>.pt``, a dict
    ``{"genA2B": ..., "disGA": ...}``), pass that file as ``checkpoint``: ``from_official("ugatit", path)``.

    Args:
        model: an official name (``"pix2pix"``, ``"cycle_gan"``), a zoo class name, or the class.
        checkpoint: one official file (or its loaded dict) holding several networks by official name; networks
            also given by keyword take the keyword's weights.
        **kwargs: weights by official network name, and constructor options.

    Returns:
        The model, on the CPU, in eval mode. Networks without weights keep their random initialisation (a
        warning names missing generators).

    Raises:
        OfficialWeightsError: weights that do not fit, with the option to set; files that are not state dicts; a
            model without official weights; networks of another model.
        FileNotFoundError: a missing file.
    """
    cls = official_class(model)
    name = cls.official_names[0]
    if checkpoint is not None:
        bundle = read_checkpoint(checkpoint)
        unknown = sorted(set(bundle) - {*cls.official_networks, *cls.official_aliases})
        if unknown:
            raise OfficialWeightsError(
                f"the checkpoint holds {unknown}, which are not networks of {name} ({list(cls.official_networks)})"
            )
        kwargs = {**bundle, **kwargs}
    networks = {**{a: t for a, t in cls.official_aliases.items()}, **{n: n for n in cls.official_networks}}
    sources = {networks[k]: v for k, v in kwargs.items() if k in networks and v is not None}
    hparams = {k: v for k, v in kwargs.items() if k not in networks}
    if isinstance(model, str):  # e.g. "fastcut": CUT's weights with mode="fastcut"
        key = model.lower().replace("_", "").replace("-", "")
        hparams = {**cls.official_presets.get(key, {}), **hparams}
    wrong = sorted(set(hparams) & _all_official_network_names())
    if wrong:
        raise OfficialWeightsError(
            f"{name} has the official networks {list(cls.official_networks)}; {wrong} belong to another model"
        )
    if not sources:
        raise OfficialWeightsError(f"give at least one of {list(cls.official_networks)} to from_official({name!r})")
    state = {k: cls.official_to_ours(k, read_state_dict(v, k)) for k, v in sources.items()}
    options = cls.official_options(state, hparams)
    net = cls(**{**options, **hparams})
    for official, attr in cls.official_networks.items():
        if official in state:
            _load_network(getattr(net, attr), state[official], f"{official} ({attr})", options)
        elif attr.startswith("gen"):
            warnings.warn(
                f"no weights for {official}: {attr} keeps its random initialisation", UserWarning, stacklevel=2
            )
    return net.eval()


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
    """The model's networks as official state dicts, keyed by official name (pix2pix ``{"G", "D"}``, CycleGAN
    ``{"G_A", "G_B", "D_A", "D_B"}``); CPU tensors, loadable by the official code."""
    cls = official_class(type(model))
    return {
        official: cls.ours_to_official(
            official, {k: v.detach().cpu().clone() for k, v in getattr(model, attr).state_dict().items()}
        )
        for official, attr in cls.official_networks.items()
        if getattr(model, attr, None) is not None  # optional networks (SPADE's / pix2pixHD's encoder when unused)
    }


def save_official(model: TranslationGAN, directory: str | os.PathLike, epoch: str | int = "latest") -> dict[str, Path]:
    """Write every network in the paper's official file layout (pix2pix/CycleGAN: ``<epoch>_net_<name>.pth``, as
    the official ``save_networks`` does).

    The official ``test.py --model test`` loads ``latest_net_G<model_suffix>.pth``: for one CycleGAN direction
    pass ``--model_suffix _A`` (or rename ``latest_net_G_A.pth`` to ``latest_net_G.pth``).

    Returns:
        Official name -> written path.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    pattern = official_class(type(model)).official_file_pattern
    written = {}
    for official, sd in to_official(model).items():
        path = directory / pattern.format(epoch=epoch, name=official)
        torch.save(sd, path)
        written[official] = path
    return written


def official_files(
    directory: str | os.PathLike, model: str | type[TranslationGAN], epoch: str | int = "latest"
) -> dict[str, Path]:
    """The official weight files of ``model`` in a checkpoints folder, by official network name.

    A file named after one of the model's ``official_aliases`` counts for its network when that network's own file
    is absent (a one-direction CycleGAN release, ``latest_net_G.pth``, is ``G_A``).

    Raises:
        FileNotFoundError: if the folder holds none of them.
    """
    directory = Path(directory)
    cls = official_class(model)
    pattern = cls.official_file_pattern
    found = {n: directory / pattern.format(epoch=epoch, name=n) for n in cls.official_networks}
    found = {n: p for n, p in found.items() if p.is_file()}
    for alias, target in cls.official_aliases.items():
        single = directory / pattern.format(epoch=epoch, name=alias)
        if target not in found and single.is_file():
            found[target] = single
    if not found:
        expected = ", ".join(pattern.format(epoch=epoch, name=n) for n in cls.official_networks)
        raise FileNotFoundError(f"no official {cls.official_names[0]} weights in {directory}: expected {expected}")
    return found


def network_of_file(path: Path, model: str | type[TranslationGAN]) -> str:
    """Which official network a weights file holds, from its name (``latest_net_G_B.pth`` -> ``G_B``); a file not
    named in the official pattern is the model's first official network (its generator)."""
    cls = official_class(model)
    names = {**{a: t for a, t in cls.official_aliases.items()}, **{n: n for n in cls.official_networks}}
    head, _, tail = cls.official_file_pattern.partition("{name}")
    regex = re.escape(head).replace(re.escape("{epoch}"), r"[^/]*") + "(?P<name>.+)" + re.escape(tail) + "$"
    m = re.match(regex, path.name)
    if m and m.group("name") in names:
        return names[m.group("name")]
    return next(iter(cls.official_networks))


__all__ = [
    "Evidence",
    "OfficialWeightsError",
    "default_option",
    "from_official",
    "merge_evidence",
    "network_of_file",
    "official_class",
    "official_classes_names",
    "official_files",
    "official_model_name",
    "read_checkpoint",
    "read_state_dict",
    "save_official",
    "to_official",
]
