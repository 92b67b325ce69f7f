"""Catalogue of released weights and their download-once cache, against a local HTTP server (loopback only)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import MappingProxyType

import pytest
import torch

from translation_zoo import weights
from translation_zoo.data import datasets as ds
from translation_zoo.data.datasets import ChecksumError, DatasetDownloadError, UnsafeArchiveError, download_file
from translation_zoo.hub import from_official
from translation_zoo.models import CycleGAN, Pix2Pix
from translation_zoo.registry import model_class, official_class

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# The names of the official scripts of junyanz/pytorch-CycleGAN-and-pix2pix (their "available models" lines).
CYCLEGAN_NAMES = (
    "apple2orange, orange2apple, summer2winter_yosemite, winter2summer_yosemite, horse2zebra, zebra2horse, "
    "monet2photo, style_monet, style_cezanne, style_ukiyoe, style_vangogh, sat2map, map2sat, cityscapes_photo2label, "
    "cityscapes_label2photo, facades_photo2label, facades_label2photo, iphone2dslr_flower"
).split(", ")
PIX2PIX_NAMES = ["edges2shoes", "sat2map", "map2sat", "facades_label2photo", "day2night"]
H2Z_PATH = "/cyclegan/pretrained_models/horse2zebra.pth"


# -------------------------------------------------------------------------------------------------- server
class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        with self.server.lock:
            self.server.requests.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        body, announced = route
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(announced if announced is not None else len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True  # closing after fewer bytes than announced is a truncated transfer

    def log_message(self, *args) -> None:
        pass


class Server:
    """Serves ``routes[path] = (body, announced Content-Length or None)`` on 127.0.0.1 and records requests."""

    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.routes, self.httpd.requests, self.httpd.lock = {}, [], threading.Lock()
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05})
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def serve(self, path: str, body: bytes, announced: int | None = None) -> str:
        self.httpd.routes[path] = (body, announced)
        return self.base + path

    @property
    def requests(self) -> list[str]:
        return self.httpd.requests


@pytest.fixture
def server(monkeypatch):
    srv = Server()
    srv.thread.start()
    monkeypatch.setenv(ds.MIRROR_ENV, srv.base)  # the authors' URLs, with their paths, on the local server
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
    srv.thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No real network (no proxies; the authors' host mapped to a closed port) and a private cache."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv(ds.MIRROR_ENV, "http://127.0.0.1:9")
    monkeypatch.setenv("TRANSLATION_ZOO_DATA", str(tmp_path / "home"))
    monkeypatch.delenv(weights.OFFLINE_ENV, raising=False)


def tiny_cyclegan_g() -> dict[str, torch.Tensor]:
    """An official-layout ``latest_net_G.pth`` state dict: resnet_9blocks, instance norm, ngf 4."""
    torch.manual_seed(0)
    return CycleGAN(ngf=4, ndf=4).gen_a2b.state_dict()


def pth_bytes(sd: dict[str, torch.Tensor]) -> bytes:
    buf = io.BytesIO()
    torch.save(sd, buf)
    return buf.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data)  # ZipInfo keeps '..' names verbatim
    return buf.getvalue()


def tar_of(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def with_file(monkeypatch, name: str, **changes) -> weights.Pretrained:
    """Replace the first file of a catalogue entry (e.g. archive=, member=, sha256=, url=) for one test."""
    entry = weights.CATALOGUE[name]
    entry = dataclasses.replace(entry, files=(dataclasses.replace(entry.files[0], **changes),))
    monkeypatch.setitem(weights.CATALOGUE, name, entry)
    return entry


def tiny_options(monkeypatch, name: str, **options) -> None:
    entry = weights.CATALOGUE[name]
    new = dataclasses.replace(entry, options=MappingProxyType({**entry.options, **options}))
    monkeypatch.setitem(weights.CATALOGUE, name, new)


def cache_tree(tmp_path: Path) -> set[str]:
    root = tmp_path / "home"
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


# ----------------------------------------------------------------------------------------------- catalogue
def test_catalogue_holds_the_official_scripts_releases():
    assert weights.list_pretrained("cyclegan") == sorted(f"cyclegan/{n}" for n in CYCLEGAN_NAMES)
    assert weights.list_pretrained("pix2pix") == sorted(f"pix2pix/{n}" for n in PIX2PIX_NAMES)
    # Each paper file declares its own releases (tests/test_bicyclegan.py and tests/test_cut.py check theirs).
    assert {e.model for e in weights.CATALOGUE.values()} == {"CycleGAN", "Pix2Pix", "BicycleGAN", "CUT", "SPADE"}
    assert len(weights.CATALOGUE) == 18 + 5 + 5 + 6 + 3
    for name, entry in weights.CATALOGUE.items():
        assert entry.name == name and entry.licence.startswith("CC BY-NC-SA" if entry.model == "SPADE" else "BSD")
        assert all(file.sha256 is None for file in entry.files)  # the authors publish none; never invent one
        family, short = name.split("/")
        if family not in ("cyclegan", "pix2pix"):
            continue
        (file,) = entry.files
        official = {
            "cyclegan": f"http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/{short}.pth",
            "pix2pix": f"http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/{short}.pth",
        }[family]
        assert (file.url, file.archive, file.member, file.filename) == (official, None, None, "latest_net_G.pth")
        assert file.network == {"cyclegan": "G_A", "pix2pix": "G"}[family]
        assert (entry.input_nc, entry.output_nc, entry.size) == (3, 3, 256)


# Parameters (millions) of the released networks as the official code prints them ("Total number of parameters").
OFFICIAL_MILLIONS = {
    ("CycleGAN", "G_A", 3): 11.378,
    ("Pix2Pix", "G", 3): 54.414,
    ("BicycleGAN", "G", 1): 54.793,  # edges: 1-channel input, z added at every level
    ("BicycleGAN", "G", 3): 54.795,
    ("BicycleGAN", "E", 1): 2.590,  # E reads B (3 channels) whatever A has
    ("BicycleGAN", "E", 3): 2.590,
    ("CUT", "G", 3): 11.378,  # anti-aliasing adds buffers, no parameters
    # SPADE: label maps in (1 channel), one architecture per dataset (tests/test_spade.py pins the exact counts).
    ("SPADE", "G", "spade/coco"): 97.481,
    ("SPADE", "G", "spade/ade20k"): 96.492,
    ("SPADE", "G", "spade/cityscapes"): 93.048,
}


@pytest.mark.filterwarnings("ignore:no weights for")
def test_every_entry_constructs_its_model_and_takes_official_weights():
    """Each entry's options build its model; that model's released networks, in the official key layout, load back
    through from_official with the same options (so the options agree with what the weights' keys and shapes say).
    On the meta device: shapes and keys without the cost of real tensors."""
    checked = {}
    for entry in weights.CATALOGUE.values():
        key = (entry.model, tuple(sorted(entry.options.items())))
        if key in checked:
            continue
        cls = model_class(entry.model)
        assert official_class(entry.official_model) is cls
        networks = {file.network: cls.official_networks[file.network] for file in entry.files}
        with torch.device("meta"):
            model = cls(**entry.options)
            official = {
                name: cls.ours_to_official(name, getattr(model, attr).state_dict()) for name, attr in networks.items()
            }
            loaded = from_official(entry.official_model, **official, **entry.options)
        assert (model.inference_spec().input_nc, model.hparams.output_nc) == (entry.input_nc, entry.output_nc)
        assert type(loaded) is cls and dict(loaded.hparams) == dict(model.hparams)
        for name, attr in networks.items():
            n = sum(p.numel() for p in getattr(model, attr).parameters())
            which = entry.name if entry.model == "SPADE" else entry.input_nc
            assert round(n / 1e6, 3) == OFFICIAL_MILLIONS[entry.model, name, which], (entry.name, name)
        checked[key] = entry.name
    # One architecture per family, BicycleGAN's edges (1 channel) and photos (3), CUT's and FastCUT's modes.
    assert len(checked) == 6 + 3, checked


def test_entries_link_to_datasets_and_reverses():
    for entry in weights.CATALOGUE.values():
        if entry.dataset is None:  # e.g. CUT's cat2dog: the authors' AFHQ split has no download of ours
            continue
        family, name = entry.dataset.split("/")
        assert (family, name) in ds.DATASETS
        if entry.reverse is not None:
            other = weights.CATALOGUE[entry.reverse]
            assert other.reverse == entry.name and (other.source, other.target) == (entry.target, entry.source)
    assert weights.resolve("horse2zebra").reverse == "cyclegan/zebra2horse"
    assert weights.resolve("style_monet").reverse == "cyclegan/monet2photo"


def test_resolve_names():
    assert weights.resolve("cyclegan/horse2zebra") is weights.CATALOGUE["cyclegan/horse2zebra"]
    assert weights.resolve("Horse2Zebra_pretrained").name == "cyclegan/horse2zebra"
    assert weights.resolve("day2night").name == "pix2pix/day2night"
    with pytest.raises(ValueError, match="pix2pix/facades_label2photo"):
        weights.resolve("facades_label2photo")  # released for both
    with pytest.raises(ValueError, match="horse2zebra"):
        weights.resolve("cyclegan/hors2zebra")
    assert weights.is_pretrained_name("cyclegan/horse2zebra")
    assert not weights.is_pretrained_name("runs/x/last.ckpt")


# -------------------------------------------------------------------------------------------------- loading
def test_load_pretrained_downloads_once_into_the_data_home(server, tmp_path):
    sd = tiny_cyclegan_g()
    server.serve(H2Z_PATH, pth_bytes(sd))
    assert not weights.cached("cyclegan/horse2zebra")
    with pytest.warns(UserWarning, match="cyclegan/zebra2horse"):
        model = weights.load_pretrained("cyclegan/horse2zebra", ngf=4, progress=False)
    path = tmp_path / "home/weights/cyclegan/horse2zebra_pretrained/latest_net_G.pth"
    assert weights.fetch_weights("cyclegan/horse2zebra") == path.parent
    assert weights.cached("horse2zebra") and cache_tree(tmp_path) == {
        "weights",
        "weights/cyclegan",
        "weights/cyclegan/horse2zebra_pretrained",
        "weights/cyclegan/horse2zebra_pretrained/latest_net_G.pth",
    }
    assert isinstance(model, CycleGAN) and not model.training and model.inference_size == (256, 256)
    assert all(torch.equal(v, model.gen_a2b.state_dict()[k]) for k, v in sd.items())
    with pytest.warns(UserWarning):
        weights.load_pretrained("horse2zebra", ngf=4)
    assert server.requests == [H2Z_PATH]  # the second load used the cache


def test_load_pretrained_pix2pix_keeps_the_official_test_mode(server):
    torch.manual_seed(0)
    sd = Pix2Pix(ngf=2, ndf=2).gen.state_dict()  # unet_256, batch norm, dropout
    server.serve("/pix2pix/models-pytorch/day2night.pth", pth_bytes(sd))
    model = weights.load_pretrained("pix2pix/day2night", ngf=2)
    assert isinstance(model, Pix2Pix) and model.hparams.use_dropout and not model.hparams.eval_mode
    assert model.inference_size == (256, 256)
    with pytest.raises(ValueError, match="ngf"):  # an option contradicting the weights names the option
        weights.load_pretrained("pix2pix/day2night", ngf=8)
    with pytest.raises(ValueError, match="Pix2Pix weights"):
        weights.load_pretrained("pix2pix/day2night", model="cyclegan")
    assert isinstance(weights.load_pretrained("pix2pix/day2night", model="Pix2Pix", ngf=2, eval_mode=True), Pix2Pix)


def test_offline_and_failed_downloads_name_the_url_and_the_path_and_a_file_put_there_is_used(
    server, tmp_path, monkeypatch
):
    path = tmp_path / "home/weights/cyclegan/horse2zebra_pretrained/latest_net_G.pth"
    url = server.base + H2Z_PATH
    with pytest.raises(DatasetDownloadError, match="HTTP 404") as err:
        weights.load_pretrained("cyclegan/horse2zebra", progress=False)
    assert url in str(err.value) and str(path) in str(err.value)
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    with pytest.raises(DatasetDownloadError, match=weights.OFFLINE_ENV) as err:
        weights.fetch_weights("cyclegan/horse2zebra")
    assert url in str(err.value) and str(path) in str(err.value)
    assert server.requests == [H2Z_PATH]  # offline: no request at all
    assert not path.exists()

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(tiny_cyclegan_g(), path)  # put there by hand, as the message says
    with pytest.warns(UserWarning):
        model = weights.load_pretrained("cyclegan/horse2zebra", ngf=4)
    assert isinstance(model, CycleGAN) and server.requests == [H2Z_PATH]


def test_truncated_transfer_keeps_nothing_and_a_retry_succeeds(server, tmp_path):
    body = pth_bytes(tiny_cyclegan_g())
    server.serve(H2Z_PATH, body[:1000], announced=len(body))
    with pytest.raises(DatasetDownloadError, match=f"1000 of {len(body)} bytes") as err:
        weights.fetch_weights("cyclegan/horse2zebra", progress=False)
    assert "horse2zebra_pretrained/latest_net_G.pth" in str(err.value)
    folder = tmp_path / "home/weights/cyclegan/horse2zebra_pretrained"
    assert sorted(os.listdir(folder)) == []  # no .part, no lock
    server.serve(H2Z_PATH, body)
    assert (weights.fetch_weights("cyclegan/horse2zebra") / "latest_net_G.pth").read_bytes() == body


def test_checksum_is_verified_on_download_and_on_a_cached_file(server, tmp_path, monkeypatch):
    body = pth_bytes(tiny_cyclegan_g())
    server.serve(H2Z_PATH, body)
    with_file(monkeypatch, "cyclegan/horse2zebra", sha256="0" * 64)
    with pytest.raises(ChecksumError, match="SHA-256 mismatch") as err:
        weights.fetch_weights("cyclegan/horse2zebra", progress=False)
    assert "latest_net_G.pth" in str(err.value)  # where to put a good copy
    folder = tmp_path / "home/weights/cyclegan/horse2zebra_pretrained"
    assert os.listdir(folder) == []

    with_file(monkeypatch, "cyclegan/horse2zebra", sha256=hashlib.sha256(body).hexdigest())
    assert (weights.fetch_weights("cyclegan/horse2zebra") / "latest_net_G.pth").read_bytes() == body
    (folder / "latest_net_G.pth").write_bytes(body[:-1] + b"x")  # damaged afterwards (or a wrong file by hand)
    with pytest.raises(ChecksumError, match="Delete it"):
        weights.fetch_weights("cyclegan/horse2zebra")


@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz"])
def test_weights_in_an_archive_take_one_member(server, tmp_path, monkeypatch, kind):
    body = pth_bytes(tiny_cyclegan_g())
    members = {"checkpoints/h2z/latest_net_G.pth": body, "checkpoints/h2z/latest_net_D.pth": b"other"}
    data = zip_of(members) if kind == "zip" else tar_of(members, "w:gz" if kind == "tar.gz" else "w")
    url = server.serve(f"/models.{kind}", data)
    with_file(monkeypatch, "cyclegan/horse2zebra", url=url, archive=kind, member="checkpoints/h2z/latest_net_G.pth")
    folder = weights.fetch_weights("cyclegan/horse2zebra", progress=False)
    assert os.listdir(folder) == ["latest_net_G.pth"] and (folder / "latest_net_G.pth").read_bytes() == body

    with_file(monkeypatch, "cyclegan/zebra2horse", url=url, archive=kind, member="checkpoints/z2h/latest_net_G.pth")
    with pytest.raises(DatasetDownloadError, match=r"has no file 'checkpoints/z2h/latest_net_G.pth'.*latest_net_D"):
        weights.fetch_weights("cyclegan/zebra2horse", progress=False)
    assert os.listdir(tmp_path / "home/weights/cyclegan/zebra2horse_pretrained") == []


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_archive_with_a_path_traversal_member_is_refused(server, tmp_path, monkeypatch, kind):
    members = {"latest_net_G.pth": pth_bytes(tiny_cyclegan_g()), "../../../escaped.txt": b"owned"}
    url = server.serve(f"/evil.{kind}", zip_of(members) if kind == "zip" else tar_of(members))
    with_file(monkeypatch, "cyclegan/horse2zebra", url=url, archive=kind, member="latest_net_G.pth")
    with pytest.raises(UnsafeArchiveError, match=r"'\.\.' path component") as err:
        weights.fetch_weights("cyclegan/horse2zebra", progress=False)
    assert "latest_net_G.pth" in str(err.value)
    assert not any(p.name == "escaped.txt" for p in tmp_path.rglob("*"))
    assert os.listdir(tmp_path / "home/weights/cyclegan/horse2zebra_pretrained") == []


def test_concurrent_loads_download_once(server):
    server.serve(H2Z_PATH, pth_bytes(tiny_cyclegan_g()))
    results, errors = [], []

    def worker() -> None:
        try:
            results.append(weights.fetch_weights("cyclegan/horse2zebra", progress=False))
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert errors == [] and len(set(results)) == 1 and server.requests == [H2Z_PATH]


def test_download_file_checks_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="member="):
        download_file("http://127.0.0.1:9/x.zip", tmp_path / "x", archive="zip")
    with pytest.raises(ValueError, match="relative path"):
        download_file("http://127.0.0.1:9/x.zip", tmp_path / "x", archive="zip", member="/etc/passwd")
    with pytest.raises(ValueError, match="archive="):
        download_file("http://127.0.0.1:9/x.pth", tmp_path / "x", member="a")
    with pytest.raises(ValueError, match="Unsupported URL"):
        download_file("ftp://host/x.pth", tmp_path / "x")
    with pytest.raises(ValueError, match="64 hexadecimal"):
        download_file("http://127.0.0.1:9/x.pth", tmp_path / "x", sha256="abc")
    (tmp_path / "x").write_bytes(b"by hand")  # an existing file is returned without any request
    assert download_file("http://127.0.0.1:9/x.pth", tmp_path / "x") == tmp_path / "x"


def test_file_urls_and_a_hand_placed_archive_need_no_server(tmp_path):
    src = tmp_path / "src.pth"
    src.write_bytes(b"weights")
    out = download_file(src.as_uri(), tmp_path / "a" / "latest_net_G.pth", progress=False)
    assert out.read_bytes() == b"weights"
    dest = tmp_path / "b" / "latest_net_G.pth"
    dest.parent.mkdir()
    Path(f"{dest}.zip").write_bytes(zip_of({"m/latest_net_G.pth": b"zipped"}))  # the archive put there by hand
    assert download_file("http://127.0.0.1:9/gone.zip", dest, archive="zip", member="m/latest_net_G.pth") == dest
    assert dest.read_bytes() == b"zipped" and os.listdir(dest.parent) == ["latest_net_G.pth"]
