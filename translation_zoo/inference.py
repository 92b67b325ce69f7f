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

import os
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .data.base import DataError, list_images, load_image
from .data.transforms import multiple_of_size
from .hub import from_official, network_of_file, official_class, official_classes_names, official_files
from .models import InferenceSpec, TranslationGAN
from .registry import import_class as _import_class
from .registry import model_class
from .weights import is_pretrained_name, load_pretrained

ImageInput = Image.Image | str | os.PathLike
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
    if isinstance(source, str) and is_pretrained_name(source):
        # A catalogue name ("cyclegan/horse2zebra"): the authors' weights, downloaded once (translation_zoo.weights).
        return load_pretrained(source, device=device, model=model, **hparams)
    if isinstance(source, Mapping):
        obj: Any = source
        path = None
    else:
        path = Path(source).expanduser()
        if path.is_dir():
            if model is None:
                raise ValueError(
                    f"{path} is a folder: pass model= one of {official_classes_names()} for official weights"
                )
            files = official_files(path, model, epoch)
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
        names = " or ".join(f"model={n!r}" for n in official_classes_names())
        raise ValueError(
            f"{where} is not a Lightning checkpoint; for official weights pass {names} "
            "(the official --model that trained them)"
        )
    cls = official_class(model)
    networks = {*cls.official_networks, *cls.official_aliases}
    if isinstance(obj, Mapping) and obj and set(obj) <= networks:  # {"G_A": ..., "G_B": ...}
        return from_official(cls, **obj, **hparams)
    official = network_of_file(path, cls) if path is not None else next(iter(cls.official_networks))
    return from_official(cls, **{official: obj}, **hparams)


# ---------------------------------------------------------------------------------------- the generator
def network_conditions(model: TranslationGAN, conditions: Mapping[str, Any]) -> dict[str, Any]:
    """The given conditions that select a network (kind ``choice``, e.g. ``direction``), checked; the names of
    all of them are checked too."""
    declared = model.inference_conditions()
    model.check_conditions(conditions, names_only=True)
    return model.check_conditions({k: v for k, v in conditions.items() if declared[k].kind == "choice"})


def prepare_conditions(model: TranslationGAN, conditions: Mapping[str, Any], x: torch.Tensor | int) -> dict[str, Any]:
    """``conditions`` as ``model.forward`` takes them for the batch ``x`` (N, C, H, W), checked; for an
    unconditional model ``x`` is the number of images to generate.

    Image conditions (a reference or style image: a path, a PIL image or a tensor) are read with the channels
    the model declares, resized to ``x``'s height and width and scaled to [-1, 1]; codes and vectors given as
    lists become tensors; a single image, code or vector is repeated for every item of the batch. ``None`` values
    are dropped (the model samples or defaults them, as its paper does at test time).

    Raises:
        ValueError: an unknown condition (the message lists the model's) or a value that does not fit.
        DataError: an image file that cannot be read.
    """
    declared = model.inference_conditions()
    model.check_conditions(conditions, names_only=True)
    if isinstance(x, int):  # unconditional: forward(n); codes go to the model's device and dtype
        param = next(model.parameters())
        n, (height, width), device, dtype = x, (0, 0), param.device, param.dtype
    else:
        n, (height, width), device, dtype = x.shape[0], x.shape[-2:], x.device, x.dtype
        if not dtype.is_floating_point:  # label maps are integer ids: codes and images take the model's float type
            dtype = next(model.parameters()).dtype
    out: dict[str, Any] = {}
    for name, value in conditions.items():
        if value is None:
            continue
        kind = declared[name].kind
        if kind == "image" and not isinstance(value, torch.Tensor):
            img = value if isinstance(value, Image.Image) else Path(value).expanduser()
            if isinstance(img, Path) and not img.is_file():
                raise DataError(f"{name}: image file {img} does not exist")
            img = _open(img, declared[name].channels or 3).resize((width, height), Image.BICUBIC)
            value = to_tensor(img)
        elif kind in ("code", "vector") and not isinstance(value, torch.Tensor):
            value = torch.as_tensor(value, dtype=torch.float32).reshape(1, -1)
        if isinstance(value, torch.Tensor):
            value = value.to(device, dtype if value.is_floating_point() else value.dtype)
            if kind in ("image", "code", "vector") and value.dim() >= 1 and value.shape[0] == 1 and n > 1:
                value = value.expand(n, *value.shape[1:])
        out[name] = value
    return model.check_conditions(out)


def inference_spec(model: TranslationGAN, **conditions: Any) -> InferenceSpec:
    """The model's :class:`~translation_zoo.models.InferenceSpec` for ``conditions`` (the network to run or
    export, its input channels, size multiple and extra inputs)."""
    return model.inference_spec(**conditions)


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
    size: int | tuple[int, int] | str | None = None,
    num_samples: int = 1,
    **conditions: Any,
) -> Image.Image | list[Image.Image] | list[list[Image.Image]]:
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
        size: the size the generator sees, an int or (height, width), multiples of the architecture's factor
            (the model's ``inference_spec(...).size_multiple``). Default: ``model.inference_size`` (the training
            crop size, set by :func:`load_model`) if known, else the input's size rounded to the nearest
            multiple. ``"input"``: always the rounded input size.
        num_samples: outputs per input for multimodal models (each call of ``model(x)`` draws its own code unless
            one is given); with more than one, each input gives a list of that many images.
        **conditions: the model's inference conditions (``model.inference_conditions()``): ``direction="b2a"``
            for two-way models such as CycleGAN; ``z=``/``style=``/``reference=``/``target=`` where the model
            declares them. Images may be files or PIL images; they are resized to the input's running size.

    Returns:
        One PIL image for one input, else a list in input order (each a list of ``num_samples`` images when
        ``num_samples > 1``).

    Raises:
        ValueError: an unknown condition (the message lists the model's), a value that does not fit, a size the
            generator does not accept.
    """
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive int, got {num_samples!r}")
    spec = model.inference_spec(**network_conditions(model, conditions))
    if not spec.image_input:
        raise ValueError(
            f"{type(model).__name__} is unconditional: it generates images from noise and translates none; "
            "use model.sample(n) (or `lightning predict` with its data module's num_samples)"
        )
    multiple, channels = spec.size_multiple, spec.input_nc
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
                kwargs = prepare_conditions(model, conditions, x)
                samples = []
                for _ in range(num_samples):
                    out = to_image(model(x, **kwargs))
                    samples.append(out if out.size == (width, height) else out.resize((width, height), Image.BICUBIC))
                outputs.append(samples[0] if num_samples == 1 else samples)
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
    "check_size",
    "inference_spec",
    "load_model",
    "model_class",
    "network_conditions",
    "prepare_conditions",
    "to_image",
    "to_tensor",
    "translate",
]
