"""Convert the official BAIR robot pushing TFRecords into frame folders that ``VideoDataModule`` reads.

The official archive (``http://rail.eecs.berkeley.edu/datasets/bair_robot_pushing_dataset_v0.tar``, 30 GB; the
download of SAVP's ``data/download_and_preprocess_dataset.sh bair``) unpacks to ``softmotion30_44k/train/`` and
``softmotion30_44k/test/``, files ``traj_<first>_to_<last>.tfrecords`` of 256 trajectories each. Every trajectory
is one ``tf.train.Example`` with, for each time step ``t`` of 30, the 64x64 RGB frame ``<t>/image_aux1/encoded``
(raw uint8 bytes; SAVP's ``SoftmotionVideoDataset`` with ``jpeg_encoding=False``), the 4-d ``<t>/action`` and the
3-d ``<t>/endeffector_pos``.

Output, the ``clips`` layout of :mod:`translation_zoo.data.video`::

    OUT/<split>/traj_<k>/00.png ... 29.png   (+ actions.npy (30, 4), endeffector_pos.npy (30, 3) float32)

with SAVP's splits: ``test`` = the official test files; ``val`` = ``train/traj_256_to_511.tfrecords`` (SAVP moves
that one file out of the training set); ``train`` = the other training files.

No TensorFlow is needed: TFRecord framing and the ``Example`` protocol buffer are read by the small decoder below
(the records' CRC32C checksums are not verified; a truncated file is an error naming it).

Usage:
    python scripts/convert_bair_tfrecords.py data/softmotion30_44k data/bair
    python scripts/convert_bair_tfrecords.py SRC OUT --max-files 2      # a quick partial conversion
"""

from __future__ import annotations

import argparse
import re
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

SAVP_VAL_FILE = "traj_256_to_511.tfrecords"
IMAGE_NAMES = ("image_aux1", "image_view0")  # SAVP's order of preference
_TRAJ = re.compile(r"traj_(\d+)_to_(\d+)\.tfrecords$")


# ------------------------------------------------------------------------------------------ reading
def tfrecords(path: Path) -> Iterator[bytes]:
    """The records of a TFRecord file: ``uint64 length, uint32 crc, data, uint32 crc`` each (little endian)."""
    with open(path, "rb") as f:
        while True:
            head = f.read(12)
            if not head:
                return
            if len(head) < 12:
                raise ValueError(f"{path}: truncated record header")
            (length,) = struct.unpack("<Q", head[:8])
            data = f.read(length)
            if len(data) < length or len(f.read(4)) < 4:
                raise ValueError(f"{path}: truncated record (expected {length} bytes)")
            yield data


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, bytes | int]]:
    """(field number, wire type, value) of a protocol buffer message; LEN values as bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + n], pos + n
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protocol buffer wire type {wire}")
        yield number, wire, value


def _feature(buf: bytes) -> list:
    """A ``tf.train.Feature``: its bytes_list (1), float_list (2) or int64_list (3) values."""
    for kind, _, payload in _fields(buf):
        values: list = []
        for _, wire, v in _fields(payload):
            if kind == 1:
                values.append(v)
            elif kind == 2:  # packed (wire 2) or single (wire 5) float32
                values.extend(struct.unpack(f"<{len(v) // 4}f", v) if wire == 2 else struct.unpack("<f", v))
            elif wire == 2:  # packed varints
                pos = 0
                while pos < len(v):
                    x, pos = _varint(v, pos)
                    values.append(x)
            else:
                values.append(v)
        return values
    return []


def parse_example(record: bytes) -> dict[str, list]:
    """A serialized ``tf.train.Example`` as {feature name: values}."""
    out: dict[str, list] = {}
    for number, _, features in _fields(record):
        if number != 1:
            continue
        for entry_number, _, entry in _fields(features):
            if entry_number != 1:
                continue
            key, value = "", b""
            for n, _, v in _fields(entry):
                if n == 1:
                    key = v.decode()
                elif n == 2:
                    value = v
            out[key] = _feature(value)
    return out


def trajectory(example: dict[str, list]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(frames (T, 64, 64, 3) uint8, {"actions", "endeffector_pos"} float32) of one BAIR trajectory."""
    names = {m.group(1) for k in example for m in [re.match(r"\d+/(\w+)/encoded$", k)] if m}
    image_name = next((n for n in IMAGE_NAMES if n in names), None)
    if image_name is None:
        raise ValueError(f"no image feature among {sorted(names)} (expected one of {IMAGE_NAMES})")
    steps = sorted(int(k.split("/")[0]) for k in example if k.endswith(f"/{image_name}/encoded"))
    frames = []
    for t in steps:
        (raw,) = example[f"{t}/{image_name}/encoded"]
        if len(raw) == 64 * 64 * 3:
            frames.append(np.frombuffer(raw, np.uint8).reshape(64, 64, 3))
        else:  # JPEG-encoded variants of the dataset
            import io

            frames.append(np.asarray(Image.open(io.BytesIO(raw)).convert("RGB")))
    extras = {}
    for name, key in (("actions", "action"), ("endeffector_pos", "endeffector_pos")):
        if f"{steps[0]}/{key}" in example:
            extras[name] = np.array([example[f"{t}/{key}"] for t in steps], dtype=np.float32)
    return np.stack(frames), extras


# ------------------------------------------------------------------------------------------ converting
def split_files(src: Path) -> dict[str, list[Path]]:
    """SAVP's splits of the official files (see the module docstring), each in trajectory order."""

    def ordered(folder: Path) -> list[Path]:
        files = [p for p in folder.glob("*.tfrecords") if _TRAJ.search(p.name)]
        return sorted(files, key=lambda p: int(_TRAJ.search(p.name).group(1)))

    if not (src / "train").is_dir():
        raise SystemExit(f"{src} has no train/ folder: pass the unpacked softmotion30_44k/ folder")
    train = ordered(src / "train")
    return {
        "train": [p for p in train if p.name != SAVP_VAL_FILE],
        "val": [p for p in train if p.name == SAVP_VAL_FILE],
        "test": ordered(src / "test") if (src / "test").is_dir() else [],
    }


def convert(src: Path, out: Path, max_files: int | None = None, verbose: bool = True) -> dict[str, int]:
    """Convert every split; returns the number of trajectories written per split. Existing clips are kept."""
    counts = {}
    for split, files in split_files(src).items():
        n = 0
        for path in files[:max_files]:
            first = int(_TRAJ.search(path.name).group(1))
            for i, record in enumerate(tfrecords(path)):
                clip = out / split / f"traj_{first + i:05d}"
                if (clip / "29.png").is_file():
                    n += 1
                    continue
                frames, extras = trajectory(parse_example(record))
                clip.mkdir(parents=True, exist_ok=True)
                for t, frame in enumerate(frames):
                    Image.fromarray(frame).save(clip / f"{t:02d}.png")
                for name, values in extras.items():
                    np.save(clip / f"{name}.npy", values)
                n += 1
            if verbose:
                print(f"{path.name}: {split} ({n} trajectories so far)")
        counts[split] = n
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", type=Path, help="the unpacked softmotion30_44k/ folder (train/, test/)")
    parser.add_argument("out", type=Path, help="output root: OUT/{train,val,test}/traj_<k>/<t>.png")
    parser.add_argument("--max-files", type=int, default=None, help="convert at most this many files per split")
    args = parser.parse_args()
    print(convert(args.src, args.out, args.max_files))


if __name__ == "__main__":
    main()
