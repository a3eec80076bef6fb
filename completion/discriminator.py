"""SN-PatchGAN discriminator (DeepFill v2): spectral-normalised strided convolutions, one logit per patch."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class PatchDiscriminator(nn.Module):
    """Input: RGB in [0, 1] (B, 3, H, W) and the hole mask (B, 1, H, W); output: patch logits and features.

    ``forward`` returns ``(logits, features)`` where ``features`` is the list of intermediate activations
    used for the feature-matching loss.
    """

    def __init__(self, base: int = 32, layers: int = 4) -> None:
        super().__init__()
        chans = [4] + [min(base * 2**i, 256) for i in range(layers)]
        self.convs = nn.ModuleList(
            spectral_norm(nn.Conv2d(chans[i], chans[i + 1], 4 if i < layers - 1 else 3, stride=2 if i < layers - 1 else 1, padding=1))
            for i in range(layers)
        )
        self.act = nn.LeakyReLU(0.2, inplace=False)
        self.out = spectral_norm(nn.Conv2d(chans[-1], 1, 3, padding=1))

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = torch.cat([image * 2.0 - 1.0, mask], dim=1)
        feats = []
        for conv in self.convs:
            x = self.act(conv(x))
            feats.append(x)
        return self.out(x), feats
