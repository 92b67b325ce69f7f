"""Shared fixtures: tiny models and batches; every model class of the zoo, discovered automatically."""

from __future__ import annotations

import os

import pytest
import torch

from translation_zoo.models import TranslationGAN

#: Torch threads per test process. Alone, pytest uses the 2 cores of the CI machine; under pytest-xdist (the README's
#: test command, one worker per core) each worker gets one, and asking for more is clamped to it: tiny networks with
#: more threads than free cores were measured up to 100x slower. Subprocesses (CLI, DDP) inherit it through
#: OMP_NUM_THREADS.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
THREADS = 1 if XDIST_WORKER else 2
if XDIST_WORKER:
    os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))
    _set_num_threads = torch.set_num_threads
    torch.set_num_threads = lambda n: _set_num_threads(min(n, THREADS))  # learning tests ask for 2
torch.set_num_threads(THREADS)


def all_model_classes() -> list[type[TranslationGAN]]:
    """Every paper class in translation_zoo/models/ (found by walking the files, as the registry does)."""
    from translation_zoo.registry import zoo_classes

    return zoo_classes()


def contract_model_classes() -> list[type[TranslationGAN]]:
    """The paper classes plus the test-only models of other kinds (tests/contract_models.py)."""
    from contract_models import CONTRACT_MODELS

    return [*all_model_classes(), *CONTRACT_MODELS]


def _smooth_images(g: torch.Generator, n: int, c: int, size: int) -> torch.Tensor:
    base = torch.rand(n, c, size // 8, size // 8, generator=g) * 2 - 1
    return torch.nn.functional.interpolate(base, size=(size, size), mode="bilinear", align_corners=False)


def _paired(model: TranslationGAN, g: torch.Generator, n: int, size: int) -> dict:
    hp = model.hparams
    return {
        "A": _smooth_images(g, n, hp.input_nc, size),
        "B": _smooth_images(g, n, hp.output_nc, size),
        "A_path": [f"a{i}.png" for i in range(n)],
        "B_path": [f"b{i}.png" for i in range(n)],
    }


def _multidomain(model: TranslationGAN, g: torch.Generator, n: int, size: int) -> dict:
    hp = model.hparams
    return {
        "image": _smooth_images(g, n, hp.input_nc, size),
        "domain": torch.randint(0, hp.n_domains, (n,), generator=g),
        "path": [f"d{i}.png" for i in range(n)],
    }


def _unconditional(model: TranslationGAN, g: torch.Generator, n: int, size: int) -> dict:
    return {"image": _smooth_images(g, n, model.hparams.channels, size), "path": [f"r{i}.png" for i in range(n)]}


def _single_image(model: TranslationGAN, g: torch.Generator, n: int, size: int) -> dict:
    """One image repeated ``n`` times (a single-image model learns from that one image)."""
    image = _smooth_images(g, 1, model.hparams.nc_im, size).expand(n, -1, -1, -1)
    return {"image": image, "path": ["single.png"] * n}


def _semantic(model: TranslationGAN, g: torch.Generator, n: int, size: int) -> dict:
    """Label maps of 8x8-pixel blocks (ids 0 .. label_nc - 1), instance maps in the Cityscapes encoding (odd classes
    are objects, one per image quadrant: class * 1000 + k; even classes are stuff: the class id) and smooth images
    (the "semantic" batch of data/labelmaps.py)."""
    hp = model.hparams
    blocks = torch.randint(0, hp.label_nc, (n, 1, size // 8, size // 8), generator=g)
    label = blocks.repeat_interleave(8, 2).repeat_interleave(8, 3)  # (N, 1, H, W) int64
    rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    quadrant = (2 * (rows >= size // 2) + (cols >= size // 2)).expand_as(label)
    instance = torch.where(label % 2 == 1, label * 1000 + quadrant, label)
    return {
        "label": label,
        "instance": instance,
        "image": _smooth_images(g, n, hp.output_nc, size),
        "path": [f"l{i}.png" for i in range(n)],
    }


#: batch_kind -> (builder, key of the source images, key of the target-like images). A model of a new kind is
#: covered by the zoo-wide tests by adding its builder here (DESIGN.md, "Every kind of model"). Unconditional
#: models have no source key: what ``forward`` takes is the number of images to generate.
BATCH_KINDS = {
    "paired": (_paired, "A", "B"),
    "unpaired": (_paired, "A", "B"),
    "multidomain": (_multidomain, "image", "image"),
    "unconditional": (_unconditional, None, "image"),
    "single_image": (_single_image, None, "image"),
    "semantic": (_semantic, "label", "image"),
}


def make_batch(model: TranslationGAN, n: int = 2, size: int = 32, seed: int = 0) -> dict:
    """A synthetic batch of the model's kind with smooth structure (not pure noise)."""
    if model.batch_kind not in BATCH_KINDS:
        raise KeyError(f"no synthetic batch for batch_kind {model.batch_kind!r}: add a builder to BATCH_KINDS")
    build, _, _ = BATCH_KINDS[model.batch_kind]
    return build(model, torch.Generator().manual_seed(seed), n, size)


def source_of(model: TranslationGAN, batch: dict) -> torch.Tensor | int:
    """The images the model translates (what ``forward`` takes) in a batch of its kind; for unconditional models
    the number of images in the batch (``forward(n)``)."""
    key = BATCH_KINDS[model.batch_kind][1]
    return len(batch[BATCH_KINDS[model.batch_kind][2]]) if key is None else batch[key]


def predict_batch(model: TranslationGAN, x: torch.Tensor | int, paths: list[str] | None) -> dict:
    """A ``lightning predict`` batch for ``x`` = :func:`source_of` (unconditional: one index per image)."""
    if isinstance(x, int):
        return {"index": torch.arange(x), "path": paths}
    if model.batch_kind == "semantic":  # label maps (instance maps are optional at test time)
        return {"label": x, "path": paths}
    return {"A": x, "path": paths}


def target_of(model: TranslationGAN, batch: dict) -> torch.Tensor:
    """Images shaped like the model's output in a batch of its kind."""
    return batch[BATCH_KINDS[model.batch_kind][2]]


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


@pytest.fixture(params=contract_model_classes(), ids=lambda c: c.__name__)
def any_model_cls(request):
    """Every paper class and the test-only models of other kinds."""
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
