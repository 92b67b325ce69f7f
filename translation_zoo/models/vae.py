"""VAE: Auto-Encoding Variational Bayes.

Kingma, Welling. ICLR 2014. arXiv:1312.6114
Reference code: none released by the authors; the paper's §5 and Appendix C (the MNIST experiment) are the reference.

An encoder q_φ(z|x) = N(μ, σ²I) and a decoder p_θ(x|z) are trained together by maximising the lower bound of
Eq. (10) with the reparameterisation z = μ + σ ⊙ ε, ε ~ N(0, I) (§2.4), whose KL term has the closed form of
Appendix B:

    L(θ, φ; x) ≈ ½ Σ_j (1 + log σ_j² - μ_j² - σ_j²) + (1/L) Σ_l log p_θ(x | z_l)

The paper's MNIST configuration (§5, Appendix C), the defaults here:

- Encoder: x (784) -> h = tanh(W x + b) (500 units) -> μ = W_μ h + b_μ, log σ² = W_σ h + b_σ (``nz`` = 20, one of
  the paper's 3, 5, 10, 20, 200).
- Decoder (``likelihood="bernoulli"``, Appendix C.1): z -> tanh (500) -> y = sigmoid(W h + b), log p(x|z) =
  Σ x log y + (1 - x) log(1 - y) on pixel intensities in [0, 1]. ``likelihood="gaussian"`` (C.2, the Frey Face
  model): two heads μ (constrained to (0, 1) by a sigmoid, as for Frey Face) and log σ².
- L = 1 sample of z per datapoint, minibatch M = 100; weights and biases ~ N(0, 0.01); Adagrad with a global step
  size from {0.01, 0.02, 0.1} (0.02 here) and a weight decay that is the prior p(θ) = N(0, I).

Parameters (MNIST: 784 pixels, 500 hidden, nz 20, Bernoulli): encoder 412,540; decoder 403,284
(``tests/test_backbones.py`` pins them).

Deviations:
- The prior on θ: the per-datapoint objective ``mean_i L(x_i) + log p(θ) / N`` has the gradient of a weight decay
  1/N; ``weight_decay`` = 1/60,000 assumes MNIST's 60,000 training digits (the paper does not give N's value).
- N(0, 0.01) is read as standard deviation 0.01.
- The zoo's images are in [-1, 1]: the networks see and model ``(x + 1) / 2`` in [0, 1], as the paper's MNIST.
  Images are flattened (``channels x image_size²`` inputs; the embedded demo digits are 32x32, MNIST 28x28).
- ``forward(n)`` returns the decoder's mean image of z ~ N(0, I) (y for Bernoulli, μ for Gaussian) mapped to
  [-1, 1], as the paper's sample figures show, not pixels drawn from p(x|z).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from .base import Condition, InferenceSpec, TranslationGAN

Likelihood = Literal["bernoulli", "gaussian"]


class Encoder(nn.Module):
    """q_φ(z|x): images (N, C, H, W) in [-1, 1] -> μ, log σ² (N, nz) (Appendix C.2, one tanh hidden layer)."""

    def __init__(self, n_pixels: int, hidden: int, nz: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(n_pixels, hidden)
        self.mu = nn.Linear(hidden, nz)
        self.logvar = nn.Linear(hidden, nz)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.tanh(self.hidden((x.flatten(1) + 1) / 2))
        return self.mu(h), self.logvar(h)


class Decoder(nn.Module):
    """p_θ(x|z): z (N, nz) -> the likelihood's parameters per pixel on [0, 1]; ``mean(z)`` gives images in [-1, 1].

    Bernoulli: logits (N, D) (Appendix C.1). Gaussian: μ in (0, 1) and log σ² (N, D) each (Appendix C.2).
    """

    def __init__(self, nz: int, hidden: int, channels: int, image_size: int, likelihood: Likelihood) -> None:
        super().__init__()
        self.shape = (channels, image_size, image_size)
        self.likelihood = likelihood
        n_pixels = channels * image_size * image_size
        self.hidden = nn.Linear(nz, hidden)
        self.out = nn.Linear(hidden, n_pixels)  # Bernoulli logits, or the Gaussian's pre-sigmoid μ
        self.logvar = nn.Linear(hidden, n_pixels) if likelihood == "gaussian" else None

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = torch.tanh(self.hidden(z))
        return self.out(h), None if self.logvar is None else self.logvar(h)

    def mean(self, z: torch.Tensor) -> torch.Tensor:
        """E[x|z] as images (N, C, H, W) in [-1, 1]."""
        y = torch.sigmoid(self(z)[0])  # Bernoulli: y; Gaussian: μ constrained to (0, 1)
        return (2 * y - 1).view(z.shape[0], *self.shape)


class VAE(TranslationGAN):
    """The variational auto-encoder of the paper's MNIST experiment (see the module docstring).

    Args:
        channels: image channels (MNIST: 1).
        image_size: image height = width (MNIST: 28; the embedded demo digits: 32).
        nz: dimension of z, J in the paper (20).
        hidden: hidden units of the encoder and of the decoder (MNIST: 500; Frey Face: 200).
        likelihood: p_θ(x|z), ``bernoulli`` (MNIST) or ``gaussian`` (Frey Face).
        init_std: weights and biases ~ N(0, init_std²) (0.01).
        lr: Adagrad's global step size (0.02, from the paper's {0.01, 0.02, 0.1}).
        weight_decay: the prior p(θ) = N(0, I) per datapoint, 1/N (1/60,000: MNIST).
        lr_policy: ``constant`` (the paper: Adagrad's own per-parameter steps) or a decay of the base class.
        val_metrics: validation/test metrics (``fid``, ``kid``) of samples against real images; the negative ELBO
            is logged as ``<stage>/neg_elbo`` in any case.
        feature_extractor: their feature space (``digits_mnist`` for the embedded digits).
        **kwargs: :class:`TranslationGAN` options; ``optimizer`` replaces Adagrad.
    """

    batch_kind = "unconditional"
    tiny_config = {"image_size": 32, "nz": 4, "hidden": 16}

    def __init__(
        self,
        channels: int = 1,
        image_size: int = 28,
        nz: int = 20,
        hidden: int = 500,
        likelihood: Likelihood = "bernoulli",
        init_std: float = 0.01,
        lr: float = 0.02,
        weight_decay: float = 1 / 60000,
        lr_policy: Literal["linear", "step", "cosine", "constant"] = "constant",
        val_metrics: list[str] | None = None,
        feature_extractor: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(lr=lr, lr_policy=lr_policy, **kwargs)
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}")
        self.encoder = Encoder(channels * image_size * image_size, hidden, nz)
        self.decoder = Decoder(nz, hidden, channels, image_size, likelihood)
        for p in self.parameters():
            nn.init.normal_(p, 0.0, init_std)  # §5: "initialized by random sampling from N(0, 0.01)"
        self.eval_metrics = self.build_eval_metrics(val_metrics, feature_extractor, paired=False)

    def param_groups(self) -> dict[str, list[nn.Module]]:
        return {"VAE": [self.encoder, self.decoder]}  # one objective, one optimiser for θ and φ together

    def configure_optimizers(self):
        if self.optimizer_factory is not None:
            return super().configure_optimizers()
        hp = self.hparams
        opt = torch.optim.Adagrad(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
        scheduler = self._make_scheduler(opt)
        return [opt], [] if scheduler is None else [scheduler]

    # ----------------------------------------------------------------------------------------- the bound
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """μ, log σ² (N, nz) of q_φ(z|x) for images (N, C, H, W) in [-1, 1]."""
        return self.encoder(x)

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """z = μ + σ ⊙ ε, ε ~ N(0, I) (§2.4): a sample of q_φ(z|x) differentiable in φ."""
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def negative_elbo(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """-L(θ, φ; x) of Eq. (10) averaged over the batch, as its two terms (nats per image):
        ``rec`` = -log p_θ(x|z) with one z per image (L = 1), ``kl`` = KL(q_φ(z|x) || N(0, I)) (Appendix B)."""
        target = ((x + 1) / 2).flatten(1)  # (N, D) in [0, 1]
        mu, logvar = self.encode(x)
        out, out_logvar = self.decoder(self.reparameterize(mu, logvar))
        if out_logvar is None:  # Bernoulli, Appendix C.1
            log_px = -F.binary_cross_entropy_with_logits(out, target, reduction="none").sum(1)
        else:  # Gaussian, Appendix C.2
            mean = torch.sigmoid(out)
            log_px = -0.5 * (math.log(2 * math.pi) + out_logvar + (target - mean) ** 2 / out_logvar.exp()).sum(1)
        kl = -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1)  # Appendix B
        return {"rec": -log_px.mean(), "kl": kl.mean()}

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        opt = self.optimizers()
        self._step(opt, self.negative_elbo(batch["image"]))  # ascend the bound: descend -L (Eq. 10), Algorithm 1

    def eval_step(self, batch: dict[str, Any], stage: str) -> None:
        terms = self.negative_elbo(batch["image"])
        n = batch["image"].shape[0]
        self.log(f"{stage}/neg_elbo", terms["rec"] + terms["kl"], prog_bar=True, batch_size=n, sync_dist=True)
        super().eval_step(batch, stage)  # FID/KID of samples

    # ----------------------------------------------------------------------------------------- inference
    def inference_conditions(self) -> dict[str, Condition]:
        return {"z": Condition("code", "latent code; drawn from the prior N(0, I) when missing", dim=self.hparams.nz)}

    def forward(self, n: int | None = None, z: torch.Tensor | None = None) -> torch.Tensor:
        """Samples: the decoder's mean image of ``n`` codes z ~ N(0, I), or of the given ``z`` (N, nz)."""
        if z is None:
            if n is None:
                raise ValueError("give the number of samples n or the codes z")
            z = torch.randn(n, self.hparams.nz, device=self.device)
        return self.decoder.mean(z.to(self.device))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The decoder's mean image at the posterior mean μ(x): images (N, C, H, W) in [-1, 1]."""
        return self.decoder.mean(self.encode(x)[0])

    @torch.no_grad()
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        x = batch["image"]
        return [[x, self.reconstruct(x), self(x.shape[0])]]  # real | reconstruction | sample

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        self.check_conditions(conditions)
        hp = self.hparams
        return InferenceSpec(_Mean(self.decoder), hp.channels, 1, {"z": torch.zeros(1, hp.nz)}, image_input=False)


class _Mean(nn.Module):
    """The decoder as an exportable network: z (N, nz) -> its mean image (N, C, H, W) in [-1, 1]."""

    def __init__(self, decoder: Decoder) -> None:
        super().__init__()
        self.decoder = decoder

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder.mean(z)
