"""Official pix2pix and CycleGAN datasets: a catalogue and a safe, idempotent downloader.

The names, URLs and archive layouts follow the official scripts of junyanz/pytorch-CycleGAN-and-pix2pix,
``datasets/download_pix2pix_dataset.sh`` (``<name>.tar.gz`` extracted into ``<root>/<name>/``) and
``datasets/download_cyclegan_dataset.sh`` (``<name>.zip`` extracted into ``<root>/<name>/``).

``download`` is meant for ``LightningDataModule.prepare_data``::

    def prepare_data(self):
        download("facades", self.root, "pix2pix")

It downloads at most once (a per-family marker file is written only after a complete extraction),
streams into ``*.part`` files, verifies SHA-256 checksums when they are known, refuses archive members
that could write outside the target folder, and publishes the extracted folder with a rename, so an
interrupted or failed call never leaves something a later call would mistake for a finished download.

The same machinery fetches single files (e.g. released network weights, see :mod:`translation_zoo.weights`):
:func:`download_file` downloads a URL once to a given path, either the file itself or one member taken from a
zip/tar archive, with the same lock, ``*.part`` streaming, checksum and archive checks.

Three dataset names exist in both families with different content (``facades``, ``maps``,
``cityscapes``: side-by-side AB images for pix2pix, ``trainA``/``trainB`` folders for CycleGAN). As with
the official scripts, both extract into the same ``<root>/<name>/`` folder, where their sub-folders do
not overlap, so one root can hold both.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import socket
import stat
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

__all__ = [
    "DATASETS",
    "MIRROR_ENV",
    "ChecksumError",
    "Dataset",
    "DatasetDownloadError",
    "ManualDownloadRequired",
    "UnsafeArchiveError",
    "download",
    "download_file",
    "get_dataset",
    "list_datasets",
    "mirror_url",
]

log = logging.getLogger(__name__)

Family = Literal["pix2pix", "cyclegan"]
ArchiveKind = Literal["tar.gz", "zip"]
Layout = Literal["aligned", "unpaired"]

FAMILIES: tuple[str, ...] = ("pix2pix", "cyclegan")

#: Environment variable holding a base URL that replaces the scheme and host of every official URL
#: (the path is kept), e.g. ``http://mirror.local/berkeley`` turns
#: ``http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz`` into
#: ``http://mirror.local/berkeley/pix2pix/datasets/facades.tar.gz``.
MIRROR_ENV = "TRANSLATION_ZOO_DATASET_MIRROR"

# URL bases of the official scripts (junyanz/pytorch-CycleGAN-and-pix2pix):
# - datasets/download_pix2pix_dataset.sh: URL=http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/$FILE.tar.gz
# - datasets/download_cyclegan_dataset.sh: the stored copy we could read (blob d5a8367) still has
#   URL=https://people.eecs.berkeley.edu/~taesung_park/CycleGAN/datasets/$FILE.zip, but that host stopped
#   serving the files in 2023; the authors pointed users to the lab server instead
#   (taesungp/contrastive-unpaired-translation#171), and 404s on the old host are reported as late as
#   2025 (aitorzip/PyTorch-CycleGAN#47). We therefore use the same archives on the lab server, which also
#   hosts the pix2pix archives. Both official scripts use plain http; the SHA-256 field is the integrity check.
_PIX2PIX_BASE = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/"
_CYCLEGAN_BASE = "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/"

_SOCKET_TIMEOUT = 60.0  # seconds per blocking socket operation, not for the whole transfer
_CHUNK = 1 << 20
_HEARTBEAT = 5.0  # seconds between refreshes of a held lock file
_USER_AGENT = "translation-zoo dataset downloader (Python urllib)"


class DatasetDownloadError(RuntimeError):
    """A dataset could not be downloaded, verified or extracted."""


class ChecksumError(DatasetDownloadError):
    """The downloaded archive does not have the expected SHA-256."""


class UnsafeArchiveError(DatasetDownloadError):
    """The archive has a member that could write outside the target folder (or is not a plain file)."""


class ManualDownloadRequired(DatasetDownloadError):
    """The dataset's licence forbids redistribution: the user must fetch and prepare it by hand."""


@dataclass(frozen=True)
class Dataset:
    """One official dataset.

    Attributes:
        name: Name used by the official download scripts, e.g. ``"facades"``.
        family: ``"pix2pix"`` (paired) or ``"cyclegan"`` (unpaired).
        url: Official archive URL, or None when the data must be fetched manually (see ``manual``).
        archive: Archive format, ``"tar.gz"`` (pix2pix) or ``"zip"`` (CycleGAN).
        folder: Folder the archive extracts to, relative to the download root.
        layout: ``"aligned"`` (``train/``, ``val/``, ``test/`` with A|B side by side) or ``"unpaired"``
            (``trainA/``, ``trainB/``, ``testA/``, ``testB/``).
        sha256: Expected SHA-256 of the archive, or None when unknown.
        manual: Instructions for datasets that cannot be downloaded automatically (``{target}`` is
            replaced by the folder the data must end up in), else None.
    """

    name: str
    family: Family
    url: str | None
    archive: ArchiveKind
    folder: str
    layout: Layout
    sha256: str | None = None
    manual: str | None = None

    @property
    def requires_manual_download(self) -> bool:
        """True when ``download`` cannot fetch the data and explains how to get it instead."""
        return self.url is None


# Cityscapes may not be redistributed; both official scripts refuse it and point to
# datasets/prepare_cityscapes_dataset.py, which writes pix2pix and CycleGAN layouts into one folder:
# train/ and test/ (512x256 JPEGs, photo on the left, colour label map on the right) and
# trainA/, trainB/, testA/, testB/ (A = photos, B = label maps); Cityscapes' val split becomes "test".
_CITYSCAPES_MANUAL = """\
The Cityscapes licence does not allow redistribution, so it cannot be downloaded automatically.
  1. Register and log in at https://www.cityscapes-dataset.com, then download from its download page
     gtFine_trainvaltest.zip and leftImg8bit_trainvaltest.zip.
  2. Unzip both, e.g. into /data/raw, giving /data/raw/gtFine/{{train,val,test}}/<city>/*_gtFine_color.png
     and /data/raw/leftImg8bit/{{train,val,test}}/<city>/*_leftImg8bit.png.
  3. Run the official script datasets/prepare_cityscapes_dataset.py of junyanz/pytorch-CycleGAN-and-pix2pix:
       python datasets/prepare_cityscapes_dataset.py --gtFine_dir /data/raw/gtFine \\
           --leftImg8bit_dir /data/raw/leftImg8bit --output_dir {target}
  4. It writes into {target}:
       train/ and test/                   pix2pix: 512x256 images, photo on the left (A), label map on the right (B)
       trainA/ trainB/ testA/ testB/      CycleGAN: A = photos, B = label maps
     (Cityscapes' val split becomes "test"; there is no val/ folder.)
Once {target} has {check}, download() returns {target} without touching it."""

# SHA-256 digests: the official scripts publish none and the servers are unreachable from where this
# catalogue was written, so every entry is None (downloads are then only checked for completeness
# against Content-Length). download() records the digest of what it fetched in the marker file
# (<root>/<name>/.complete-<family>), so they can be pinned here after one trusted download.
_PIX2PIX_NAMES = ("facades", "cityscapes", "maps", "edges2shoes", "edges2handbags", "night2day")
_CYCLEGAN_NAMES = (
    "horse2zebra",
    "apple2orange",
    "summer2winter_yosemite",
    "monet2photo",
    "cezanne2photo",
    "ukiyoe2photo",
    "vangogh2photo",
    "iphone2dslr_flower",
    "maps",
    "cityscapes",
    "facades",
)
_MANUAL = {"cityscapes"}


def _catalogue() -> dict[tuple[str, str], Dataset]:
    entries: dict[tuple[str, str], Dataset] = {}
    for family, names, base, kind, layout in (
        ("pix2pix", _PIX2PIX_NAMES, _PIX2PIX_BASE, "tar.gz", "aligned"),
        ("cyclegan", _CYCLEGAN_NAMES, _CYCLEGAN_BASE, "zip", "unpaired"),
    ):
        for name in names:
            manual = name in _MANUAL
            entries[(family, name)] = Dataset(
                name=name,
                family=family,  # type: ignore[arg-type]
                url=None if manual else f"{base}{name}.{kind}",
                archive=kind,  # type: ignore[arg-type]
                folder=name,
                layout=layout,  # type: ignore[arg-type]
                sha256=None,
                manual=_CITYSCAPES_MANUAL if manual else None,
            )
    return entries


#: The catalogue, keyed by ``(family, name)``.
DATASETS: dict[tuple[str, str], Dataset] = _catalogue()


def list_datasets(family: Family | None = None) -> list[str]:
    """Names of the official datasets, sorted.

    Args:
        family: ``"pix2pix"`` or ``"cyclegan"``; None lists the names of both (each name once).

    Returns:
        The dataset names, including those that need a manual download (Cityscapes).
    """
    if family is not None:
        _check_family(family)
    return sorted({name for fam, name in DATASETS if family is None or fam == family})


def get_dataset(name: str, family: Family) -> Dataset:
    """The catalogue entry of one dataset.

    Args:
        name: Dataset name, e.g. ``"horse2zebra"``.
        family: ``"pix2pix"`` or ``"cyclegan"``.

    Raises:
        ValueError: Unknown family or name (the message lists the known names of that family).
    """
    _check_family(family)
    try:
        return DATASETS[(family, name)]
    except KeyError:
        known = ", ".join(list_datasets(family))
        raise ValueError(f"Unknown {family} dataset {name!r}. Known {family} datasets: {known}.") from None


def download(
    name: str,
    root: str | Path,
    family: Family,
    *,
    url: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
    lock_timeout: float = 600.0,
) -> Path:
    """Download and extract an official dataset once; later calls return at once.

    Args:
        name: Dataset name (see :func:`list_datasets`).
        root: Folder that receives ``<name>/`` (created if missing).
        family: ``"pix2pix"`` or ``"cyclegan"``; three names exist in both with different content.
        url: Archive URL to use instead of the official one (a mirror, or ``file://`` for a local copy).
            Takes precedence over the ``TRANSLATION_ZOO_DATASET_MIRROR`` environment variable, which
            replaces the scheme and host of the official URL. The archive type is taken from the URL's
            suffix when it has one (``.tar.gz``, ``.tgz``, ``.tar``, ``.zip``). An archive already at
            ``<root>/<name>.<type>`` (left by an interrupted call, or copied there by hand) is used
            instead of downloading; like the official scripts, the archive is deleted after extraction.
        sha256: Expected SHA-256 of the archive; defaults to the catalogue's (None: not verified).
        progress: Show a progress bar on stderr (tqdm when installed).
        lock_timeout: Seconds another process's lock may go without a refresh before this call gives up.
            A live holder refreshes its lock every few seconds, so a long download is waited for.

    Returns:
        The extracted dataset folder, ``<root>/<folder>`` (e.g. ``<root>/facades``).

    Raises:
        ValueError: Unknown name/family, or an invalid ``url``/``sha256``.
        ManualDownloadRequired: The dataset must be fetched by hand (the message says how and where).
        ChecksumError: The archive's SHA-256 differs from ``sha256`` (archive deleted, nothing extracted).
        UnsafeArchiveError: A member has an absolute path, a ``..`` component, or is a link or a special
            file (nothing is left extracted).
        DatasetDownloadError: Network error, truncated transfer, corrupt archive, or a clash with an
            existing folder.
        TimeoutError: Another process holds ``<root>/.<name>.lock`` and stopped refreshing it.
    """
    entry = get_dataset(name, family)
    root = Path(root).expanduser()
    target = root / entry.folder
    marker = target / f".complete-{family}"
    # Fast path without the lock: the marker is written last, so its presence means a finished extraction.
    if marker.is_file():
        return target

    expected = _normalise_sha256(sha256 if sha256 is not None else entry.sha256)
    if url is None and entry.requires_manual_download:
        check = "a non-empty train/" if entry.layout == "aligned" else "non-empty trainA/ and trainB/"
        if _has_layout(target, entry.layout):
            return target
        assert entry.manual is not None
        raise ManualDownloadRequired(
            f"{family} dataset {name!r} must be downloaded manually into {target}.\n"
            + entry.manual.format(target=target, check=check)
        )
    source = _resolve_url(entry, url)
    kind = _archive_kind(source, entry.archive)

    root.mkdir(parents=True, exist_ok=True)
    with _file_lock(root / f".{entry.name}.lock", lock_timeout, progress):
        if marker.is_file():  # another process finished while we waited for the lock
            return target
        _remove_leftovers(root, entry.folder)
        archive = root / f"{entry.folder}.{kind}"
        part = archive.with_name(archive.name + ".part")
        origin = source
        if archive.is_file():
            # Only a complete transfer is ever renamed from *.part, so this is a finished download whose
            # extraction was interrupted (Ctrl-C, killed process): reuse it instead of fetching again.
            log.info("Reusing the previously downloaded %s", archive)
            origin = str(archive)
            digest, size = _sha256_file(archive), archive.stat().st_size
        else:
            try:
                digest, size = _fetch(source, part, progress=progress, desc=f"{family}/{entry.name}")
            except BaseException:
                # Also on KeyboardInterrupt: a half-written .part is never useful, and leaving it would
                # only confuse users (it is never taken as complete, see above).
                with contextlib.suppress(OSError):
                    part.unlink()
                raise
            os.replace(part, archive)
        if expected is not None and digest != expected:
            archive.unlink()
            raise ChecksumError(
                f"SHA-256 mismatch for {origin}: expected {expected}, got {digest}. "
                "The archive was deleted and nothing was extracted; check the URL/mirror or the checksum."
            )
        if expected is None:
            log.info("%s has SHA-256 %s (no checksum known, not verified)", origin, digest)

        info = {"name": entry.name, "family": family, "url": origin, "sha256": digest, "bytes": size}
        try:
            _extract_and_publish(archive, kind, root, entry.folder, target, marker.name, info)
        except DatasetDownloadError:
            # Corrupt or unsafe: a retry must fetch it again rather than reuse it. On any other
            # interruption (Ctrl-C, disk full) the verified archive is kept for the next call.
            with contextlib.suppress(OSError):
                archive.unlink()
            raise
        archive.unlink()  # like the official scripts, keep only the extracted folder
    return target


def download_file(
    url: str,
    dest: str | Path,
    *,
    sha256: str | None = None,
    archive: Literal["zip", "tar", "tar.gz"] | None = None,
    member: str | None = None,
    progress: bool = True,
    lock_timeout: float = 600.0,
    desc: str | None = None,
) -> Path:
    """Download one file to ``dest`` once: the file at ``url`` itself, or one member of the archive at ``url``.

    A file already at ``dest`` is returned at once, without lock or network: only complete, verified files are
    ever renamed to ``dest``, so it is either an earlier call's result or a file the user put there by hand
    (callers that know a checksum verify such a file themselves). Otherwise, under the lock
    ``<dest folder>/.<dest name>.lock`` (one download across processes and DDP ranks; the others wait and reuse
    it), the URL is streamed into ``<dest>.part`` and renamed to ``dest`` once complete and verified. An archive is
    kept at ``<dest>.<archive>`` while it is extracted (an archive already there, left by an interrupted call or
    copied there by hand, is used instead of downloading), every member is checked as :func:`download` does
    (no absolute paths, ``..``, links or special files), only ``member`` is written, and the archive is deleted.

    Args:
        url: ``http(s)://`` or ``file://`` URL, used as given (apply :func:`mirror_url` to official URLs first).
        dest: the file to create; its folder is created if missing.
        sha256: expected SHA-256 of what ``url`` serves (the archive for archives); None: not verified.
        archive: ``"zip"``, ``"tar"`` or ``"tar.gz"`` when ``url`` serves an archive; None for the file itself.
        member: path inside the archive of the file to take (required with ``archive``).
        progress: show a progress bar on stderr.
        lock_timeout: as for :func:`download`.
        desc: label of the progress bar (default: ``dest``'s name).

    Returns:
        ``dest``.

    Raises:
        ValueError: an invalid ``url``, ``sha256``, ``archive`` or ``member``.
        ChecksumError: the download's SHA-256 differs from ``sha256`` (nothing is kept).
        UnsafeArchiveError: the archive has an unsafe member (nothing is kept).
        DatasetDownloadError: network error, truncated transfer, corrupt archive, ``member`` not in the archive.
        TimeoutError: another process holds the lock and stopped refreshing it.
    """
    dest = Path(dest).expanduser()
    if dest.is_file():
        return dest
    expected = _normalise_sha256(sha256)
    _check_url(url)
    only: PurePosixPath | None = None
    if archive is not None:
        if archive not in ("zip", "tar", "tar.gz"):
            raise ValueError(f"archive must be 'zip', 'tar', 'tar.gz' or None, got {archive!r}.")
        if not member:
            raise ValueError("archive= needs member=, the path of the file to take from the archive.")
        try:
            only = _member_path(member)
        except UnsafeArchiveError as e:
            raise ValueError(f"member={member!r} is not a relative path inside the archive.") from e
        if only is None:
            raise ValueError(f"member={member!r} names the archive's root, not a file.")
    elif member is not None:
        raise ValueError("member= only makes sense with archive=.")
    label = desc or dest.name

    dest.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(dest.parent / f".{dest.name}.lock", lock_timeout, progress):
        if dest.is_file():  # another process finished while we waited for the lock
            return dest
        _remove_file_leftovers(dest)
        if archive is None:
            part = dest.with_name(dest.name + ".part")
            digest = _fetch_part(url, part, progress, label)
            _verify(part, digest, expected, url)
            os.replace(part, dest)
            return dest

        kept = dest.with_name(f"{dest.name}.{archive}")
        origin = url
        if kept.is_file():
            log.info("Reusing the previously downloaded %s", kept)
            origin, digest = str(kept), _sha256_file(kept)
        else:
            part = kept.with_name(kept.name + ".part")
            digest = _fetch_part(url, part, progress, label)
            os.replace(part, kept)
        _verify(kept, digest, expected, origin)
        assert only is not None
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".extracting", dir=dest.parent))
        try:
            try:
                _extract(kept, archive, tmp, only)
                taken = tmp.joinpath(*only.parts)
                if not taken.is_file():
                    raise DatasetDownloadError(
                        f"{origin} has no file {member!r} (it holds {_some_members(kept, archive)}). "
                        "Is the URL or the member right?"
                    )
            except DatasetDownloadError:
                with contextlib.suppress(OSError):  # corrupt, unsafe or wrong: a retry must fetch it again
                    kept.unlink()
                raise
            os.replace(taken, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        kept.unlink()
    return dest


def _fetch_part(url: str, part: Path, progress: bool, desc: str) -> str:
    """``_fetch`` into ``part``, deleting it on any failure (also Ctrl-C); returns the SHA-256."""
    try:
        return _fetch(url, part, progress=progress, desc=desc)[0]
    except BaseException:
        with contextlib.suppress(OSError):
            part.unlink()
        raise


def _verify(path: Path, digest: str, expected: str | None, origin: str) -> None:
    """Delete ``path`` and raise ChecksumError when ``digest`` is not ``expected``."""
    if expected is None:
        log.info("%s has SHA-256 %s (no checksum known, not verified)", origin, digest)
        return
    if digest != expected:
        with contextlib.suppress(OSError):
            path.unlink()
        raise ChecksumError(
            f"SHA-256 mismatch for {origin}: expected {expected}, got {digest}. The file was deleted; check the "
            "URL/mirror or the checksum."
        )


def _some_members(archive: Path, kind: str, limit: int = 8) -> list[str]:
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                names = zf.namelist()
        else:
            with tarfile.open(archive, "r:*") as tar:
                names = tar.getnames()
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, zlib.error):
        return []
    return names[:limit] + (["..."] if len(names) > limit else [])


def _remove_file_leftovers(dest: Path) -> None:
    """Delete the partial files and temp folders of a crashed earlier ``download_file`` (we hold its lock)."""
    name = glob.escape(dest.name)
    for tmp in dest.parent.glob(f".{name}.*.extracting"):
        shutil.rmtree(tmp, ignore_errors=True)
    for part in [*dest.parent.glob(f"{name}.part"), *dest.parent.glob(f"{name}.*.part")]:
        with contextlib.suppress(OSError):
            part.unlink()


# --------------------------------------------------------------------------------------------- helpers


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise ValueError(f"Unknown dataset family {family!r}; expected one of {', '.join(FAMILIES)}.")


def _normalise_sha256(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise ValueError(f"sha256 must be 64 hexadecimal digits, got {value!r}.")
    return value


def mirror_url(url: str) -> str:
    """``url`` with its scheme and host replaced by ``$TRANSLATION_ZOO_DATASET_MIRROR`` when that is set.

    Meant for the official URLs of a catalogue (the path is kept, so a mirror copies the authors' server layout);
    URLs that a user passes explicitly are used as given.
    """
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    return mirror.rstrip("/") + urllib.parse.urlsplit(url).path if mirror else url


def _check_url(url: str) -> str:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https", "file"):
        raise ValueError(f"Unsupported URL {url!r}: expected an http(s):// or file:// URL.")
    return url


def _resolve_url(entry: Dataset, url: str | None) -> str:
    if url is None:
        assert entry.url is not None
        url = mirror_url(entry.url)
    return _check_url(url)


def _archive_kind(url: str, default: str) -> str:
    path = urllib.parse.urlsplit(url).path.lower()
    if path.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    if path.endswith(".tar"):
        return "tar"
    if path.endswith(".zip"):
        return "zip"
    return default


def _has_layout(folder: Path, layout: str) -> bool:
    """True when ``folder`` has the non-empty split folders of ``layout`` (used for manual datasets)."""
    subdirs = ["train"] if layout == "aligned" else ["trainA", "trainB"]
    return all((folder / d).is_dir() and any((folder / d).iterdir()) for d in subdirs)


def _remove_leftovers(root: Path, folder: str) -> None:
    """Delete temp folders and partial files of a crashed earlier call (we hold the lock, so none is live)."""
    for tmp in root.glob(f".{folder}.*.extracting"):
        shutil.rmtree(tmp, ignore_errors=True)
    for part in root.glob(f"{folder}.*.part"):
        with contextlib.suppress(OSError):
            part.unlink()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------- transfer


class _Progress:
    """tqdm when available, else a throttled one-line stderr counter; silent when disabled."""

    def __init__(self, total: int | None, desc: str, enabled: bool) -> None:
        self.total, self.desc, self.enabled = total, desc, enabled
        self.done, self._last = 0, 0.0
        self._bar = None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                pass
            else:
                self._bar = tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr)

    def update(self, n: int) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.enabled and time.monotonic() - self._last > 0.5:
            self._last = time.monotonic()
            self._line()

    def _line(self) -> None:
        total = f"/{self.total / 1e6:.1f}" if self.total else ""
        sys.stderr.write(f"\r{self.desc}: {self.done / 1e6:.1f}{total} MB")
        sys.stderr.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.enabled:
            self._line()
            sys.stderr.write("\n")


def _fetch(url: str, dest: Path, *, progress: bool, desc: str) -> tuple[str, int]:
    """Stream ``url`` into ``dest``; return (sha256, size). Raises if fewer bytes than announced arrive."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        response = urllib.request.urlopen(request, timeout=_SOCKET_TIMEOUT)
    except urllib.error.HTTPError as e:
        raise DatasetDownloadError(f"Downloading {url} failed: HTTP {e.code} {e.reason}.{_hint()}") from e
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DatasetDownloadError(f"Could not connect to {url}: {reason}.{_hint()}") from e

    digest, size = hashlib.sha256(), 0
    with response:
        length = response.headers.get("Content-Length")
        announced = int(length) if length and length.strip().isdigit() else None
        bar = _Progress(announced, desc, progress)
        try:
            with open(dest, "wb") as f:
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except (http.client.HTTPException, OSError) as e:
                        raise DatasetDownloadError(
                            f"Transfer of {url} broke off after {size} bytes: {e!r}. Nothing was kept; "
                            "call download() again to retry."
                        ) from e
                    if not chunk:
                        break
                    f.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    bar.update(len(chunk))
        finally:
            bar.close()
    # http.client returns b"" at EOF even when the server closed before Content-Length bytes arrived,
    # so a truncated transfer has to be caught here.
    if announced is not None and size != announced:
        raise DatasetDownloadError(
            f"Truncated transfer of {url}: received {size} of {announced} bytes. Nothing was kept; "
            "call download() again to retry."
        )
    return digest.hexdigest(), size


def _hint() -> str:
    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        return f" ({MIRROR_ENV} is set to {mirror!r}.)"
    return f" Behind a firewall? Set {MIRROR_ENV} to a mirror's base URL (download() also takes url=...)."


# ---------------------------------------------------------------------------------------------- locking


def _lock_owner(path: Path) -> tuple[int | None, str]:
    try:
        text = path.read_text().strip()
    except OSError:
        return None, ""
    pid, _, host = text.partition("@")
    return (int(pid) if pid.isdigit() else None), host


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: existence check only (POSIX; on Windows os.kill would terminate)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


@contextlib.contextmanager
def _file_lock(path: Path, timeout: float, verbose: bool) -> Iterator[None]:
    """Exclusive lock via O_EXCL creation of ``path``, portable and good enough on shared filesystems.

    The holder writes ``pid@host`` and refreshes the file's mtime every few seconds. A waiter breaks the
    lock at once when its holder ran on this host and is dead; otherwise it waits, and raises
    TimeoutError once the lock has not been refreshed for ``timeout`` seconds (a holder that died on
    another machine cannot be checked, and breaking a live holder's lock would corrupt its extraction).
    """
    host = socket.gethostname()
    announced = False
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            pid, owner_host = _lock_owner(path)
            if os.name == "posix" and pid is not None and owner_host == host and not _pid_alive(pid):
                log.warning("Removing stale lock %s of dead process %d", path, pid)
                # A second waiter may remove the lock the first one just re-created; the window is a
                # few microseconds and only reachable after a crash, which we accept for simplicity.
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                continue
            try:
                idle = time.time() - path.stat().st_mtime
            except FileNotFoundError:
                continue  # released between our open() and stat(): try again
            if idle > timeout:
                raise TimeoutError(
                    f"Timed out waiting for the lock {path} (held by {pid}@{owner_host}, not refreshed for "
                    f"{idle:.0f} s). If no other process is downloading this dataset, delete {path} and "
                    "call download() again."
                ) from None
            if verbose and not announced:
                sys.stderr.write(f"Waiting for {path} (another process, {pid}@{owner_host}, is downloading)\n")
                announced = True
            time.sleep(0.1)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()}@{host}")
        break

    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(_HEARTBEAT):
            with contextlib.suppress(OSError):
                os.utime(path)

    beat = threading.Thread(target=heartbeat, name=f"lock-heartbeat {path.name}", daemon=True)
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


# ------------------------------------------------------------------------------------------ extraction


def _member_path(name: str) -> PurePosixPath | None:
    """Validated relative path of an archive member; None for the archive root itself (``./``).

    Backslashes count as separators so that ``..\\x`` is refused too (Windows would honour them).
    """
    unified = name.replace("\\", "/")
    if "\x00" in name:
        raise UnsafeArchiveError(f"Refusing archive member {name!r}: NUL byte in its name.")
    if unified.startswith("/") or re.match(r"^[A-Za-z]:", unified):
        raise UnsafeArchiveError(f"Refusing archive member {name!r}: absolute path.")
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"Refusing archive member {name!r}: '..' path component.")
    return PurePosixPath(*parts) if parts else None


def _destination(dest: Path, rel: PurePosixPath, name: str) -> Path:
    out = dest.joinpath(*rel.parts)
    # Defence in depth: the checks above already exclude escapes, and we never create links.
    real_dest = os.path.realpath(dest)
    if os.path.commonpath([real_dest, os.path.realpath(out)]) != real_dest:
        raise UnsafeArchiveError(f"Refusing archive member {name!r}: it resolves outside {dest}.")
    return out


def _write_file(src, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with src, open(out, "wb") as f:
        shutil.copyfileobj(src, f, _CHUNK)


def _extract_tar(archive: Path, dest: Path, only: PurePosixPath | None = None) -> None:
    # Members are written by hand rather than with extractall(): tarfile's safety filters only exist
    # from Python 3.12 (backported to late 3.10/3.11 patch releases), and we also want to refuse links
    # outright. Written files get default permissions; ownership and setuid bits are never restored.
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:  # streams: one pass over the (possibly multi-GB) gzip stream
            rel = _member_path(member.name)
            if member.issym() or member.islnk():
                kind = "symbolic link" if member.issym() else "hard link"
                raise UnsafeArchiveError(f"Refusing archive member {member.name!r}: {kind} to {member.linkname!r}.")
            if not (member.isreg() or member.isdir()):
                raise UnsafeArchiveError(
                    f"Refusing archive member {member.name!r}: not a regular file or folder "
                    "(device, FIFO or other special file)."
                )
            if rel is None or (only is not None and rel != only):
                continue  # with ``only``, every member is still checked, but one is written
            out = _destination(dest, rel, member.name)
            if member.isdir():
                out.mkdir(parents=True, exist_ok=True)
            else:
                src = tar.extractfile(member)
                assert src is not None  # regular files always have data
                _write_file(src, out)


def _extract_zip(archive: Path, dest: Path, only: PurePosixPath | None = None) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            rel = _member_path(info.filename)
            # Unix zips keep st_mode in the high 16 bits of external_attr; 0 means "not recorded".
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UnsafeArchiveError(
                    f"Refusing archive member {info.filename!r}: symbolic link to "
                    f"{zf.read(info)[:200].decode(errors='replace')!r}."
                )
            if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise UnsafeArchiveError(f"Refusing archive member {info.filename!r}: not a regular file or folder.")
            if rel is None or (only is not None and rel != only):
                continue
            out = _destination(dest, rel, info.filename)
            if info.is_dir():
                out.mkdir(parents=True, exist_ok=True)
            else:
                _write_file(zf.open(info), out)


def _extract(archive: Path, kind: str, dest: Path, only: PurePosixPath | None = None) -> None:
    """Safely extract ``archive`` (every member, or only the member ``only``) into ``dest``.

    Raises:
        UnsafeArchiveError: a member with an absolute path, ``..``, a link or a special file (checked for every
            member, also with ``only``).
        DatasetDownloadError: a corrupt archive or one of another kind.
    """
    try:
        extract = _extract_zip if kind == "zip" else _extract_tar
        extract(archive, dest) if only is None else extract(archive, dest, only)
    except DatasetDownloadError:
        raise
    except (
        tarfile.TarError,
        zipfile.BadZipFile,
        EOFError,
        zlib.error,
        OSError,
        ValueError,
        RuntimeError,
        NotImplementedError,
    ) as e:
        raise DatasetDownloadError(
            f"Extracting {archive.name} failed: {type(e).__name__}: {e}. The download is corrupt or not "
            f"a {kind} archive (is the URL right?); it was deleted, call download() again to retry."
        ) from e


def _extract_and_publish(
    archive: Path, kind: str, root: Path, folder: str, target: Path, marker: str, info: dict
) -> None:
    """Extract next to ``target`` and move the result into place, leaving nothing behind on failure."""
    # The temp folder lives in root so the final rename stays on one filesystem (atomic, no copy).
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder}.", suffix=".extracting", dir=root))
    try:
        _extract(archive, kind, tmp)
        extracted = tmp / folder
        if not extracted.is_dir():
            found = sorted(p.name for p in tmp.iterdir())
            raise DatasetDownloadError(
                f"{archive.name} does not contain the expected top-level folder {folder}/ "
                f"(found: {found}). Is the URL right?"
            )
        (extracted / marker).write_text(json.dumps(info, indent=1) + "\n")
        _publish(extracted, target, marker)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _publish(extracted: Path, target: Path, marker: str) -> None:
    try:
        # Atomic when target is missing (POSIX also replaces an empty folder): the marker appears together
        # with the data.
        os.rename(extracted, target)
        return
    except OSError as e:
        if not target.is_dir():
            raise DatasetDownloadError(f"Cannot create {target}: {e}") from e
    # target holds the other family's data (facades, maps, cityscapes): move our sub-folders in beside
    # it, refusing to overwrite anything, and write the marker last.
    children = [c for c in extracted.iterdir() if c.name != marker]
    clashes = sorted(c.name for c in children if os.path.lexists(target / c.name))
    if clashes:
        raise DatasetDownloadError(
            f"{target} already exists and contains {clashes}, which this archive would overwrite, but has "
            f"no {marker} marker: it may be a partial or foreign copy. Delete {target} (or those entries) "
            "and call download() again, or download into another root."
        )
    moved: list[str] = []
    try:
        for child in children:
            os.rename(child, target / child.name)
            moved.append(child.name)
    except BaseException:
        for name in moved:  # undo, so no half-merged folder looks like ours
            with contextlib.suppress(OSError):
                os.rename(target / name, extracted / name)
        raise
    os.rename(extracted / marker, target / marker)
