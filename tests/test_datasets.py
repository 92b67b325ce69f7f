"""Tests of the official-dataset catalogue and downloader against a local HTTP server (loopback only)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import stat
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from translation_zoo.data import datasets as ds
from translation_zoo.data.datasets import (
    ChecksumError,
    DatasetDownloadError,
    ManualDownloadRequired,
    UnsafeArchiveError,
    download,
    get_dataset,
    list_datasets,
)

# ------------------------------------------------------------------------------------------ archives

FACADES = {"facades/train/1.jpg": b"\xff\xd8facade-train", "facades/test/2.jpg": b"\xff\xd8facade-test"}
H2Z = {
    "horse2zebra/trainA/1.jpg": b"\xff\xd8horse",
    "horse2zebra/trainB/1.jpg": b"\xff\xd8zebra",
    "horse2zebra/testA/2.jpg": b"\xff\xd8horse-test",
    "horse2zebra/testB/2.jpg": b"\xff\xd8zebra-test",
}
FACADES_UNPAIRED = {"facades/trainA/1.jpg": b"\xff\xd8photo", "facades/trainB/1.jpg": b"\xff\xd8label"}


def tar_gz(*entries: tuple) -> bytes:
    """A .tar.gz from (kind, name, arg) entries; kind is file, dir, symlink, hardlink, chardev or fifo."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for kind, name, *rest in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(rest[0])
                tar.addfile(info, io.BytesIO(rest[0]))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE,
                "symlink": tarfile.SYMTYPE,
                "hardlink": tarfile.LNKTYPE,
                "chardev": tarfile.CHRTYPE,
                "fifo": tarfile.FIFOTYPE,
            }[kind]
            if kind in ("symlink", "hardlink"):
                info.linkname = rest[0]
            if kind == "chardev":
                info.devmajor, info.devminor = 1, 3  # /dev/null
            tar.addfile(info)
    return buf.getvalue()


def zip_bytes(*entries: tuple) -> bytes:
    """A .zip from (kind, name, data) entries; kind is file or symlink (data = link target)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for kind, name, data in entries:
            info = zipfile.ZipInfo(name)  # unlike ZipFile.write, keeps absolute and '..' names verbatim
            info.create_system = 3  # Unix: the high 16 bits of external_attr are st_mode
            file_type = stat.S_IFLNK if kind == "symlink" else stat.S_IFREG
            info.external_attr = (file_type | 0o644) << 16
            zf.writestr(info, data)
    return buf.getvalue()


def files_tar(files: dict[str, bytes]) -> bytes:
    return tar_gz(*[("file", name, data) for name, data in files.items()])


def files_zip(files: dict[str, bytes]) -> bytes:
    return zip_bytes(*[("file", name, data) for name, data in files.items()])


# -------------------------------------------------------------------------------------------- server


@dataclass
class Route:
    body: bytes
    content_length: int | None = None  # announce more than len(body) to simulate a broken transfer
    delay: float = 0.0


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        server = self.server
        with server.lock:
            server.requests.append(self.path)
        route = server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        time.sleep(route.delay)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        length = route.content_length if route.content_length is not None else len(route.body)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(route.body)
        self.close_connection = True  # HTTP/1.0: closing here is what truncates an over-announced body

    def log_message(self, *args) -> None:
        pass


class Server:
    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.routes = {}
        self.httpd.requests = []
        self.httpd.lock = threading.Lock()
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05})

    @property
    def routes(self) -> dict[str, Route]:
        return self.httpd.routes

    @property
    def requests(self) -> list[str]:
        return self.httpd.requests

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


@pytest.fixture
def server():
    srv = Server()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
    srv.thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Keep every test off the real network: no proxies, and the official hosts mapped to a dead port."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    # Port 9 (discard) is closed here: a test that forgets url= fails at once instead of leaving the machine.
    monkeypatch.setenv(ds.MIRROR_ENV, "http://127.0.0.1:9")


def tree(path: Path) -> set[str]:
    """Every path under ``path`` (relative, including hidden files), to prove nothing else was written."""
    return {str(p.relative_to(path)) for p in path.rglob("*")}


# ----------------------------------------------------------------------------------------- catalogue


def test_catalogue_matches_official_scripts():
    assert list_datasets("pix2pix") == sorted(
        ["facades", "cityscapes", "maps", "edges2shoes", "edges2handbags", "night2day"]
    )
    cyclegan = ["horse2zebra", "apple2orange", "summer2winter_yosemite", "monet2photo", "cezanne2photo"]
    cyclegan += ["ukiyoe2photo", "vangogh2photo", "iphone2dslr_flower", "maps", "cityscapes", "facades"]
    assert list_datasets("cyclegan") == sorted(cyclegan)
    assert list_datasets() == sorted(set(list_datasets("pix2pix")) | set(cyclegan))

    manual = {(d.family, d.name) for d in ds.DATASETS.values() if d.requires_manual_download}
    assert manual == {("pix2pix", "cityscapes"), ("cyclegan", "cityscapes")}
    for (family, name), entry in ds.DATASETS.items():
        assert (entry.family, entry.name, entry.folder) == (family, name, name)
        assert entry.sha256 is None or len(entry.sha256) == 64
        if family == "pix2pix":
            assert (entry.archive, entry.layout) == ("tar.gz", "aligned")
            official = f"http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{name}.tar.gz"
        else:
            assert (entry.archive, entry.layout) == ("zip", "unpaired")
            official = f"http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/{name}.zip"
        assert entry.url == (None if entry.requires_manual_download else official)


def test_unknown_name_or_family_lists_known_names(server, tmp_path):
    with pytest.raises(ValueError, match="Unknown cyclegan dataset 'edges2shoes'") as err:
        download("edges2shoes", tmp_path, "cyclegan", progress=False)
    assert "horse2zebra" in str(err.value) and "night2day" not in str(err.value)
    with pytest.raises(ValueError, match="night2day"):
        get_dataset("horse2zebra", "pix2pix")
    with pytest.raises(ValueError, match="family"):
        download("facades", tmp_path, "pix2pixHD", progress=False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="family"):
        list_datasets("munit")  # type: ignore[arg-type]
    assert server.requests == [] and tree(tmp_path) == set()


# ----------------------------------------------------------------------------------------- downloads


def test_download_tar_through_mirror_env(server, tmp_path, monkeypatch):
    archive = files_tar(FACADES)
    # The mirror replaces scheme and host; the official path /pix2pix/datasets/<name>.tar.gz is kept.
    server.routes["/mirror/pix2pix/datasets/facades.tar.gz"] = Route(archive)
    monkeypatch.setenv(ds.MIRROR_ENV, server.url("/mirror/"))
    root = tmp_path / "data"

    out = download("facades", root, "pix2pix", progress=False)

    assert out == root / "facades"
    for name, data in FACADES.items():
        assert (root / name).read_bytes() == data
    marker = json.loads((out / ".complete-pix2pix").read_text())
    assert marker["sha256"] == hashlib.sha256(archive).hexdigest() and marker["bytes"] == len(archive)
    # Archive, .part, lock and temp folder are all gone: only the dataset folder remains.
    assert sorted(os.listdir(root)) == ["facades"]
    assert server.requests == ["/mirror/pix2pix/datasets/facades.tar.gz"]


def test_download_zip_with_url_override_and_progress(server, tmp_path, capsys):
    server.routes["/somewhere/h2z.zip"] = Route(files_zip(H2Z))

    out = download("horse2zebra", tmp_path, "cyclegan", url=server.url("/somewhere/h2z.zip"))

    assert out == tmp_path / "horse2zebra"
    assert {p for p in tree(out) if p.endswith(".jpg")} == {n.split("/", 1)[1] for n in H2Z}
    for name, data in H2Z.items():
        assert (tmp_path / name).read_bytes() == data
    assert "horse2zebra" in capsys.readouterr().err  # the progress bar names the dataset


def test_progress_without_tqdm_is_a_stderr_line(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # makes `from tqdm.auto import tqdm` fail
    server.routes["/f.tar.gz"] = Route(files_tar(FACADES))
    download("facades", tmp_path, "pix2pix", url=server.url("/f.tar.gz"))
    err = capsys.readouterr().err
    assert "pix2pix/facades:" in err and " MB" in err


def test_second_call_neither_downloads_nor_extracts_again(server, tmp_path):
    server.routes["/facades.tar.gz"] = Route(files_tar(FACADES))
    url = server.url("/facades.tar.gz")
    out = download("facades", tmp_path, "pix2pix", url=url, progress=False)
    # A re-extraction would restore the original bytes and drop the sentinel.
    (out / "train" / "1.jpg").write_bytes(b"edited by the user")
    (out / "sentinel").write_text("kept")

    again = download("facades", tmp_path, "pix2pix", url=url, progress=False)

    assert again == out
    assert server.requests == ["/facades.tar.gz"]
    assert (out / "train" / "1.jpg").read_bytes() == b"edited by the user"
    assert (out / "sentinel").read_text() == "kept"


def test_pix2pix_and_cyclegan_variants_share_one_folder(server, tmp_path):
    server.routes["/p.tar.gz"] = Route(files_tar(FACADES))
    server.routes["/c.zip"] = Route(files_zip(FACADES_UNPAIRED))

    paired = download("facades", tmp_path, "pix2pix", url=server.url("/p.tar.gz"), progress=False)
    unpaired = download("facades", tmp_path, "cyclegan", url=server.url("/c.zip"), progress=False)

    assert paired == unpaired == tmp_path / "facades"
    for name, data in {**FACADES, **FACADES_UNPAIRED}.items():
        assert (tmp_path / name).read_bytes() == data
    assert (paired / ".complete-pix2pix").is_file() and (paired / ".complete-cyclegan").is_file()
    download("facades", tmp_path, "pix2pix", url=server.url("/p.tar.gz"), progress=False)
    download("facades", tmp_path, "cyclegan", url=server.url("/c.zip"), progress=False)
    assert server.requests == ["/p.tar.gz", "/c.zip"]


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    archive = files_tar(FACADES)
    server.routes["/facades.tar.gz"] = Route(archive)
    url, wrong = server.url("/facades.tar.gz"), "ab" * 32
    actual = hashlib.sha256(archive).hexdigest()

    with pytest.raises(ChecksumError) as err:
        download("facades", tmp_path, "pix2pix", url=url, sha256=wrong, progress=False)

    assert wrong in str(err.value) and actual in str(err.value)
    assert tree(tmp_path) == set()  # no archive, no .part, no folder, no lock
    # The right checksum (any case) is accepted.
    out = download("facades", tmp_path, "pix2pix", url=url, sha256=actual.upper(), progress=False)
    assert (out / "train" / "1.jpg").is_file()
    with pytest.raises(ValueError, match="64 hexadecimal"):
        download("maps", tmp_path, "pix2pix", url=url, sha256="deadbeef", progress=False)


def test_truncated_transfer_is_an_error_and_a_retry_succeeds(server, tmp_path):
    archive = files_tar(FACADES)
    server.routes["/facades.tar.gz"] = Route(archive, content_length=len(archive) + 1000)
    url = server.url("/facades.tar.gz")

    with pytest.raises(DatasetDownloadError, match=f"{len(archive)} of {len(archive) + 1000} bytes"):
        download("facades", tmp_path, "pix2pix", url=url, progress=False)
    assert tree(tmp_path) == set()

    server.routes["/facades.tar.gz"] = Route(archive)
    out = download("facades", tmp_path, "pix2pix", url=url, progress=False)
    assert (out / "train" / "1.jpg").read_bytes() == FACADES["facades/train/1.jpg"]
    assert server.requests == ["/facades.tar.gz"] * 2


def test_http_and_connection_errors(server, tmp_path):
    with pytest.raises(DatasetDownloadError, match="HTTP 404"):
        download("facades", tmp_path, "pix2pix", url=server.url("/missing.tar.gz"), progress=False)
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(DatasetDownloadError, match="Could not connect"):
        download("facades", tmp_path, "pix2pix", url=f"http://127.0.0.1:{closed}/f.tar.gz", progress=False)
    with pytest.raises(DatasetDownloadError, match=ds.MIRROR_ENV):  # default mirror: the dead port 9
        download("facades", tmp_path, "pix2pix", progress=False)
    assert tree(tmp_path) == set()


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"<html>Service Unavailable</html>", "Extracting facades.tar.gz failed"),
        (files_tar(FACADES)[:-40], "Extracting facades.tar.gz failed"),  # corrupt gzip stream
        (files_tar({"other/train/1.jpg": b"x"}), r"expected top-level folder facades/"),
    ],
    ids=["not-an-archive", "corrupt", "wrong-folder"],
)
def test_bad_archive_leaves_nothing(server, tmp_path, body, match):
    server.routes["/facades.tar.gz"] = Route(body)
    with pytest.raises(DatasetDownloadError, match=match):
        download("facades", tmp_path, "pix2pix", url=server.url("/facades.tar.gz"), progress=False)
    assert tree(tmp_path) == set()


def test_file_url_and_existing_archive_need_no_server(tmp_path):
    local = tmp_path / "incoming" / "h2z.zip"
    local.parent.mkdir()
    local.write_bytes(files_zip(H2Z))
    out = download("horse2zebra", tmp_path / "a", "cyclegan", url=local.as_uri(), progress=False)
    assert (out / "trainA" / "1.jpg").is_file()

    # An archive already at <root>/<name>.<ext> (interrupted run, or copied by hand) is used as is;
    # the mirror points at a dead port, so any download attempt would fail.
    root = tmp_path / "b"
    root.mkdir()
    (root / "facades.tar.gz").write_bytes(files_tar(FACADES))
    out = download("facades", root, "pix2pix", progress=False)
    assert (out / "test" / "2.jpg").is_file()
    assert sorted(os.listdir(root)) == ["facades"]


def test_interrupted_extraction_keeps_the_archive_for_the_next_call(server, tmp_path, monkeypatch):
    server.routes["/f.tar.gz"] = Route(files_tar(FACADES))
    url = server.url("/f.tar.gz")

    def interrupted(archive, dest):
        (dest / "facades").mkdir()
        raise KeyboardInterrupt

    original = ds._extract_tar
    monkeypatch.setattr(ds, "_extract_tar", interrupted)
    with pytest.raises(KeyboardInterrupt):
        download("facades", tmp_path, "pix2pix", url=url, progress=False)
    assert sorted(os.listdir(tmp_path)) == ["facades.tar.gz"]  # no folder, temp dir or lock left

    monkeypatch.setattr(ds, "_extract_tar", original)
    out = download("facades", tmp_path, "pix2pix", url=url, progress=False)
    assert (out / "train" / "1.jpg").is_file() and sorted(os.listdir(tmp_path)) == ["facades"]
    assert server.requests == ["/f.tar.gz"]  # the second call reused the verified archive


def test_leftovers_of_a_crashed_call_are_cleaned(server, tmp_path):
    (tmp_path / ".facades.abc123.extracting" / "facades").mkdir(parents=True)
    (tmp_path / "facades.tar.gz.part").write_bytes(b"half")
    server.routes["/f.tar.gz"] = Route(files_tar(FACADES))
    download("facades", tmp_path, "pix2pix", url=server.url("/f.tar.gz"), progress=False)
    assert sorted(os.listdir(tmp_path)) == ["facades"]


def test_existing_foreign_folder_is_not_overwritten(server, tmp_path):
    (tmp_path / "facades" / "train").mkdir(parents=True)
    (tmp_path / "facades" / "train" / "mine.jpg").write_bytes(b"user data")
    server.routes["/f.tar.gz"] = Route(files_tar(FACADES))
    with pytest.raises(DatasetDownloadError, match=r"already exists and contains \['train'\]"):
        download("facades", tmp_path, "pix2pix", url=server.url("/f.tar.gz"), progress=False)
    assert tree(tmp_path) == {"facades", "facades/train", "facades/train/mine.jpg"}


# ------------------------------------------------------------------------------- malicious archives


@pytest.mark.parametrize(
    "evil",
    [
        ("file", "../x", b"escaped"),
        ("file", "facades/../../x", b"escaped"),
        ("file", "facades/../facades/x", b"stays inside"),  # '..' is refused even when it would not escape
        ("file", "ABSOLUTE", b"escaped"),  # replaced by an absolute path inside tmp_path below
        ("symlink", "facades/passwd", "/etc/passwd"),
        ("symlink", "facades/up", ".."),
        ("hardlink", "facades/passwd", "/etc/passwd"),
        ("chardev", "facades/null"),
        ("fifo", "facades/fifo"),
    ],
    ids=[
        "dotdot",
        "nested-dotdot",
        "inner-dotdot",
        "absolute",
        "symlink-abs",
        "symlink-rel",
        "hardlink",
        "device",
        "fifo",
    ],
)
def test_malicious_tar_is_refused(server, tmp_path, evil):
    root = tmp_path / "data"
    root.mkdir()
    if evil[1] == "ABSOLUTE":
        evil = ("file", str(tmp_path / "abs_x"), b"escaped")
    # A harmless member first, so a half-done extraction would be visible if it were left behind.
    server.routes["/evil.tar.gz"] = Route(tar_gz(("file", "facades/train/1.jpg", b"ok"), evil))
    before = tree(tmp_path)

    with pytest.raises(UnsafeArchiveError) as err:
        download("facades", root, "pix2pix", url=server.url("/evil.tar.gz"), progress=False)

    assert repr(evil[1]) in str(err.value)  # the offending member is named, with the reason
    if evil[0] in ("symlink", "hardlink"):
        assert f"link to {evil[2]!r}" in str(err.value)
    elif ".." in evil[1]:
        assert "'..' path component" in str(err.value)
    assert tree(tmp_path) == before  # nothing written anywhere: no escape, no partial folder, no archive


@pytest.mark.parametrize(
    "evil",
    [
        ("file", "../x", b"escaped"),
        ("file", "horse2zebra/../../x", b"escaped"),
        ("file", "horse2zebra/../horse2zebra/x", b"stays inside"),
        ("file", "ABSOLUTE", b"escaped"),
        ("file", "..\\x", b"escaped"),
        ("symlink", "horse2zebra/passwd", b"/etc/passwd"),
    ],
    ids=["dotdot", "nested-dotdot", "inner-dotdot", "absolute", "backslash-dotdot", "symlink"],
)
def test_malicious_zip_is_refused(server, tmp_path, evil):
    root = tmp_path / "data"
    root.mkdir()
    if evil[1] == "ABSOLUTE":
        evil = ("file", str(tmp_path / "abs_x"), b"escaped")
    server.routes["/evil.zip"] = Route(zip_bytes(("file", "horse2zebra/trainA/1.jpg", b"ok"), evil))
    before = tree(tmp_path)

    with pytest.raises(UnsafeArchiveError) as err:
        download("horse2zebra", root, "cyclegan", url=server.url("/evil.zip"), progress=False)

    assert repr(evil[1]) in str(err.value)
    if evil[0] == "symlink":
        assert "symbolic link to '/etc/passwd'" in str(err.value)
    elif ".." in evil[1]:
        assert "'..' path component" in str(err.value)
    assert tree(tmp_path) == before


# ---------------------------------------------------------------------------------- manual datasets


@pytest.mark.parametrize("family", ["pix2pix", "cyclegan"])
def test_cityscapes_explains_the_manual_download(server, tmp_path, family):
    root = tmp_path / "data"
    with pytest.raises(ManualDownloadRequired) as err:
        download("cityscapes", root, family, progress=False)
    message = str(err.value)
    for needle in (
        "cityscapes-dataset.com",
        "gtFine_trainvaltest.zip",
        "leftImg8bit_trainvaltest.zip",
        "prepare_cityscapes_dataset.py",
        f"--output_dir {root / 'cityscapes'}",
        "trainA/ trainB/",
    ):
        assert needle in message
    assert not root.exists() and server.requests == []


def test_cityscapes_prepared_by_hand_is_used_and_url_override_downloads(server, tmp_path):
    for split in ("trainA", "trainB"):
        (tmp_path / "cityscapes" / split).mkdir(parents=True)
        (tmp_path / "cityscapes" / split / "0.jpg").write_bytes(b"\xff\xd8")
    assert download("cityscapes", tmp_path, "cyclegan", progress=False) == tmp_path / "cityscapes"
    with pytest.raises(ManualDownloadRequired):  # the aligned train/ folder is still missing
        download("cityscapes", tmp_path, "pix2pix", progress=False)

    # Someone with a licence can point url= at their own archive.
    server.routes["/cs.tar.gz"] = Route(files_tar({"cityscapes/train/0.jpg": b"\xff\xd8AB"}))
    out = download("cityscapes", tmp_path, "pix2pix", url=server.url("/cs.tar.gz"), progress=False)
    assert (out / "train" / "0.jpg").read_bytes() == b"\xff\xd8AB" and (out / "trainA" / "0.jpg").is_file()


# ------------------------------------------------------------------------------------------ locking


def test_lock_held_by_a_live_process_times_out(server, tmp_path):
    server.routes["/f.tar.gz"] = Route(files_tar(FACADES))
    lock = tmp_path / ".facades.lock"
    lock.write_text(f"{os.getpid()}@{socket.gethostname()}")  # this very process: certainly alive
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=r"\.facades\.lock"):
        download("facades", tmp_path, "pix2pix", url=server.url("/f.tar.gz"), progress=False, lock_timeout=0.3)
    assert time.monotonic() - start >= 0.25  # it did wait for the holder
    assert lock.exists() and server.requests == []  # someone else's lock is never deleted


def test_stale_lock_of_a_dead_process_is_broken(server, tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    (tmp_path / ".facades.lock").write_text(f"{proc.pid}@{socket.gethostname()}")
    server.routes["/f.tar.gz"] = Route(files_tar(FACADES))
    out = download("facades", tmp_path, "pix2pix", url=server.url("/f.tar.gz"), progress=False, lock_timeout=30)
    assert (out / "train" / "1.jpg").is_file() and sorted(os.listdir(tmp_path)) == ["facades"]


def test_concurrent_calls_download_once(server, tmp_path):
    server.routes["/f.tar.gz"] = Route(files_tar(FACADES), delay=0.3)
    results, errors = [], []

    def worker() -> None:
        try:
            results.append(download("facades", tmp_path, "pix2pix", url=server.url("/f.tar.gz"), progress=False))
        except Exception as e:  # surfaced below; a thread's exception would otherwise be lost
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert errors == [] and results == [tmp_path / "facades"] * 3
    assert server.requests == ["/f.tar.gz"]


def test_held_lock_is_refreshed_so_long_downloads_are_waited_for(tmp_path, monkeypatch):
    monkeypatch.setattr(ds, "_HEARTBEAT", 0.05)
    lock = tmp_path / ".facades.lock"
    with ds._file_lock(lock, timeout=1.0, verbose=False):
        os.utime(lock, (time.time() - 3600, time.time() - 3600))
        time.sleep(0.3)
        assert time.time() - lock.stat().st_mtime < 5  # the holder's heartbeat touched it again
        assert lock.read_text() == f"{os.getpid()}@{socket.gethostname()}"
    assert not lock.exists()
