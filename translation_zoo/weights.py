"""Weights released by the papers' authors, by name: a catalogue, a download-once cache and ``load_pretrained``.

    from translation_zoo import weights
    model = weights.load_pretrained("cyclegan/horse2zebra")        # downloads once, then loads from the cache
    zebra = model.translate("horse.jpg")
    weights.fetch_weights("pix2pix/facades_label2photo")            # the folder holding latest_net_G.pth

Every entry names the authors' own URL (no third-party mirror), the archive format and member to take when the
weights come in an archive, the zoo model and the constructor options that fit the weights, the size and channels
the network was trained on, what it translates (``source`` -> ``target``; with our model's ``a2b`` direction),
the licence as the authors state it, and a SHA-256 where the authors publish one (none do today, so every
``sha256`` is None and downloads are only checked for completeness).

Today the catalogue holds the 18 CycleGAN and 5 pix2pix generators of the official download scripts of
junyanz/pytorch-CycleGAN-and-pix2pix (``scripts/download_cyclegan_model.sh``, ``scripts/download_pix2pix_model.sh``):
``<family>/<name>`` with the script's ``<name>``. Each release is one generator (``latest_net_G.pth``); a CycleGAN
release translates one way only, loaded as our ``gen_a2b`` (``direction="a2b"``), and the entry for the other way,
where the authors released one, is its ``reverse``.

Cache: ``<data home>/weights/<family>/<name>_pretrained/latest_net_G.pth``, where the data home is
``$TRANSLATION_ZOO_DATA`` (default ``~/.cache/translation_zoo``, see :func:`translation_zoo.data.base.data_home`).
The folder has the layout the official scripts write (``./checkpoints/<name>_pretrained/latest_net_G.pth``), so a
file downloaded with them can be copied there, and ``load_model(folder, model="cyclegan")`` reads it too.
Downloads go through :func:`translation_zoo.data.datasets.download_file` (lock across processes and DDP ranks,
``*.part`` file renamed when complete, progress bar, safe extraction, checksum). ``$TRANSLATION_ZOO_DATASET_MIRROR``
replaces the scheme and host of the authors' URLs, as for datasets; with ``$TRANSLATION_ZOO_OFFLINE=1`` nothing is
downloaded. When the weights cannot be downloaded the error names the URL and the exact path to put the file at;
a file put there by hand is used (and checked against ``sha256`` when one is known).
"""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import torch

from .data.base import data_home
from .data.datasets import (
    ChecksumError,
    DatasetDownloadError,
    _sha256_file,
    download_file,
    mirror_url,
)

__all__ = [
    "catalogue",
    "OFFLINE_ENV",
    "DownloadError",
    "Pretrained",
    "WeightsFile",
    "cached",
    "fetch_weights",
    "is_pretrained_name",
    "list_pretrained",
    "load_pretrained",
    "resolve",
    "weights_dir",
    "weights_home",
]

#: Set to 1/true/yes to forbid downloads: missing weights raise at once with the URL and the path to fill.
OFFLINE_ENV = "TRANSLATION_ZOO_OFFLINE"

#: Errors of downloading weights (the dataset downloader's; ChecksumError and UnsafeArchiveError derive from it).
DownloadError = DatasetDownloadError


@dataclass(frozen=True)
class WeightsFile:
    """One file of a release.

    Attributes:
        network: the official network name the file holds, as :func:`translation_zoo.hub.from_official` takes it
            (``"G"`` for pix2pix, ``"G_A"`` for a one-way CycleGAN generator).
        url: the authors' URL.
        filename: the name it gets in the cache folder (the official script's name, ``latest_net_G.pth``).
        archive: ``None`` when ``url`` serves the file itself, else ``"zip"``, ``"tar"`` or ``"tar.gz"``.
        member: path inside the archive of the file to take (with ``archive``).
        sha256: SHA-256 of what ``url`` serves (the archive for archives), when the authors publish one.
    """

    network: str
    url: str
    filename: str
    archive: Literal["zip", "tar", "tar.gz"] | None = None
    member: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Pretrained:
    """One catalogue entry: a released set of weights and what it takes to use it.

    Attributes:
        name: ``"<family>/<name>"``, e.g. ``"cyclegan/horse2zebra"``.
        model: the zoo class the weights load into (``"CycleGAN"``, ``"Pix2Pix"``).
        official_model: the name :func:`translation_zoo.hub.from_official` takes (``"cyclegan"``, ``"pix2pix"``).
        files: the files of the release.
        options: constructor options of ``model`` that fit the weights (checked against them when loading).
        source: what the network takes, in words.
        target: what it produces.
        input_nc: channels of the input images.
        output_nc: channels of the output images.
        size: side of the square images the network was trained and is officially tested on.
        direction: our model's ``direction`` that runs these weights (None: one-way model).
        dataset: the official dataset it was trained on, ``"<family>/<name>"`` of :mod:`translation_zoo.data.datasets`.
        reverse: the entry translating ``target`` -> ``source``, if the authors released one.
        licence: the licence as the authors state it.
        notes: anything a user should know (official test options, caveats).
    """

    name: str
    model: str
    official_model: str
    files: tuple[WeightsFile, ...]
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    source: str = ""
    target: str = ""
    input_nc: int = 3
    output_nc: int = 3
    size: int = 256
    direction: str | None = None
    dataset: str | None = None
    reverse: str | None = None
    licence: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        # Read-only, like the rest of the frozen entry: a caller cannot change what the catalogue says.
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    @property
    def family(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def short_name(self) -> str:
        return self.name.split("/", 1)[1]


# ------------------------------------------------------------------------------------------------ catalogue
# Each paper file declares its authors' releases next to the model (``TranslationGAN.released_weights``); the
# catalogue gathers them, so adding a paper's weights edits only that paper's file.
_CATALOGUE: dict[str, Pretrained] | None = None


def catalogue() -> dict[str, Pretrained]:
    """Every release of every model of the zoo, keyed by ``"<family>/<name>"`` (built once, on first use)."""
    global _CATALOGUE
    if _CATALOGUE is None:
        from .registry import zoo_classes  # here: the paper files import this module for Pretrained

        entries = {e.name: e for cls in zoo_classes() for e in cls.released_weights()}
        _CATALOGUE = dict(sorted(entries.items()))
    return _CATALOGUE


def __getattr__(name: str) -> Any:
    # ``weights.CATALOGUE`` stays available (PEP 562): the same dict as catalogue() returns.
    if name == "CATALOGUE":
        return catalogue()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ------------------------------------------------------------------------------------------------- lookup
def list_pretrained(family: str | None = None) -> list[str]:
    """Names of the released weights, sorted; ``family`` (``"cyclegan"``, ``"pix2pix"``) filters them."""
    return sorted(n for n, e in catalogue().items() if family is None or e.family == family)


def resolve(name: str | Pretrained) -> Pretrained:
    """The catalogue entry of ``name``: ``"cyclegan/horse2zebra"``, or a name the catalogue holds once
    (``"horse2zebra"``, ``"day2night"``); case and a trailing ``_pretrained`` are ignored.

    Raises:
        ValueError: unknown or ambiguous name (the message lists the candidates).
    """
    if isinstance(name, Pretrained):
        return name
    key = str(name).strip().lower().removesuffix("_pretrained")
    if key in catalogue():
        return catalogue()[key]
    if "/" not in key:
        found = [e for e in catalogue().values() if e.short_name == key]
        if len(found) == 1:
            return found[0]
        if found:
            raise ValueError(
                f"{name!r} was released for several models: {', '.join(e.name for e in found)}; give one of them"
            )
    close = difflib.get_close_matches(key, [*catalogue(), *(e.short_name for e in catalogue().values())], n=3)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(
        f"no released weights named {name!r}.{hint} `translation-zoo list` shows the catalogue "
        f"({len(catalogue())} entries: {', '.join(list(catalogue())[:3])}, ...)."
    )


def is_pretrained_name(source: Any) -> bool:
    """Whether ``source`` names catalogue weights rather than a file or folder (an existing path wins)."""
    if not isinstance(source, str) or os.path.exists(os.path.expanduser(source)):
        return False
    try:
        resolve(source)
    except ValueError:
        return False
    return True


# -------------------------------------------------------------------------------------------------- cache
def weights_home() -> Path:
    """Root of the weights cache: ``<data home>/weights`` (``$TRANSLATION_ZOO_DATA``, else ``~/.cache/...``)."""
    return data_home() / "weights"


def weights_dir(name: str | Pretrained) -> Path:
    """The folder of one release: ``<weights home>/<family>/<name>_pretrained`` (the official scripts' layout)."""
    entry = resolve(name)
    return weights_home() / entry.family / f"{entry.short_name}_pretrained"


def cached(name: str | Pretrained) -> bool:
    """Whether every file of the release is in the cache (downloaded, or put there by hand)."""
    entry = resolve(name)
    folder = weights_dir(entry)
    return all((folder / f.filename).is_file() for f in entry.files)


def _offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _by_hand(entry: Pretrained, file: WeightsFile, path: Path) -> str:
    """How to get the file without this downloader: the URL, and the exact path to put the file at."""
    url = mirror_url(file.url)
    how = f"download {url}"
    if file.archive is not None:
        how += (
            f" (a {file.archive} archive) and extract its member {file.member!r} to {path}, or put the archive "
            f"itself at {path}.{file.archive}"
        )
    else:
        how += f" and save it as\n    {path}"
    checksum = f"\nIts SHA-256 must be {file.sha256}." if file.sha256 else ""
    return (
        f"To use {entry.name} without downloading it here, {how}\n"
        f"(e.g. `curl -L -o {path} {url}` on a machine with internet access; the file there is used as is)."
        f"{checksum}"
    )


def fetch_weights(name: str | Pretrained, *, progress: bool = True, lock_timeout: float = 600.0) -> Path:
    """Download a release into the cache once; return its folder (holding ``latest_net_G.pth`` ...).

    Files already in the cache are used as they are (with their SHA-256 checked when the catalogue knows it).

    Raises:
        ValueError: unknown name.
        DownloadError: offline (``$TRANSLATION_ZOO_OFFLINE``), network error, truncated transfer, corrupt or
            unsafe archive; the message names the URL and the path to put the file at by hand.
        ChecksumError: the download or the file in the cache does not have the catalogue's SHA-256.
    """
    entry = resolve(name)
    folder = weights_dir(entry)
    for file in entry.files:
        path = folder / file.filename
        if path.is_file():
            if file.sha256 is not None and file.archive is None:
                digest = _sha256_file(path)
                if digest != file.sha256:
                    raise ChecksumError(
                        f"{path} has SHA-256 {digest}, but {entry.name}'s {file.network} has {file.sha256}: it is "
                        f"not the file the authors released (or it is damaged). Delete it to download it again."
                    )
            continue
        if _offline():
            raise DownloadError(
                f"{entry.name} is not in the cache and {OFFLINE_ENV} forbids downloading it.\n"
                + _by_hand(entry, file, path)
            )
        try:
            download_file(
                mirror_url(file.url),
                path,
                sha256=file.sha256,
                archive=file.archive,
                member=file.member,
                progress=progress,
                lock_timeout=lock_timeout,
                desc=entry.name,
            )
        except DownloadError as e:
            # Same class (ChecksumError stays a ChecksumError), message extended with the manual route.
            raise type(e)(f"{e}\n{_by_hand(entry, file, path)}") from e
    return folder


# -------------------------------------------------------------------------------------------------- load
def load_pretrained(
    name: str | Pretrained,
    *,
    device: str | torch.device = "cpu",
    progress: bool = True,
    model: str | type | None = None,
    **hparams: Any,
) -> Any:
    """Build the zoo model of a release with its weights, downloading them once (see :func:`fetch_weights`).

    Args:
        name: catalogue name (see :func:`resolve`).
        device: where the model lives.
        model: optional; when given (a class or its name), it must be the entry's model.
        progress: show a progress bar while downloading.
        **hparams: constructor options; they override the entry's ``options`` (a value that contradicts the
            weights is an error naming it), e.g. ``eval_mode=True`` for a deterministic pix2pix.

    Returns:
        The model in eval mode on ``device``, with ``inference_size`` set to the entry's training size, so
        ``translate`` feeds the network what the official ``test.py`` does by default (``--size input`` /
        ``size="input"`` to run at the image's own size, which the ResNet generators of CycleGAN accept).
    """
    from .hub import from_official  # imported here: hub imports every model

    entry = resolve(name)
    if model is not None:
        from .registry import model_class

        if model_class(model) is not model_class(entry.model):
            raise ValueError(f"{entry.name} holds {entry.model} weights, but model={model!r} was passed; leave it out")
    folder = fetch_weights(entry, progress=progress)
    files = {f.network: folder / f.filename for f in entry.files}
    options = {**entry.options, **hparams}
    with warnings.catch_warnings():
        # from_official warns that a CycleGAN generator without weights keeps its random initialisation; for a
        # one-way release that is known, and said below in terms of the catalogue.
        warnings.filterwarnings("ignore", message=r"no weights for G_", category=UserWarning)
        net = from_official(entry.official_model, **files, **options)
    if entry.official_model == "cyclegan" and "G_B" not in files:
        other = f"; load {entry.reverse} for {entry.target} -> {entry.source}" if entry.reverse else ""
        warnings.warn(
            f"{entry.name} is the released {entry.source} -> {entry.target} generator only (direction 'a2b'); "
            f"direction 'b2a' would run an untrained generator{other}",
            UserWarning,
            stacklevel=2,
        )
    net.inference_size = (entry.size, entry.size)
    return net.to(device).eval()
