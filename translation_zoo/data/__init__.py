"""Data modules for image-to-image translation.

Batch contract (every data module, every stage):

* Images are float32 tensors in [-1, 1], (C, H, W) per sample, batched as (N, C, H, W); C = 1 for
  grayscale, 3 for RGB (``input_nc`` for "A", ``output_nc`` for "B").
* Paired and unpaired batches (train / val / test)::

      {"A": (N, C, H, W), "B": (N, C, H, W), "A_path": list[str], "B_path": list[str]}

  "A" is always the model's source (input) and "B" its target. With ``direction="BtoA"`` the data
  layer swaps the raw domains (images and paths), like the official ``--direction`` option, so models
  never look at the direction. For aligned A|B files, "A_path" and "B_path" are the same file.
  Paired A and B share their random crop and flip; unpaired A and B are augmented independently.
* Predict batches (a folder of single images, ``predict_dir``)::

      {"A": (N, C, H, W), "path": list[str]}

  ``path`` is relative to ``predict_dir`` (POSIX separators), so a writer can keep file names and
  sub-folders. Predict images get the deterministic evaluation transform (resized to ``crop_size``
  with the default ``preprocess="resize_and_crop"``).

* Multi-domain batches (``MultiDomainDataModule``; folder per domain)::

      {"image": (N, C, H, W), "domain": (N,) int64, "path": list[str]}

  with a CelebA-style attribute file, ``"attrs": (N, K) float32 in {0, 1}`` instead of ``"domain"``; with
  ``references=True`` training batches add ``"reference"``, ``"reference2"`` (N, C, H, W) and
  ``"reference_domain"`` (N,) int64: two images of one drawn target domain (StarGAN v2).
* Single-image batches (SinGAN; ``SingleImageDataModule``): ``{"image": (1, C, H, W), "path": [name]}``, the one
  image at its own size, delivered ``steps_per_epoch`` times an epoch.

* Unconditional batches (GAN, DCGAN, VAE; ``ImageFolderDataModule``), real images only::

      {"image": (N, C, H, W), "path": list[str]}

  and their predict batches, one generated image per index (``num_samples`` of them)::

      {"index": (N,) int64, "path": list[str]}

* Semantic batches (label map -> photo: pix2pixHD, SPADE; ``LabelMapDataModule``)::

      {"label": (N, 1, H, W) int64, "instance": (N, 1, H, W) int64, "image": (N, 3, H, W), "path": list[str]}

  ``label`` holds class ids ``0 .. label_nc - 1``; with ``contain_dontcare_label`` the dataset's don't-care id
  (Cityscapes/COCO-Stuff 255, ADE20K's stored 0) becomes ``label_nc``. ``instance`` (only with ``use_instance``)
  holds the stored instance ids (Cityscapes encoding: a stuff pixel holds its class id, an object
  ``class * 1000 + k``); boundary maps are computed by the model. Label, instance and photo share one crop and flip;
  labels and instances are resized with nearest neighbour. Predict batches carry ``label`` (+ ``instance``) and
  ``path``, no ``image``.

* Video batches (SAVP, vid2vid; ``VideoDataModule``: frame folders or video files)::

      {"frames": (N, T, C, H, W), "n_context": (N,) int64, "start": (N,) int64, "path": list[str]}

  ``T = clip_length`` frames ``frame_step`` apart; the first ``n_context`` are context, the rest are to be
  predicted; ``start`` is the first frame's index in its source; ``path`` the clip (frame folder or video file)
  relative to its split folder. Paired clips (vid2vid: label or edge maps) add ``"label"``: (N, T, 1, H, W) int64
  class ids with ``label_nc > 0``, or (N, T, C, H, W) float in [-1, 1] image maps with ``label_nc = 0``. Every
  frame of a clip and its maps share one resize, crop and flip. Predict batches hold the model input only:
  ``frames`` (or ``label`` for paired data), ``n_context``, ``start``, ``path``.

A model names the layout it trains on in ``batch_kind`` (``"paired"``, ``"unpaired"``, ``"multidomain"``,
``"unconditional"``, ``"single_image"``, ``"semantic"``); the zoo-wide tests build a synthetic batch of that kind
(``tests/conftest.py``, ``BATCH_KINDS``).

Errors in the data or in data options raise ``DataError`` (a ``ValueError``) naming the file, folder
or option at fault. Data-module ``__init__`` never touches the disk, so recipes parse without data.
"""

from translation_zoo.data.base import DataError, TranslationDataModule, list_images, load_image
from translation_zoo.data.demo import DemoPairedDataModule, DemoUnpairedDataModule, label_from_path
from translation_zoo.data.labelmaps import DemoLabelMapDataModule, LabelMapDataModule
from translation_zoo.data.multidomain import DemoMultiDomainDataModule, MultiDomainDataModule
from translation_zoo.data.paired import PairedDataModule
from translation_zoo.data.single import DemoSingleImageDataModule, SingleImageDataModule
from translation_zoo.data.unconditional import DemoImageFolderDataModule, ImageFolderDataModule
from translation_zoo.data.unpaired import UnpairedDataModule
from translation_zoo.data.video import DemoVideoDataModule, VideoDataModule

__all__ = [
    "DataError",
    "DemoImageFolderDataModule",
    "DemoLabelMapDataModule",
    "DemoMultiDomainDataModule",
    "DemoPairedDataModule",
    "DemoSingleImageDataModule",
    "DemoUnpairedDataModule",
    "DemoVideoDataModule",
    "ImageFolderDataModule",
    "LabelMapDataModule",
    "MultiDomainDataModule",
    "PairedDataModule",
    "SingleImageDataModule",
    "TranslationDataModule",
    "UnpairedDataModule",
    "VideoDataModule",
    "label_from_path",
    "list_images",
    "load_image",
]
