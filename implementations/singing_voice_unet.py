"""Singing Voice Separation with Deep U-Net Convolutional Networks.

Jansson, Humphrey, Montecchio, Bittner, Kumar, Weyde, ISMIR 2017. https://openaccess.city.ac.uk/id/eprint/19289/

Idea: treat the magnitude spectrogram of a mix as an image; a U-Net (strided 5x5 convs down, strided 5x5
deconvs up, skip connections carrying the fine time-frequency detail) predicts a soft mask in [0, 1]; the
masked mixture is the voice estimate, trained with an L1 loss against the isolated voice's spectrogram (Sec. 2-3).
"""
from __future__ import annotations

import torch
from torch import nn

# Sec. 3 (training): 8192 Hz audio, STFT window 1024, hop 768, patches of 128 frames
SAMPLE_RATE, WINDOW, HOP, PATCH_FRAMES = 8192, 1024, 768, 128


def patch_seconds(*, frames: int = PATCH_FRAMES, hop: int = HOP, sample_rate: int = SAMPLE_RATE,
                  window: int = WINDOW, include_last_window: bool = False) -> float:
    """Audio covered by a patch of `frames` STFT frames: frames * hop samples (plus the last window's overhang)."""
    samples = frames * hop + (window - hop if include_last_window else 0)
    return samples / sample_rate


class SingingVoiceUNet(nn.Module):
    def __init__(self, *, channels: tuple[int, ...], kernel: int, dropout: float, dropout_layers: int, skips: bool):
        super().__init__()
        pad = kernel // 2
        self.skips = skips
        # encoder (Sec. 2): "strided 2D convolution of stride 2 and kernel size 5x5, batch normalization,
        # and leaky rectified linear units (ReLU) with leakiness 0.2"
        self.encoder = nn.ModuleList([
            nn.Sequential(nn.Conv2d(cin, cout, kernel, stride=2, padding=pad), nn.BatchNorm2d(cout),
                          nn.LeakyReLU(0.2))
            for cin, cout in zip((1,) + channels[:-1], channels)])
        # decoder: "strided deconvolution ... stride 2 and kernel size 5x5, batch normalization, plain ReLU,
        # and 50% dropout to the first three layers"; each layer after the first also takes the encoder's
        # feature map of the same size (the skip connection), concatenated along channels
        outs = channels[-2::-1] + (1,)
        self.decoder = nn.ModuleList()
        for i, cout in enumerate(outs):
            cin = channels[-1] if i == 0 else outs[i - 1] * (2 if skips else 1)
            layers: list[nn.Module] = [nn.ConvTranspose2d(cin, cout, kernel, stride=2, padding=pad, output_padding=1)]
            if i < len(outs) - 1:
                layers += [nn.BatchNorm2d(cout), nn.ReLU()]
                if i < dropout_layers:
                    layers.append(nn.Dropout2d(dropout))
            self.decoder.append(nn.Sequential(*layers))

    def mask(self, mix: torch.Tensor) -> torch.Tensor:
        feats = []
        x = mix
        for enc in self.encoder:
            x = enc(x)
            feats.append(x)
        for i, dec in enumerate(self.decoder):
            if i > 0 and self.skips:
                x = torch.cat([x, feats[-1 - i]], dim=1)
            x = dec(x)
        return torch.sigmoid(x)  # "the final layer is a sigmoid": a soft mask in [0, 1]

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        """mix: (B, 1, F, T) magnitude spectrogram -> the voice estimate mask * mix (Sec. 2)."""
        return self.mask(mix) * mix


def singing_voice_unet(*, channels: tuple[int, ...] = (16, 32, 64, 128, 256, 512), kernel: int = 5,
                       dropout: float = 0.5, dropout_layers: int = 3, skips: bool = True) -> SingingVoiceUNet:
    """The paper's network on 512 x 128 magnitude patches: six encoder layers of 16..512 channels (Fig. 1)."""
    return SingingVoiceUNet(channels=tuple(channels), kernel=kernel, dropout=dropout, dropout_layers=dropout_layers,
                            skips=skips)


def l1_loss(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sec. 2: L(X, Y; Theta) = || f(X, Theta) * X - Y ||_{1,1}, averaged over the batch."""
    return (estimate - target).abs().sum(dim=(1, 2, 3)).mean()
