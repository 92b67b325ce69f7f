"""What official pix2pix/CycleGAN weights say about the shared blocks that built them (architecture read-back).

The official ``ResnetGenerator``, ``UnetGenerator``, ``NLayerDiscriminator`` and ``PixelDiscriminator`` of
junyanz/pytorch-CycleGAN-and-pix2pix are built key for key like :mod:`translation_zoo.nn`'s, so their state dicts
reveal the options (``netG``, ``ngf``, channels, residual blocks / U-Net depth, ``norm``, ResNet dropout,
``netD``, ``n_layers_D``, ``ndf``). Papers whose official code reuses these networks (pix2pix, CycleGAN) call
:func:`infer_generator` / :func:`infer_discriminator` from their ``official_options``.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from ..hub import Evidence, OfficialWeightsError

StateDict = dict[str, torch.Tensor]

# junyanz/pytorch-CycleGAN-and-pix2pix, LICENSE: a BSD licence (the two-clause text) for the code, "Copyright (c)
# 2017, Jun-Yan Zhu and Taesung Park" (pix2pix parts: 2016, Phillip Isola and Jun-Yan Zhu). The README and the
# download scripts state no separate terms for the released weights; the training data keep their own terms
# (docs/datasets.md: ImageNet, Flickr, WikiArt, Google Maps, CMP Facades, Cityscapes, UT Zappos50K, ...).
JUNYANZ_LICENCE = (
    "BSD (two-clause text; LICENSE of junyanz/pytorch-CycleGAN-and-pix2pix, (c) 2017 Jun-Yan Zhu and Taesung Park); "
    "the authors state no separate terms for the weights; the training data keep their own terms"
)


def _layer_keys(sd: StateDict, prefix: str) -> set[str]:
    """Parameter/buffer names directly under ``prefix`` (``"model.2."`` -> {"weight", "running_mean", ...})."""
    return {k[len(prefix) :] for k in sd if k.startswith(prefix) and "." not in k[len(prefix) :]}


def _infer_norm(sd: StateDict, norm_prefix: str, conv_bias_key: str, ev: Evidence) -> None:
    """Tell batch / instance / none apart from one norm position and the conv before it.

    The official networks give batch norm affine parameters and running statistics and drop the bias of the conv
    before it; instance norm has neither parameters nor (since PyTorch 0.4) statistics, and keeps the conv bias;
    ``none`` has neither the norm nor, because of the official ``use_bias`` rule, the bias.
    """
    keys = _layer_keys(sd, norm_prefix)
    if "weight" in keys and "running_mean" in keys:
        ev.add("norm", "batch", f"found {norm_prefix}running_mean: the weights have batch-norm running statistics")
    elif "running_mean" in keys:
        ev.add(
            "norm", "instance", f"found {norm_prefix}running_mean without affine weights: old InstanceNorm statistics"
        )
    elif keys:
        raise OfficialWeightsError(f"unrecognised normalisation layer {norm_prefix[:-1]} with {sorted(keys)}")
    elif conv_bias_key in sd:
        ev.add("norm", "instance", f"found {conv_bias_key} and no norm parameters: instance norm")
    else:
        ev.add("norm", "none", f"found neither norm parameters nor {conv_bias_key}: no normalisation")


def _shape(sd: StateDict, key: str) -> tuple[int, ...]:
    return tuple(sd[key].shape)


def _infer_resnet(sd: StateDict, ev: Evidence) -> None:
    """Official ``ResnetGenerator``: stem ``model.1``, norms at 2/5/8, blocks ``model.10`` onwards."""
    blocks = sorted({int(m.group(1)) for k in sd if (m := re.match(r"model\.(\d+)\.conv_block\.", k))})
    if blocks != list(range(10, 10 + len(blocks))):
        raise OfficialWeightsError(f"ResNet generator weights with residual blocks at unexpected indices {blocks}")
    n = len(blocks)
    span = f"model.10.conv_block … model.{9 + n}.conv_block" if n else "no model.<i>.conv_block"
    ev.add("netG", f"resnet_{n}blocks", f"found {span}, {n} residual blocks")
    w = sd["model.1.weight"]
    ev.add("ngf", w.shape[0], f"model.1.weight has shape {_shape(sd, 'model.1.weight')}")
    ev.add("input_nc", w.shape[1], f"model.1.weight has shape {_shape(sd, 'model.1.weight')}")
    head = f"model.{17 + n}.weight"
    if head not in sd:
        raise OfficialWeightsError(f"ResNet generator weights without their output conv {head}")
    ev.add("output_nc", sd[head].shape[0], f"{head} has shape {_shape(sd, head)}")
    if n:
        block = sorted(_conv_indices(sd, "model.10.conv_block."))
        if block[:1] != [1]:
            raise OfficialWeightsError(
                f"residual blocks with convs at {block}: only padding_type='reflect' (the official one) is supported"
            )
        # Dropout sits between the two convs and shifts the second one from index 5 to 6.
        ev.add("use_dropout", block[-1] == 6, f"second conv of each residual block at conv_block.{block[-1]}")
    _infer_norm(sd, "model.2.", "model.1.bias", ev)


def _conv_indices(sd: StateDict, prefix: str) -> set[int]:
    """Indices ``i`` of the conv layers ``<prefix><i>`` (4-D weights; batch-norm weights are 1-D)."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.weight$")
    return {int(m.group(1)) for k, v in sd.items() if (m := pattern.match(k)) and v.dim() == 4}


def _infer_unet(sd: StateDict, ev: Evidence) -> None:
    """Official ``UnetGenerator``: nested ``model.model.1.model.3.model.3...`` blocks, one per down-sampling."""
    depth, prefix = 1, "model.model.1."
    while any(k.startswith(prefix + "model.3.model.") for k in sd):
        depth, prefix = depth + 1, prefix + "model.3."
    num_downs = depth + 1  # the outermost block plus the nested ones
    named = {7: "unet_128", 8: "unet_256"}
    ev.add("netG", named.get(num_downs, f"unet_{num_downs}d"), f"found {num_downs} nested U-Net blocks ({prefix}…)")
    w = sd["model.model.0.weight"]
    ev.add("ngf", w.shape[0], f"model.model.0.weight has shape {_shape(sd, 'model.model.0.weight')}")
    ev.add("input_nc", w.shape[1], f"model.model.0.weight has shape {_shape(sd, 'model.model.0.weight')}")
    # ConvTranspose2d weights are (in, out, kH, kW).
    ev.add(
        "output_nc",
        sd["model.model.3.weight"].shape[1],
        f"model.model.3.weight has shape {_shape(sd, 'model.model.3.weight')}",
    )
    _infer_norm(sd, "model.model.1.model.2.", "model.model.0.bias", ev)


def infer_generator(sd: StateDict) -> Evidence:
    ev = Evidence()
    if sd.get("model.1.weight") is not None and sd["model.1.weight"].dim() == 4 and sd["model.1.weight"].shape[-1] == 7:
        _infer_resnet(sd, ev)
    elif "model.model.0.weight" in sd and "model.model.3.weight" in sd:
        _infer_unet(sd, ev)
    else:
        raise OfficialWeightsError(
            "unrecognised generator weights: expected the official ResnetGenerator (model.1.weight, a 7x7 conv) "
            f"or UnetGenerator (model.model.0.weight); found {sorted(sd)[:6]}"
        )
    return ev


def infer_discriminator(sd: StateDict) -> tuple[Evidence, int]:
    """Returns the evidence and the discriminator's input channels."""
    ev = Evidence()
    if "net.0.weight" in sd:  # PixelDiscriminator: 1x1 convs net.0, net.2, norm net.3, net.5
        ev.add("netD", "pixel", "found net.0.weight, the 1x1 PixelGAN")
        ev.add("ndf", sd["net.0.weight"].shape[0], f"net.0.weight has shape {_shape(sd, 'net.0.weight')}")
        _infer_norm(sd, "net.3.", "net.2.bias", ev)
        return ev, sd["net.0.weight"].shape[1]
    if "model.0.weight" in sd:  # NLayerDiscriminator: conv i at 0, 2, 5, 8, ..., last at 3 * n_layers + 2
        last = max(_conv_indices(sd, "model."))
        n_layers, rest = divmod(last - 2, 3)
        if rest or n_layers < 1:
            raise OfficialWeightsError(f"PatchGAN discriminator weights with last conv at model.{last}: not official")
        why = f"last conv at model.{last}: {n_layers} stride-2 layers"
        ev.add("netD", "basic" if n_layers == 3 else "n_layers", why)
        ev.add("n_layers_D", n_layers, why)
        ev.add("ndf", sd["model.0.weight"].shape[0], f"model.0.weight has shape {_shape(sd, 'model.0.weight')}")
        _infer_norm(sd, "model.3.", "model.2.bias", ev)
        return ev, sd["model.0.weight"].shape[1]
    raise OfficialWeightsError(
        "unrecognised discriminator weights: expected the official NLayerDiscriminator (model.0.weight) or "
        f"PixelDiscriminator (net.0.weight); found {sorted(sd)[:6]}"
    )


def _same_netG(a: str, b: str) -> bool:
    """``unet_256`` and ``unet_8d`` name the same network."""

    def canon(name: str) -> str:
        return {"unet_128": "unet_7d", "unet_256": "unet_8d"}.get(name, name)

    return canon(a) == canon(b)


def same_option(option: str, a: Any, b: Any) -> bool:
    if option == "netG":
        return _same_netG(str(a), str(b))
    if option == "norm":  # syncbatch saves exactly batch norm's keys
        return {a, b} <= {"batch", "syncbatch"} or a == b
    if option == "netD":  # n_layers with n_layers_D=3 is "basic"; n_layers_D is checked on its own
        return {a, b} <= {"basic", "n_layers"} or a == b
    return a == b


def check_discriminator_input(why: str, in_nc: int, expected: int, what: str, channels: dict[str, int]) -> None:
    """A discriminator whose first conv takes ``in_nc`` channels must see ``expected`` = ``what``.

    Raises:
        OfficialWeightsError: naming input_nc/output_nc as the options to set.
    """
    if in_nc != expected:
        raise OfficialWeightsError(
            f"{why}, but {what} = {expected} with input_nc={channels['input_nc']}, "
            f"output_nc={channels['output_nc']}: set input_nc/output_nc to match the weights"
        )


__all__ = ["JUNYANZ_LICENCE", "check_discriminator_input", "infer_discriminator", "infer_generator", "same_option"]
