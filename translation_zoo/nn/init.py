"""Weight initialisation of the official pix2pix/CycleGAN code (``networks.init_weights``)."""

from __future__ import annotations

from torch import nn

INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")


def init_weights(net: nn.Module, init_type: str = "normal", init_gain: float = 0.02) -> nn.Module:
    """Initialise conv/linear weights and batch-norm affine parameters in place.

    Conv and linear weights: N(0, gain) for ``normal`` (the papers' choice), Xavier-normal or orthogonal with
    ``gain``, Kaiming-normal (fan_in); their biases are zeroed. BatchNorm weights ~ N(1, gain), biases 0.

    Args:
        net: the network.
        init_type: ``normal`` | ``xavier`` | ``kaiming`` | ``orthogonal``.
        init_gain: the scale (std for ``normal``).

    Returns:
        ``net``, for chaining.
    """
    if init_type not in INIT_TYPES:
        raise ValueError(f"init_type must be one of {INIT_TYPES}, got {init_type!r}")

    def init_func(m: nn.Module) -> None:
        if isinstance(m, nn.modules.conv._ConvNd | nn.Linear):
            if init_type == "normal":
                nn.init.normal_(m.weight, 0.0, init_gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(m.weight, gain=init_gain)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(m.weight, gain=init_gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            nn.init.normal_(m.weight, 1.0, init_gain)
            nn.init.zeros_(m.bias)

    net.apply(init_func)
    return net
