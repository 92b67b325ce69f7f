"""History of generated images for discriminator updates (Shrivastava et al. 2017; CycleGAN §4).

Updating D on a buffer of 50 past fakes instead of only the newest reduces model oscillation. The pool is an
``nn.Module`` whose contents travel in ``state_dict`` (via ``get_extra_state``), so a resumed run continues
with the same history. Under DDP each rank keeps its own pool, like the reference code on each GPU process.
"""

from __future__ import annotations

import torch
from torch import nn


class ImagePool(nn.Module):
    """A buffer of up to ``pool_size`` generated images.

    ``query(images)``: while the pool is filling, each image is stored and returned; once full, each image is,
    with probability 0.5, swapped with a random stored one (the stored one is returned), otherwise returned as
    is. ``pool_size = 0`` disables the pool.

    Args:
        pool_size: capacity (CycleGAN: 50).
    """

    def __init__(self, pool_size: int = 50) -> None:
        super().__init__()
        if pool_size < 0:
            raise ValueError(f"pool_size must be >= 0, got {pool_size}")
        self.pool_size = pool_size
        self.images: list[torch.Tensor] = []

    def __len__(self) -> int:
        return len(self.images)

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return a batch of the same size mixing ``images`` with the history (see class doc)."""
        if self.pool_size == 0:
            return images.detach()
        out = []
        for image in images.detach():
            if len(self.images) < self.pool_size:
                self.images.append(image.clone())
                out.append(image)
            # torch's RNG (not Python's `random`) so seeding and checkpointed RNG states cover it.
            elif torch.rand(()) < 0.5:
                idx = int(torch.randint(self.pool_size, ()))
                out.append(self.images[idx])
                self.images[idx] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def get_extra_state(self) -> dict:
        return {"pool_size": self.pool_size, "images": [im.cpu() for im in self.images]}

    def set_extra_state(self, state: dict) -> None:
        if state["pool_size"] != self.pool_size:
            raise ValueError(
                f"image pool: the checkpoint's pool_size is {state['pool_size']}, this model's is {self.pool_size}"
            )
        device = next((b.device for b in self.buffers()), None)
        self.images = [im if device is None else im.to(device) for im in state["images"]]

    def _apply(self, fn, recurse=True):
        # Move stored images with the module (``.to(device)``, ``.half()``), since they are not buffers.
        self.images = [fn(im) for im in self.images]
        return super()._apply(fn, recurse)
