"""Every model of the zoo, found by walking the paper files: by class name, by official name, as a table.

    >>> import translation_zoo
    >>> [m.name for m in translation_zoo.list_models()]
    ['CycleGAN', 'Pix2Pix', ...]

A paper file adds itself by defining a :class:`~translation_zoo.models.TranslationGAN` subclass in
``translation_zoo/models/``; nothing here names a model.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass

from .models import TranslationGAN


@dataclass(frozen=True)
class ModelInfo:
    """One row of :func:`list_models`."""

    name: str  # the class name, also LightningCLI's short name (``--model CycleGAN``)
    title: str  # the paper's title, from the first line of the paper file
    citation: str  # authors, venue, arXiv id: the paper file's second header line
    batch_kind: str  # the batch layout it trains on (translation_zoo/data/__init__.py)
    official_weights: bool  # translation_zoo.hub.from_official imports the authors' weights
    official_names: tuple[str, ...]  # the names from_official accepts for it
    class_path: str


def _walk(cls: type) -> list[type]:
    found, todo = [], list(cls.__subclasses__())
    while todo:
        sub = todo.pop()
        found.append(sub)
        todo.extend(sub.__subclasses__())
    return found


def zoo_classes() -> list[type[TranslationGAN]]:
    """The model classes of ``translation_zoo/models/`` (every paper file imported), sorted by name."""
    from . import models as models_pkg

    for info in pkgutil.iter_modules(models_pkg.__path__):
        importlib.import_module(f"{models_pkg.__name__}.{info.name}")
    prefix = f"{models_pkg.__name__}."
    return sorted((c for c in _walk(TranslationGAN) if c.__module__.startswith(prefix)), key=lambda c: c.__name__)


def _key(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def model_class(model: str | type[TranslationGAN]) -> type[TranslationGAN]:
    """The model class named ``model``: a class, a dotted path, or a class name in any case (``"pix2pix"``).

    Subclasses defined outside the package (a user's ``MyCycleGAN``) are found by name too, once imported.

    Raises:
        ValueError: an unknown name (the message lists the zoo), or a class that is no ``TranslationGAN``.
    """
    if isinstance(model, type):
        if not issubclass(model, TranslationGAN):
            raise ValueError(f"model must be a TranslationGAN subclass, got {model.__name__}")
        return model
    if "." in model:
        return import_class(model)
    zoo_classes()  # import every paper file
    classes = {_key(c.__name__): c for c in _walk(TranslationGAN)}
    if _key(model) in classes:
        return classes[_key(model)]
    raise ValueError(f"unknown model {model!r}; the zoo has {[c.__name__ for c in zoo_classes()]}")


def import_class(class_path: str) -> type[TranslationGAN]:
    """``"translation_zoo.models.Pix2Pix"`` -> the class, checked to be a ``TranslationGAN``."""
    module_name, _, name = class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as e:
        raise ValueError(f"cannot import the model class {class_path!r}: {e}") from e
    if not (isinstance(cls, type) and issubclass(cls, TranslationGAN)):
        raise ValueError(f"{class_path} is not a TranslationGAN subclass")
    return cls


def official_classes() -> dict[str, type[TranslationGAN]]:
    """Official name (normalised: lower case, no ``_``/``-``) -> the zoo class that imports those weights."""
    return {_key(n): c for c in zoo_classes() for n in c.official_names if c.official_networks}


def official_class(model: str | type[TranslationGAN]) -> type[TranslationGAN]:
    """The class whose official weights ``model`` names: an official name (``"cycle_gan"``), a class name or a class.

    Raises:
        translation_zoo.hub.OfficialWeightsError: the model has no official weight import (lists those that do).
    """
    from .hub import OfficialWeightsError

    known = official_classes()
    if isinstance(model, type):
        if model.official_networks:
            return model
        name = model.__name__
    else:
        name = str(model)
        if _key(name) in known:
            return known[_key(name)]
        by_class = {_key(c.__name__): c for c in known.values()}
        if _key(name) in by_class:
            return by_class[_key(name)]
    names = sorted({c.official_names[0] for c in known.values()})
    raise OfficialWeightsError(
        f"no official weights import for {name!r}: model must be one of {names} (the official --model that "
        "trained the weights)"
    )


def list_models() -> list[ModelInfo]:
    """Every model of the zoo: name, paper, batch kind and whether the authors' weights import."""
    rows = []
    for cls in zoo_classes():
        doc = inspect.getmodule(cls).__doc__ or ""
        lines = [line.strip() for line in doc.strip().splitlines()]
        title = lines[0] if lines else cls.__name__
        citation = next((line for line in lines[1:] if line), "")
        rows.append(
            ModelInfo(
                name=cls.__name__,
                title=title,
                citation=citation,
                batch_kind=cls.batch_kind,
                official_weights=bool(cls.official_networks),
                official_names=tuple(cls.official_names),
                class_path=f"{cls.__module__.rsplit('.', 1)[0]}.{cls.__name__}"
                if hasattr(importlib.import_module(cls.__module__.rsplit(".", 1)[0]), cls.__name__)
                else f"{cls.__module__}.{cls.__name__}",
            )
        )
    return rows


__all__ = [
    "ModelInfo",
    "import_class",
    "list_models",
    "model_class",
    "official_class",
    "official_classes",
    "zoo_classes",
]
