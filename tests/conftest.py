"""Shared fixtures: tiny models and batches; every model class of the zoo, discovered automatically."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
import torch

import translation_zoo.models as models_pkg
from translation_zoo.models import TranslationGAN

torch.set_num_threads(2)


def all_model_classes() -> list[type[TranslationGAN]]:
    for info in pkgutil.iter_modules(models_pkg.__path__):
        importlib.import_module(f"{models_pkg.__name__}.{info.name}")
    found, todo = [], list(TranslationGAN.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("translation_zoo.models."):
            found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.__name__)


def make_batch(model: TranslationGAN, n: int = 2, size: int = 32, seed: int = 0) -> dict:
    """A synthetic batch of the model's kind with smooth structure (not pure noise)."""
    g = torch.Generator().manual_seed(seed)
    hp = model.hparams

    def img(c):
        base = torch.rand(n, c, size // 8, size // 8, generator=g) * 2 - 1
        return torch.nn.functional.interpolate(base, size=(size, size), mode="bilinear", align_corners=False)

    batch = {"A": img(hp.input_nc), "B": img(hp.output_nc)}
    batch["A_path"] = [f"a{i}.png" for i in range(n)]
    batch["B_path"] = [f"b{i}.png" for i in range(n)]
    return batch


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module of tiny networks: with 2 threads on a busy 2-core machine each op waits for a
    core (measured up to 100x slower). Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(params=all_model_classes(), ids=lambda c: c.__name__)
def model_cls(request):
    return request.param


@pytest.fixture(scope="session", autouse=True)
def demo_data_home(tmp_path_factory):
    """One demo-data cache for the whole session (subprocesses inherit it through the environment)."""
    import os

    home = tmp_path_factory.mktemp("data_home")
    old = os.environ.get("TRANSLATION_ZOO_DATA")
    os.environ["TRANSLATION_ZOO_DATA"] = str(home)
    yield home
    if old is None:
        os.environ.pop("TRANSLATION_ZOO_DATA", None)
    else:
        os.environ["TRANSLATION_ZOO_DATA"] = old
