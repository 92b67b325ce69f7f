"""VideoDataModule: frame folders and video files, clip indexing, one crop/flip per clip, errors naming the file,
lazy decoding, the official layouts on tiny synthetic files, and the embedded Moving-MNIST demos."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from translation_zoo.data import video
from translation_zoo.data.base import DataError
from translation_zoo.data.video import (
    DEMO_SPLITS,
    DemoVideoDataModule,
    VideoDataModule,
    canny_edges,
    list_sources,
    moving_mnist_clip,
    natural_key,
)

HAS_AV = importlib.util.find_spec("av") is not None
BACKENDS = ["opencv", pytest.param("pyav", marks=pytest.mark.skipif(not HAS_AV, reason="PyAV not installed"))]
W, H = 24, 16


# ------------------------------------------------------------------------------------------ synthetic clips
def _frame(k: int, w: int = W, h: int = H) -> np.ndarray:
    """RGB frame encoding ``k`` (0..255) in coarse grey levels that survive JPEG/MPEG-4: left half k // 16, right
    half k % 16, both as 16 * v + 8."""
    f = np.zeros((h, w, 3), np.uint8)
    f[:, : w // 2] = (k // 16) * 16 + 8
    f[:, w // 2 :] = (k % 16) * 16 + 8
    return f


def _index(frame: torch.Tensor) -> int:
    """Read back ``_frame``'s k from a (C, H, W) tensor in [-1, 1] (centre pixels of each half)."""
    x = (frame.float() + 1) * 127.5
    w = x.shape[-1]
    left = x[..., 3:-3, 2 : w // 2 - 2].mean().item()
    right = x[..., 3:-3, w // 2 + 2 : -2].mean().item()
    return int(round((left - 8) / 16)) * 16 + int(round((right - 8) / 16))


def _frame_folder(folder: Path, n: int, offset: int = 0, size: tuple[int, int] = (W, H)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        # 1-based names without zero padding: natural order differs from plain string order (10 < 2).
        Image.fromarray(_frame(offset + k, *size)).save(folder / f"frame{k + 1}.png")
    return folder


def _video(path: Path, n: int, offset: int = 0, fourcc: str = "MJPG", size: tuple[int, int] = (W, H)) -> Path:
    """A video file with OpenCV's FFmpeg writer (MJPG: every frame a keyframe; mp4v: MPEG-4 part 2)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25, size)
    assert writer.isOpened()
    for k in range(n):
        writer.write(_frame((offset + k) % 256, *size)[..., ::-1])  # OpenCV wants BGR
    writer.release()
    return path


def _module(root: Path, **kw) -> VideoDataModule:
    kw.setdefault("clip_length", 4)
    kw.setdefault("n_context", 1)
    kw.setdefault("batch_size", 2)
    return VideoDataModule(root=str(root), num_workers=0, **kw)


# ------------------------------------------------------------------------------------------ options, layouts
def test_init_touches_no_disk_and_checks_options(tmp_path):
    dm = VideoDataModule(root=str(tmp_path / "absent"))
    assert dm.batch_kind == "video" and dm.span == 12 and not dm.paired
    with pytest.raises(DataError, match="root .*absent does not exist"):
        dm.setup("fit")
    for bad, match in (
        ({"clip_length": 0}, "clip_length"),
        ({"clip_length": 4, "n_context": 5}, "n_context"),
        ({"frame_step": 0}, "frame_step"),
        ({"stride": 0}, "stride"),
        ({"layout": "frames"}, "layout"),
        ({"channels": 2}, "channels"),
        ({"video_backend": "torchvision"}, "video_backend"),
        ({"layout": "vid2vid", "label_dir": "x"}, "label_dir"),
        ({"preprocess": "resize_and_crop", "load_size": 32, "crop_size": 64}, "crop_size"),
    ):
        with pytest.raises(DataError, match=match):
            VideoDataModule(**bad)
    assert VideoDataModule(clip_length=5, frame_step=3).span == 13


def test_natural_order_of_frames_and_clips(tmp_path):
    assert sorted(["f10.png", "f2.png", "f1.png"], key=natural_key) == ["f1.png", "f2.png", "f10.png"]
    _frame_folder(tmp_path / "train" / "clip10", 3)
    _frame_folder(tmp_path / "train" / "clip2", 12)
    _video(tmp_path / "train" / "nested" / "v.avi", 5)
    (tmp_path / "train" / ".hidden").mkdir()
    Image.fromarray(_frame(0)).save(tmp_path / "train" / ".hidden" / "x.png")
    sources = list_sources(tmp_path / "train")
    assert [s.name for s in sources] == ["clip2", "clip10", "nested/v.avi"]
    assert [p.name for p in sources[0].frames][:3] == ["frame1.png", "frame2.png", "frame3.png"]
    assert sources[2].is_video


def test_frame_folder_batches(tmp_path):
    for c in range(3):
        _frame_folder(tmp_path / "train" / f"clip{c}", 12, offset=50 * c)
    _frame_folder(tmp_path / "val" / "clip0", 12, offset=200)
    dm = _module(tmp_path, clip_length=4, n_context=1, frame_step=2, channels=3)
    dm.setup("fit")
    batch = next(iter(dm.val_dataloader()))
    assert set(batch) == {"frames", "n_context", "start", "path"}
    assert batch["frames"].shape == (1, 4, 3, H, W) and batch["frames"].dtype == torch.float32
    assert batch["frames"].min() >= -1 and batch["frames"].max() <= 1
    assert batch["n_context"].tolist() == [1] and batch["start"].tolist() == [0] and batch["path"] == ["clip0"]
    # Frames in natural order, frame_step apart: 200, 202, 204, 206.
    assert [_index(f) for f in batch["frames"][0]] == [200, 202, 204, 206]
    batch = next(iter(dm.train_dataloader()))
    assert batch["frames"].shape == (2, 4, 3, H, W)
    for clip, start, path in zip(batch["frames"], batch["start"].tolist(), batch["path"]):
        offset = 50 * int(path[-1])
        assert [_index(f) for f in clip] == [offset + start + 2 * t for t in range(4)]


@pytest.mark.parametrize(
    "n, clip_length, frame_step, stride, expected_eval_starts",
    [
        (10, 3, 2, None, [0]),  # span 5: one item per source
        (10, 3, 2, 2, [0, 2, 4]),  # last start 5: 0, 2, 4
        (10, 3, 1, 1, [0, 1, 2, 3, 4, 5, 6, 7]),
        (10, 5, 2, 3, [0]),  # span 9, last start 1
        (12, 4, 1, 4, [0, 4, 8]),
    ],
)
def test_clip_indexing(tmp_path, n, clip_length, frame_step, stride, expected_eval_starts):
    _frame_folder(tmp_path / "train" / "a", n)
    _frame_folder(tmp_path / "val" / "a", n)
    dm = _module(tmp_path, clip_length=clip_length, n_context=1, frame_step=frame_step, stride=stride)
    dm.setup("fit")
    assert len(dm.val_set) == len(dm.train_set) == len(expected_eval_starts)
    assert [dm.val_set[i]["start"] for i in range(len(dm.val_set))] == expected_eval_starts
    # Training: every valid start 0 .. n - span is drawn, each item within its window.
    last = n - dm.span
    seen = set()
    torch.manual_seed(0)
    for _ in range(30):
        for i in range(len(dm.train_set)):
            item = dm.train_set[i]
            lo = expected_eval_starts[i]
            hi = last if stride is None else min(lo + stride - 1, last)
            assert lo <= item["start"] <= hi
            assert [_index(f) for f in item["frames"]] == [item["start"] + frame_step * t for t in range(clip_length)]
            seen.add(item["start"])
    assert seen == set(range(last + 1))


def test_random_start_off_and_deterministic_evaluation(tmp_path):
    _frame_folder(tmp_path / "train" / "a", 20)
    _frame_folder(tmp_path / "val" / "a", 20)
    fixed = _module(tmp_path, random_start=False)
    fixed.setup("fit")
    assert {fixed.train_set[0]["start"] for _ in range(10)} == {0}
    dm = _module(tmp_path, stride=4, preprocess="crop", crop_size=8, flip=True)
    dm.setup("fit")
    first = [dm.val_set[i] for i in range(len(dm.val_set))]
    again = [b for b in dm.val_dataloader()]
    assert torch.equal(torch.cat([b["frames"] for b in again]), torch.stack([f["frames"] for f in first]))
    # Training draws repeat under the same torch seed (the resumable loader seeds every sample).
    torch.manual_seed(3)
    a = dm.train_set[1]
    torch.manual_seed(3)
    b = dm.train_set[1]
    assert a["start"] == b["start"] and torch.equal(a["frames"], b["frames"])


def _texture(seed: int, w: int = 40, h: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 8, (h, w)).astype(np.uint8)


def _photo_of(ids: np.ndarray, t: int) -> np.ndarray:
    """An RGB frame that is a pixelwise function of the label ids and the frame number."""
    return np.stack([ids * 30, np.full_like(ids, 10 * t), ids * 5], -1).astype(np.uint8)


@pytest.mark.parametrize("label_nc", [8, 0])
def test_one_crop_and_flip_for_every_frame_and_label(tmp_path, label_nc):
    """Each label frame is a shifted window of one texture; frames are functions of their labels. After a random
    crop/flip, every frame must still be that function of its label, and label frames keep their relative shift."""
    base = _texture(0, w=48)
    for t in range(6):
        ids = base[:, t : t + 40]  # the texture moves 1 px per frame
        (tmp_path / "train" / "c").mkdir(parents=True, exist_ok=True)
        (tmp_path / "labels" / "train" / "c").mkdir(parents=True, exist_ok=True)
        Image.fromarray(_photo_of(ids, t)).save(tmp_path / "train" / "c" / f"{t}.png")
        label = ids if label_nc else (ids * 30).astype(np.uint8)
        Image.fromarray(label).save(tmp_path / "labels" / "train" / "c" / f"{t}.png")
    dm = _module(
        tmp_path,
        clip_length=6,
        label_dir=str(tmp_path / "labels"),
        label_nc=label_nc,
        label_channels=1,
        preprocess="crop",
        crop_size=16,
        flip=True,
    )
    dm.setup("fit")
    assert dm.paired and dm.val_set is None
    views, flips = set(), set()
    for seed in range(25):
        torch.manual_seed(seed)
        item = dm.train_set[0]
        frames, label = item["frames"], item["label"]
        assert frames.shape == (6, 3, 16, 16) and label.shape == (6, 1, 16, 16)
        if label_nc:
            assert label.dtype == torch.int64
            ids = label[:, 0].numpy()
        else:
            assert label.dtype == torch.float32
            ids = np.round((label[:, 0].numpy() + 1) * 127.5 / 30).astype(np.int64)
        for t in range(6):
            expected = torch.from_numpy(_photo_of(ids[t], t).transpose(2, 0, 1).astype(np.float32)) / 127.5 - 1
            assert torch.allclose(frames[t], expected, atol=1e-6)
        # Same window for every frame: consecutive label frames differ by the texture's 1 px motion (left or right
        # depending on the flip), nowhere else.
        right = all(np.array_equal(ids[t][:, :-1], ids[t + 1][:, 1:]) for t in range(5))  # flipped
        left = all(np.array_equal(ids[t][:, 1:], ids[t + 1][:, :-1]) for t in range(5))
        assert left != right
        flips.add(right)
        views.add(ids[0].tobytes())
    assert flips == {True, False} and len(views) > 10


# ------------------------------------------------------------------------------------------ video files
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fourcc, suffix", [("MJPG", ".avi"), ("mp4v", ".mp4")])
def test_video_files(tmp_path, backend, fourcc, suffix):
    _video(tmp_path / "train" / f"a{suffix}", 60, fourcc=fourcc)
    _video(tmp_path / "train" / f"b{suffix}", 40, offset=100, fourcc=fourcc)
    _video(tmp_path / "test" / f"a{suffix}", 30, offset=7, fourcc=fourcc)
    dm = _module(tmp_path, clip_length=5, frame_step=3, stride=10, video_backend=backend, channels=1)
    dm.setup("fit")
    # a: 60 frames, span 13, starts 0..47 -> 5 items; b: 40 frames, starts 0..27 -> 3 items.
    assert len(dm.train_set) == 8 and dm.val_set is None
    torch.manual_seed(0)
    for i in range(len(dm.train_set)):
        item = dm.train_set[i]
        offset = 0 if item["path"].startswith("a") else 100
        assert item["frames"].shape == (5, 1, H, W)
        assert [_index(f) for f in item["frames"]] == [offset + item["start"] + 3 * t for t in range(5)]
    dm.setup("test")
    batch = next(iter(dm.test_dataloader()))
    assert batch["path"] == [f"a{suffix}"] * 2 and batch["start"].tolist() == [0, 10]  # 30 frames: starts 0, 10
    assert [_index(f) for f in batch["frames"][1]] == [17 + 3 * t for t in range(5)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fourcc, suffix", [("MJPG", ".avi"), ("mp4v", ".mp4")])
def test_videos_are_decoded_lazily(tmp_path, monkeypatch, backend, fourcc, suffix):
    """A clip near the end of a long video decodes only the clip's frames (PyAV: from the keyframe before it on;
    OpenCV's MPEG-4 encoder puts one every 12 frames), never the whole video."""
    path = _video(tmp_path / "train" / f"long{suffix}", 3000, fourcc=fourcc, size=(16, 16))
    keyframe_gap = 0 if fourcc == "MJPG" else 12  # MJPG: every frame is a keyframe
    decoded: list[int] = []
    original = video._decoded_frames

    def counting(path, first, backend):
        for index, frame in original(path, first, backend):
            decoded.append(index)
            yield index, frame

    monkeypatch.setattr(video, "_decoded_frames", counting)
    frames = video.read_video_frames(path, [2500, 2502, 2504, 2506], backend)
    assert [_index(torch.from_numpy(f).permute(2, 0, 1) / 127.5 - 1) for f in frames] == [
        k % 256 for k in (2500, 2502, 2504, 2506)
    ]
    assert decoded[-7:] == list(range(2500, 2507)) and decoded[0] >= 2500 - keyframe_gap
    decoded.clear()
    dm = _module(tmp_path, clip_length=10, stride=100, video_backend=backend, random_start=False)
    dm.setup("fit")
    assert len(dm.train_set) == 30 and not decoded  # indexing reads the header only
    dm.train_set[29]
    assert decoded[-10:] == list(range(2900, 2910)) and decoded[0] >= 2900 - keyframe_gap


# ------------------------------------------------------------------------------------------ errors
def test_clip_shorter_than_a_clip_is_named(tmp_path):
    _frame_folder(tmp_path / "train" / "ok", 12)
    _frame_folder(tmp_path / "train" / "short", 6)
    dm = _module(tmp_path, clip_length=4, frame_step=2)  # span 7
    with pytest.raises(DataError, match=r"short has 6 frames, fewer than one clip needs.* = 7"):
        dm.setup("fit")


@pytest.mark.parametrize("backend", BACKENDS)
def test_undecodable_and_truncated_videos_are_named(tmp_path, backend):
    bad = tmp_path / "train" / "broken.mp4"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(DataError, match="cannot decode video .*broken.mp4"):
        _module(tmp_path, video_backend=backend).setup("fit")
    bad.unlink()
    path = _video(tmp_path / "train" / "cut.avi", 200)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])  # the header still announces 200 frames
    with pytest.raises(DataError, match="cannot decode video .*cut.avi"):
        dm = _module(tmp_path, clip_length=10, stride=10, random_start=False, video_backend=backend)
        dm.setup("fit")
        dm.train_set[len(dm.train_set) - 1]


def test_frames_of_different_sizes_are_named(tmp_path):
    clip = _frame_folder(tmp_path / "train" / "c", 6)
    Image.fromarray(_frame(3, w=W + 8)).save(clip / "frame4.png")
    dm = _module(tmp_path, clip_length=6)
    dm.setup("fit")
    with pytest.raises(DataError, match=r"frame4.png is 32x16 and .*frame1.png is 24x16"):
        dm.train_set[0]


def test_paired_clip_errors(tmp_path):
    _frame_folder(tmp_path / "train" / "a", 8)
    _frame_folder(tmp_path / "train" / "b", 8)
    _frame_folder(tmp_path / "labels" / "train" / "a", 7)
    dm = _module(tmp_path, label_dir=str(tmp_path / "labels"))
    with pytest.raises(DataError, match=r"needs its label clip .*missing: \[b\]"):
        dm.setup("fit")
    _frame_folder(tmp_path / "labels" / "train" / "b", 8)
    with pytest.raises(DataError, match=r"label clip .*labels/train/a has 7 frames but its clip .*train/a has 8"):
        _module(tmp_path, label_dir=str(tmp_path / "labels")).setup("fit")
    # Ids >= label_nc are named with the file.
    _frame_folder(tmp_path / "labels" / "train" / "a", 8)
    for f in (tmp_path / "labels" / "train").rglob("*.png"):
        Image.fromarray(np.full((H, W), 9, np.uint8)).save(f)
    dm = _module(tmp_path, label_dir=str(tmp_path / "labels"), label_nc=5, random_start=False)
    dm.setup("fit")
    with pytest.raises(DataError, match=r"labels/train/a/frame1.png: label id 9 >= label_nc=5"):
        dm.train_set[0]


# ------------------------------------------------------------------------------------------ official layouts
def test_vid2vid_layout_pairs_by_position(tmp_path):
    for split in ("train", "test"):
        _frame_folder(tmp_path / f"{split}_B" / "seq0000", 8)
        ids = tmp_path / f"{split}_A" / "seq0000"
        ids.mkdir(parents=True)
        for t in range(8):  # other names than the frames (vid2vid pairs sorted files by position)
            Image.fromarray(np.full((H, W), t, np.uint8)).save(ids / f"label_{t:03d}.png")
    dm = _module(tmp_path, layout="vid2vid", label_nc=10, clip_length=3, stride=2, random_start=False)
    dm.setup("fit")
    assert dm.val_set is None and len(dm.train_set) == 3
    item = dm.train_set[2]
    assert item["label"][:, 0, 0, 0].tolist() == [4, 5, 6] and [_index(f) for f in item["frames"]] == [4, 5, 6]
    (tmp_path / "other_B" / "s").mkdir(parents=True)
    with pytest.raises(DataError, match="other_A"):
        _module(tmp_path, layout="vid2vid", train_split="other").setup("fit")


def test_kth_layout_splits_by_person(tmp_path):
    for person in (1, 2, 16, 17, 25):
        for action in ("walking", "boxing"):
            _video(tmp_path / action / f"person{person:02d}_{action}_d1_uncomp.avi", 12, offset=person)
    dm = _module(tmp_path, layout="kth", clip_length=4, channels=1, video_backend="opencv")
    dm.setup("fit")
    dm.setup("test")
    names = {s: sorted(Path(c.source.name).name for c in ds.items) for s, ds in
             (("train", dm.train_set), ("test", dm.test_set))}  # fmt: skip
    assert all(int(n[6:8]) <= 16 for n in names["train"]) and len(names["train"]) == 6 - len(dm.val_set or [])
    assert sorted(int(n[6:8]) for n in names["test"]) == [17, 17, 25, 25]
    item = dm.test_set[0]
    assert item["frames"].shape == (4, 1, H, W) and _index(item["frames"][0]) == 17


def test_cityscapes_sequence_layout(tmp_path):
    """Snippets are runs of consecutive frame numbers of one <city>_<seq>; labels pair by frame name."""
    seq = tmp_path / "leftImg8bit_sequence" / "train"
    labels = tmp_path / "seg" / "train"
    runs = [("aachen", "000000", range(0, 6)), ("aachen", "000001", range(10, 16)), ("bremen", "000000", range(3, 9))]
    runs.append(("aachen", "000001", range(40, 46)))  # a second snippet of one sequence, after a jump
    for city, s_id, frames in runs:
        (seq / city).mkdir(parents=True, exist_ok=True)
        (labels / city).mkdir(parents=True, exist_ok=True)
        for k in frames:
            stem = f"{city}_{s_id}_{k:06d}"
            Image.fromarray(_frame(k)).save(seq / city / f"{stem}_leftImg8bit.png")
            Image.fromarray(np.full((H, W), k % 20, np.uint8)).save(labels / city / f"{stem}_labelIds.png")
    dm = _module(tmp_path, layout="cityscapes", clip_length=4, label_dir=str(tmp_path / "seg"), label_nc=20)
    dm.setup("fit")
    assert [i.source.name for i in dm.train_set.items] == [
        "aachen/aachen_000000_000000",
        "aachen/aachen_000001_000010",
        "aachen/aachen_000001_000040",
        "bremen/bremen_000000_000003",
    ]
    torch.manual_seed(0)
    item = dm.train_set[2]
    first = 40 + item["start"]
    assert [_index(f) for f in item["frames"]] == list(range(first, first + 4))
    assert item["label"][:, 0, 0, 0].tolist() == [k % 20 for k in range(first, first + 4)]
    Image.fromarray(_frame(0)).save(seq / "bremen" / "bremen_000000_000003_copy.png")
    with pytest.raises(DataError, match="two files for frame bremen_000000_000003"):
        _module(tmp_path, layout="cityscapes").setup("fit")


def test_predict_dir_clips(tmp_path):
    _frame_folder(tmp_path / "pred" / "x", 5)
    dm = VideoDataModule(predict_dir=str(tmp_path / "pred"), clip_length=5, num_workers=0, batch_size=2)
    dm.setup("predict")
    batch = next(iter(dm.predict_dataloader()))
    assert set(batch) == {"frames", "n_context", "start", "path"} and batch["frames"].shape == (1, 5, 3, H, W)
    paired = VideoDataModule(
        layout="vid2vid", predict_dir=str(tmp_path / "pred"), clip_length=5, num_workers=0, label_channels=1
    )
    paired.setup("predict")
    item = paired.predict_set[0]
    assert set(item) == {"label", "n_context", "start", "path"} and item["label"].shape == (5, 1, H, W)
    assert paired.predict_channels == 1


# ------------------------------------------------------------------------------------------ the demos
@pytest.fixture(scope="module")
def demo():
    dm = DemoVideoDataModule(batch_size=8)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_moving_mnist_demo(demo):
    assert len(demo.train_set) == DEMO_SPLITS["train"] and len(demo.val_set) == DEMO_SPLITS["val"]
    batch = next(iter(demo.val_dataloader()))
    assert batch["frames"].shape == (8, 20, 1, 64, 64) and batch["n_context"].tolist() == [10] * 8
    frames = (batch["frames"] + 1) * 127.5
    ink = (frames > 127).flatten(2).sum(-1)  # (N, T) pixels of ink per frame
    assert (ink > 60).all()  # two digits in every frame, none lost at a border
    moved = (frames[:, 1:] - frames[:, :-1]).abs().flatten(2).mean(-1)
    assert (moved > 1).all()  # every frame differs from the previous one: the digits move


def test_moving_mnist_demo_is_deterministic_and_bounces(demo):
    digits, labels = video._mnist28()
    # The cached first training clip is the one the seeded generator draws (the build's own steps, replayed).
    order = np.random.default_rng(0).permutation(len(digits))
    rng = np.random.default_rng([0, 0])
    pick = rng.choice(order[:4000], size=2, replace=False)
    clip = moving_mnist_clip(digits[pick], rng)
    folder = demo.data_dir / "train" / f"0000_digits{labels[pick[0]]}{labels[pick[1]]}"
    assert np.array_equal(clip, np.stack([np.array(Image.open(folder / f"{t:02d}.png")) for t in range(20)]))
    a = moving_mnist_clip(digits[:2], np.random.default_rng(5), n_frames=60)
    b = moving_mnist_clip(digits[:2], np.random.default_rng(5), n_frames=60)
    assert np.array_equal(a, b) and a.shape == (60, 64, 64)
    # Over 60 frames at 2-4 px per frame, the digits (ink 4 px inside their 28x28 box) reach both borders of at
    # least one axis and stay inside the frame: they bounce.
    ink = a > 127
    rows, cols = ink.any(axis=(0, 2)), ink.any(axis=(0, 1))
    assert (rows[:8].any() and rows[-8:].any()) or (cols[:8].any() and cols[-8:].any())
    total = ink.sum(axis=(1, 2))
    assert total.min() > 0.5 * total.max()  # no digit leaves the frame (overlaps merge some ink)


def test_moving_mnist_edges_demo(demo):
    edges = DemoVideoDataModule("moving_mnist_edges", batch_size=4)
    edges.setup("fit")
    assert edges.paired and edges.predict_channels == 1 and len(edges.train_set) == DEMO_SPLITS["train"]
    item = edges.val_set[0]
    assert item["frames"].shape == item["label"].shape == (20, 1, 64, 64)
    # Same clips as moving_mnist; the label is the Canny edge map of each frame.
    assert torch.equal(item["frames"], demo.val_set[0]["frames"])
    frames = ((item["frames"][:, 0] + 1) * 127.5).round().to(torch.uint8).numpy()
    expected = torch.from_numpy(canny_edges(frames).astype(np.float32)) / 127.5 - 1
    assert torch.equal(item["label"][:, 0], expected)
    assert set(torch.unique(item["label"]).tolist()) == {-1.0, 1.0}


def test_lightning_fit_with_video_files_in_a_worker(tmp_path):
    """A Trainer runs on mixed frame folders and video files, loading in a worker process (datasets pickle)."""
    import lightning as L

    _frame_folder(tmp_path / "train" / "a", 10)
    _video(tmp_path / "train" / "b.avi", 10, offset=60)
    _frame_folder(tmp_path / "val" / "a", 10)
    seen: list[tuple] = []

    class Tiny(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv3d(3, 3, 1)

        def training_step(self, batch, _):
            frames = batch["frames"]  # (N, T, C, H, W)
            seen.append((tuple(frames.shape), batch["n_context"].tolist()))
            n = int(batch["n_context"][0])
            pred = self.conv(frames[:, :n].transpose(1, 2)).transpose(1, 2)[:, -1:]
            return (pred - frames[:, n:]).abs().mean()

        def validation_step(self, batch, _):
            assert batch["start"].tolist() == [0]

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    trainer = L.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False
    )
    dm = VideoDataModule(root=str(tmp_path), clip_length=3, n_context=2, batch_size=2, num_workers=1)
    trainer.fit(Tiny(), datamodule=dm)
    assert trainer.global_step == 1 and seen == [((2, 3, 3, H, W), [2, 2])]


def test_start_step_restricts_random_starts(tmp_path):
    _frame_folder(tmp_path / "train" / "a", 30)
    dm = _module(tmp_path, clip_length=12, start_step=2)  # SAVP's BAIR: time_shift 2
    dm.setup("fit")
    torch.manual_seed(0)
    starts = {dm.train_set[0]["start"] for _ in range(60)}
    assert starts == set(range(0, 19, 2))


# ------------------------------------------------------------------------------------------ BAIR conversion
def _pb_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _pb_len(number: int, payload: bytes) -> bytes:
    return _pb_varint(number << 3 | 2) + _pb_varint(len(payload)) + payload


def _tf_example(features: dict[str, bytes | list[float]]) -> bytes:
    """A serialized tf.train.Example, written from the protocol buffer definitions (bytes_list 1, float_list 2,
    packed)."""
    import struct

    entries = b""
    for key, value in features.items():
        if isinstance(value, bytes):
            feature = _pb_len(1, _pb_len(1, value))
        else:
            feature = _pb_len(2, _pb_len(1, struct.pack(f"<{len(value)}f", *value)))
        entries += _pb_len(1, _pb_len(1, key.encode()) + _pb_len(2, feature))
    return _pb_len(1, entries)


def test_bair_tfrecord_conversion(tmp_path):
    import importlib.util
    import struct

    spec = importlib.util.spec_from_file_location(
        "convert_bair", Path(__file__).parents[1] / "scripts" / "convert_bair_tfrecords.py"
    )
    convert_bair = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(convert_bair)

    def write(path: Path, trajectories: list[int]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            for k in trajectories:
                features: dict[str, bytes | list[float]] = {}
                for t in range(30):
                    features[f"{t}/image_aux1/encoded"] = _frame(8 * k + t, 64, 64).tobytes()
                    features[f"{t}/action"] = [k, t, 0.5, -1.0]
                    features[f"{t}/endeffector_pos"] = [t, 0.0, 1.0]
                record = _tf_example(features)
                f.write(struct.pack("<Q", len(record)) + b"\0" * 4 + record + b"\0" * 4)  # CRCs are not checked

    src = tmp_path / "softmotion30_44k"
    write(src / "train" / "traj_0_to_255.tfrecords", [0, 1])
    write(src / "train" / "traj_256_to_511.tfrecords", [2])  # SAVP's validation file
    write(src / "test" / "traj_0_to_255.tfrecords", [3])
    counts = convert_bair.convert(src, tmp_path / "bair", verbose=False)
    assert counts == {"train": 2, "val": 1, "test": 1}
    clip = tmp_path / "bair" / "val" / "traj_00256"
    assert np.load(clip / "actions.npy").shape == (30, 4) and np.load(clip / "actions.npy")[5, 1] == 5
    dm = _module(tmp_path / "bair", clip_length=30, n_context=2)
    dm.setup("fit")
    assert len(dm.train_set) == 2 and len(dm.val_set) == 1
    item = dm.val_set[0]
    assert item["path"] == "traj_00256" and item["frames"].shape == (30, 3, 64, 64)
    assert [_index(f) for f in item["frames"]] == [16 + t for t in range(30)]
    with pytest.raises(ValueError, match="truncated"):
        data = (src / "test" / "traj_0_to_255.tfrecords").read_bytes()
        (src / "test" / "traj_0_to_255.tfrecords").write_bytes(data[:-100])
        list(convert_bair.tfrecords(src / "test" / "traj_0_to_255.tfrecords"))
