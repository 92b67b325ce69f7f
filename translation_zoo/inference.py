"""Inference: load a trained model and translate images.

    from translation_zoo import load_model
    model = load_model("runs/quickstart_pix2pix/version_0/checkpoints/last.ckpt")
    fake = model.translate("edges.png")                        # one PIL image, the input's size
    fakes = model.translate("my_photos/")                      # a list, in sorted file order
    horse2zebra = load_model("checkpoints/horse2zebra_pretrained/latest_net_G.pth", model="cyclegan")
    zebra = horse2zebra.translate(Image.open("horse.jpg"), direction="a2b")

:func:`load_model` reads Lightning checkpoints (``.ckpt``) and official pix2pix/CycleGAN weights (``.pth`` files
or the official ``checkpoints/<name>/`` folder, see :mod:`translation_zoo.hub`). :func:`translate` (also the
``translate`` method of every model) handles the pixels: channels, a size the generator accepts, [-1, 1] scaling,
eval mode and ``no_grad``, and back to PIL at the input's size.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pickle
import pkgutil
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from .data.base import DataError, list_images, load_image
from .data.transforms import multiple_of_size
from .hub import OFFICIAL_NETWORKS, from_official, official_files, official_model_name
from .models import TranslationGAN
from .nn import ResnetGenerator, UnetGenerator

ImageInput = Image.Image | str | os.PathLike
DIRECTIONS = ("a2b", "b2a")
# Official preprocessing modes whose evaluation transform feeds the generator crop_size x crop_size images.
_CROPPING = ("resize_and_crop", "crop", "scale_width_and_crop")


# ---------------------------------------------------------------------------------------------- loading
def load_model(
    source: str | os.PathLike | Mapping[str, Any],
    model: str | type[TranslationGAN] | None = None,
    *,
    device: str | torch.device = "cpu",
    epoch: str | int = "latest",
    **hparams: Any,
) -> TranslationGAN:
    """Load a model for inference from a Lightning checkpoint or official pix2pix/CycleGAN weights.

    Everything is read with ``torch.load(..., weights_only=True)``.

    * Lightning checkpoint (``.ckpt``, or its loaded dict): the class comes from ``model`` or from the
      ``_class_path`` that ``lightning fit`` stores in the checkpoint's hyper-parameters; it is built with the
      saved hyper-parameters (``hparams`` override them, e.g. ``eval_mode=True``) and loaded strictly. The
      training ``crop_size`` is read from the data hyper-parameters, when saved, into ``model.inference_size``.
    * Official weights need ``model="pix2pix"`` or ``"cyclegan"``: a ``<epoch>_net_<name>.pth`` file (a file not
      named like that is taken as the generator, ``G`` / ``G_A``), a dict ``{"G_A": ..., "G_B": ...}``, or the
      official checkpoints folder holding ``<epoch>_net_*.pth``. See :func:`translation_zoo.hub.from_official`.

    Args:
        source: checkpoint or weights file, official checkpoints folder, or an already loaded dict.
        model: the model class or its name (``"pix2pix"``, ``"CycleGAN"``, ``"translation_zoo.models.Pix2Pix"``).
        device: where the returned model lives.
        epoch: which official files to pick in a folder (``latest``, ``200`` ...).
        **hparams: constructor arguments overriding the saved ones.

    Returns:
        The model in eval mode on ``device``.

    Raises:
        FileNotFoundError: missing file or folder.
        ValueError: the class cannot be determined or does not match the checkpoint; unloadable weights.
    """
    if isinstance(source, Mapping):
        obj: Any = source
        path = None
    else:
        path = Path(source).expanduser()
        if path.is_dir():
            if model is None:
                raise ValueError(f"{path} is a folder: pass model='pix2pix' or model='cyclegan' for official weights")
            files = official_files(path, official_model_name(model), epoch)
            return _to(from_official(model, **files, **hparams), device)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            raise ValueError(
                f"{path} cannot be loaded with weights_only=True (it holds Python objects that are not plain data); "
                f"only checkpoints and weights made of tensors and plain values are accepted. {e}"
            ) from e
    if isinstance(obj, Mapping) and "state_dict" in obj and "pytorch-lightning_version" in obj:
        return _to(_from_lightning(obj, model, path, hparams), device)
    return _to(_from_official_object(obj, model, path, hparams), device)


def _to(model: TranslationGAN, device: str | torch.device) -> TranslationGAN:
    return model.to(device).eval()


def _from_lightning(
    ckpt: Mapping[str, Any], model: str | type[TranslationGAN] | None, path: Path | None, hparams: dict[str, Any]
) -> TranslationGAN:
    where = str(path) if path is not None else "the checkpoint"
    saved = dict(ckpt.get("hyper_parameters") or {})
    class_path = saved.get("_class_path")
    init = {k: v for k, v in saved.items() if not k.startswith("_")}
    if model is not None:
        cls = model_class(model)
        if class_path is not None and _import_class(class_path) is not cls:
            raise ValueError(f"{where} was trained as {class_path}, but model={model!r} was passed; leave model out")
    elif class_path is not None:
        cls = _import_class(class_path)
    else:
        raise ValueError(
            f"cannot tell the model class of {where}: its hyper-parameters have no _class_path (it was not trained "
            "with `lightning fit`); pass model=, e.g. load_model(path, model='pix2pix')"
        )
    net = cls(**{**init, **hparams})
    net.load_state_dict(ckpt["state_dict"], strict=True)
    net.on_load_checkpoint(dict(ckpt))
    data = ckpt.get("datamodule_hyper_parameters") or {}
    crop = data.get("crop_size")
    if isinstance(crop, int) and data.get("preprocess", "resize_and_crop") in _CROPPING:
        net.inference_size = (crop, crop)
    return net


def _from_official_object(
    obj: Any, model: str | type[TranslationGAN] | None, path: Path | None, hparams: dict[str, Any]
) -> TranslationGAN:
    where = str(path) if path is not None else "the given dict"
    if model is None:
        raise ValueError(
            f"{where} is not a Lightning checkpoint; for official pix2pix/CycleGAN weights pass model='pix2pix' or "
            "model='cyclegan' (the official --model that trained them)"
        )
    name = official_model_name(model)
    networks = OFFICIAL_NETWORKS[name]
    if isinstance(obj, Mapping) and obj and set(obj) <= set(networks):  # {"G_A": ..., "G_B": ...}
        return from_official(name, **obj, **hparams)
    official = "G" if name == "pix2pix" else "G_A"
    if path is not None and (m := re.search(r"_net_(G_A|G_B|D_A|D_B|G|D)\.pth$", path.name)):
        official = {"G": official}.get(m.group(1), m.group(1))
    return from_official(name, **{official: obj}, **hparams)


def model_class(model: str | type[TranslationGAN]) -> type[TranslationGAN]:
    """The model class named ``model``: a class, a dotted path, or a zoo class name in any case (``"pix2pix"``)."""
    if isinstance(model, type):
        if not issubclass(model, TranslationGAN):
            raise ValueError(f"model must be a TranslationGAN subclass, got {model.__name__}")
        return model
    if "." in model:
        return _import_class(model)
    classes = _zoo_classes()
    key = model.lower().replace("_", "").replace("-", "")
    if key in classes:
        return classes[key]
    raise ValueError(f"unknown model {model!r}; the zoo has {sorted(c.__name__ for c in classes.values())}")


def _zoo_classes() -> dict[str, type[TranslationGAN]]:
    from . import models as models_pkg

    # Import every paper file so that models added by other files are found too.
    for info in pkgutil.iter_modules(models_pkg.__path__):
        importlib.import_module(f"{models_pkg.__name__}.{info.name}")
    found: dict[str, type[TranslationGAN]] = {}
    todo = list(TranslationGAN.__subclasses__())
    while todo:
        cls = todo.pop()
        found[cls.__name__.lower()] = cls
        todo.extend(cls.__subclasses__())
    return found


def _import_class(class_path: str) -> type[TranslationGAN]:
    module_name, _, name = class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as e:
        raise ValueError(f"cannot import the model class {class_path!r}: {e}") from e
    if not (isinstance(cls, type) and issubclass(cls, TranslationGAN)):
        raise ValueError(f"{class_path} is not a TranslationGAN subclass")
    return cls


# ---------------------------------------------------------------------------------------- the generator
def is_two_way(model: nn.Module) -> bool:
    """Whether the model translates both ways (its ``forward`` takes ``direction``, like CycleGAN's)."""
    return "direction" in inspect.signature(model.forward).parameters


def check_direction(model: nn.Module, direction: str | None) -> str | None:
    """The direction to use: ``a2b`` by default for two-way models, ``None`` for one-way models.

    Raises:
        ValueError: an unknown direction, or ``b2a`` for a one-way model.
    """
    if direction is not None and direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'a2b' or 'b2a', got {direction!r}")
    if is_two_way(model):
        return direction or "a2b"
    if direction == "b2a":
        raise ValueError(f"direction='b2a': {type(model).__name__} has one generator (A→B); leave direction out")
    return None


def generator_of(model: nn.Module, direction: str | None = None) -> nn.Module:
    """The generator that translates in ``direction``: ``gen_a2b``/``gen_b2a`` of two-way models, else ``gen``."""
    direction = check_direction(model, direction)
    name = "gen" if direction is None else f"gen_{direction}"
    gen = getattr(model, name, None)
    if not isinstance(gen, nn.Module):
        raise ValueError(f"{type(model).__name__} has no generator {name!r} to translate with")
    return gen


def size_multiple(generator: nn.Module) -> int:
    """The factor that the generator needs image height and width to be multiples of.

    U-Net: ``2**num_downs`` (every level halves the image). ResNet generator: 4 (two stride-2 convolutions; other
    sizes run but come out rounded up to a multiple of 4). Another generator can declare ``size_multiple``;
    otherwise 1.
    """
    declared = getattr(generator, "size_multiple", None)
    if isinstance(declared, int):
        return declared
    if isinstance(generator, UnetGenerator):
        return 2**generator.num_downs
    if isinstance(generator, ResnetGenerator):
        return 4
    return 1


def input_channels(model: TranslationGAN, direction: str | None) -> int:
    """Channels the generator of ``direction`` takes: ``input_nc`` (A→B) or ``output_nc`` (B→A)."""
    key = "output_nc" if direction == "b2a" else "input_nc"
    if key in model.hparams:
        return int(model.hparams[key])
    first = next((m for m in generator_of(model, direction).modules() if isinstance(m, nn.Conv2d)), None)
    if first is None:
        raise ValueError(f"cannot tell the input channels of {type(model).__name__}: it has no {key} hyper-parameter")
    return first.in_channels


def check_size(size: int | tuple[int, int], multiple: int, option: str = "size") -> tuple[int, int]:
    """``size`` as (height, width), checked to be a positive multiple of ``multiple``."""
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if len(hw) != 2 or not all(isinstance(s, int) and s > 0 for s in hw):
        raise ValueError(f"{option} must be an int or (height, width) of positive ints, got {size!r}")
    if hw[0] % multiple or hw[1] % multiple:
        raise ValueError(
            f"{option}={size!r} does not fit the generator: height and width must be multiples of {multiple}"
        )
    return hw  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------- translate
def translate(
    model: TranslationGAN,
    images: ImageInput | Sequence[ImageInput],
    *,
    direction: str | None = None,
    size: int | tuple[int, int] | str | None = None,
) -> Image.Image | list[Image.Image]:
    """Translate images with a trained model; returns PIL images of the inputs' original sizes.

    Each image is converted to the generator's channels (grayscale "L" or "RGB"), resized (PIL bicubic, as the
    official code) to a size the generator accepts, scaled to [-1, 1], translated by ``model(x)`` in eval mode
    under ``torch.no_grad()``, mapped back to uint8 (``(y + 1) * 127.5``, rounded) and resized back to the input's
    own width and height. Images are processed one at a time, so they may differ in size.

    ``model(x)`` keeps the model's own inference semantics: a ``Pix2Pix`` with ``eval_mode=False`` (the paper's
    default) keeps dropout on, so its outputs vary from call to call; load it with ``eval_mode=True`` for a
    deterministic generator.

    Args:
        model: the model.
        images: a PIL image or an image file (returns one image), or a list of them or a folder (searched
            recursively, sorted by relative path; returns a list).
        direction: ``"a2b"`` (default) or ``"b2a"`` for two-way models such as CycleGAN.
        size: the size the generator sees, an int or (height, width), multiples of the architecture's factor
            (:func:`size_multiple`). Default: ``model.inference_size`` (the training crop size, set by
            :func:`load_model`) if known, else the input's size rounded to the nearest multiple. ``"input"``:
            always the rounded input size.

    Returns:
        One PIL image for one input, else a list in input order.
    """
    direction = check_direction(model, direction)
    kwargs = {} if direction is None else {"direction": direction}
    multiple = size_multiple(generator_of(model, direction))
    channels = input_channels(model, direction)
    if channels not in (1, 3):
        raise ValueError(f"translate handles 1- or 3-channel images; the generator takes {channels} channels")
    if size is None:
        known = getattr(model, "inference_size", None)
        # A training size that the generator does not accept (possible with a ResNet) is rounded, not an error.
        fixed = None if known is None else tuple(multiple_of_size(known[1], known[0], multiple)[::-1])
    elif size == "input":
        fixed = None
    else:
        fixed = check_size(size, multiple)  # type: ignore[arg-type]
    single, items = _collect(images)
    param = next(model.parameters())

    was_training = model.training
    model.eval()
    outputs = []
    try:
        with torch.no_grad():
            for item in items:
                img = _open(item, channels)
                width, height = img.size
                run_w, run_h = multiple_of_size(width, height, multiple) if fixed is None else fixed[::-1]
                if (run_w, run_h) != (width, height):
                    img = img.resize((run_w, run_h), Image.BICUBIC)
                x = to_tensor(img).to(param.device, param.dtype)
                out = to_image(model(x, **kwargs))
                if out.size != (width, height):
                    out = out.resize((width, height), Image.BICUBIC)
                outputs.append(out)
    finally:
        model.train(was_training)
    return outputs[0] if single else outputs


def _collect(images: ImageInput | Sequence[ImageInput]) -> tuple[bool, list[Image.Image | Path]]:
    """(whether one image was given, the images or image files)."""
    if isinstance(images, Image.Image):
        return True, [images]
    if isinstance(images, str | os.PathLike):
        path = Path(images).expanduser()
        if path.is_dir():
            return False, list(list_images(path))
        if path.is_file():
            return True, [path]
        raise DataError(f"{path} does not exist: give an image file, a folder of images, a PIL image or a list")
    if isinstance(images, Sequence):
        items: list[Image.Image | Path] = []
        for item in images:
            if isinstance(item, Image.Image):
                items.append(item)
            elif isinstance(item, str | os.PathLike) and Path(item).expanduser().is_file():
                items.append(Path(item).expanduser())
            else:
                raise DataError(f"a list to translate holds PIL images or image files; {item!r} is neither")
        return False, items
    raise TypeError(f"cannot translate a {type(images).__name__}: give a PIL image, a path, a folder or a list")


def _open(item: Image.Image | Path, channels: int) -> Image.Image:
    if isinstance(item, Image.Image):
        return item.convert("L" if channels == 1 else "RGB")
    return load_image(item, channels)


def to_tensor(img: Image.Image) -> torch.Tensor:
    """An "L" or "RGB" PIL image as a (1, C, H, W) float tensor in [-1, 1] (official ToTensor + Normalize(0.5))."""
    arr = torch.from_numpy(np.asarray(img, dtype=np.float32) / 127.5 - 1.0)
    arr = arr[None] if arr.dim() == 2 else arr.permute(2, 0, 1)
    return arr[None].contiguous()


def to_image(y: torch.Tensor) -> Image.Image:
    """The first image of a (N, C, H, W) batch in [-1, 1] as a PIL image ("L" for C = 1, "RGB" for C = 3)."""
    c = y.shape[1]
    if c not in (1, 3):
        raise ValueError(f"the generator returned {c} channels; only 1 (grayscale) and 3 (RGB) make an image")
    # Rounded rather than truncated as in the official tensor2im: an unbiased mapping of [-1, 1] to 0..255.
    arr = ((y[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()
    if c == 1:
        return Image.fromarray(arr[0].numpy())  # 2-D uint8: "L"
    return Image.fromarray(arr.permute(1, 2, 0).numpy())  # (H, W, 3) uint8: "RGB"


__all__ = [
    "check_direction",
    "generator_of",
    "input_channels",
    "is_two_way",
    "load_model",
    "model_class",
    "size_multiple",
    "to_image",
    "to_tensor",
    "translate",
]
