"""Spatial Transformer Networks.

Jaderberg, Simonyan, Zisserman, Kavukcuoglu. NIPS 2015. https://arxiv.org/abs/1506.02025

Idea: a differentiable module that a network can insert anywhere: a localisation net regresses the parameters
theta of a transform from the input itself (Sec. 3.1), a grid generator maps the output grid through T_theta
(Eq. 1; F.affine_grid) and a bilinear sampler reads the input there (Eq. 5; F.grid_sample). Gradients flow to
both the input and theta (Eq. 6-7), so the network learns to undo pose without any pose supervision.
"""
import torch
import torch.nn.functional as F
from torch import nn


def identity_theta(batch: int = 1, *, dtype=torch.float32) -> torch.Tensor:
    """The 2x3 affine matrix of the identity transform, batched."""
    return torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=dtype).expand(batch, 2, 3)


def affine_warp(x: torch.Tensor, theta: torch.Tensor, out_size: tuple[int, int] | None = None) -> torch.Tensor:
    """Grid generator (Eq. 1, normalised coordinates in [-1, 1]) + bilinear sampler (Eq. 5, zero outside)."""
    n, c, h, w = x.shape
    grid = F.affine_grid(theta, [n, c, *(out_size or (h, w))], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class SpatialTransformer(nn.Module):
    """Localisation net -> theta (B, 2, 3) -> warped input of out_size (the input's size by default)."""

    def __init__(self, localisation: nn.Module, out_size: tuple[int, int] | None = None):
        super().__init__()
        self.localisation = localisation
        self.out_size = out_size

    def theta(self, x: torch.Tensor) -> torch.Tensor:
        return self.localisation(x).view(-1, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return affine_warp(x, self.theta(x), self.out_size)


def _identity_regressor(in_features: int) -> nn.Linear:
    """The last layer of the localisation net starts at the identity transform (Sec. 4.1 / appendix):
    zero weights, bias = the flattened identity theta."""
    head = nn.Linear(in_features, 6)
    nn.init.zeros_(head.weight)
    with torch.no_grad():
        head.bias.copy_(identity_theta().flatten())
    return head


def localisation_mlp(*, image_size: int = 32, hidden: tuple[int, ...] = (32, 32)) -> nn.Sequential:
    """The ST-FCN localisation net: a small fully connected net regressing the 6 affine parameters."""
    layers, width = [nn.Flatten()], image_size * image_size
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return nn.Sequential(*layers, _identity_regressor(width))


def localisation_cnn(*, image_size: int = 32, channels: tuple[int, int] = (20, 20), hidden: int = 50) -> nn.Sequential:
    """The ST-CNN localisation net: two conv + max-pool layers and a fully connected layer (appendix)."""
    c1, c2 = channels
    side = ((image_size - 4) // 2 - 4) // 2
    return nn.Sequential(nn.Conv2d(1, c1, 5), nn.MaxPool2d(2), nn.ReLU(), nn.Conv2d(c1, c2, 5), nn.MaxPool2d(2),
                         nn.ReLU(), nn.Flatten(), nn.Linear(c2 * side * side, hidden), nn.ReLU(),
                         _identity_regressor(hidden))


def fcn(*, image_size: int = 32, hidden: tuple[int, ...] = (128, 128), num_classes: int = 10) -> nn.Sequential:
    """The baseline fully connected classifier (Table 1's FCN: ReLU layers, softmax output)."""
    layers, width = [nn.Flatten()], image_size * image_size
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, num_classes))


def cnn(*, image_size: int = 32, channels: tuple[int, int] = (32, 32), num_classes: int = 10) -> nn.Sequential:
    """The baseline CNN (Table 1's CNN: two conv + max-pool layers, then a linear classifier)."""
    c1, c2 = channels
    side = image_size // 4
    return nn.Sequential(nn.Conv2d(1, c1, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(c2 * side * side, num_classes))


def st_fcn(*, image_size: int = 32, hidden: tuple[int, ...] = (128, 128), loc_hidden: tuple[int, ...] = (32, 32),
           num_classes: int = 10) -> nn.Sequential:
    """ST-FCN: a spatial transformer at the input, then the same FCN (Sec. 4.1)."""
    st = SpatialTransformer(localisation_mlp(image_size=image_size, hidden=loc_hidden))
    return nn.Sequential(st, fcn(image_size=image_size, hidden=hidden, num_classes=num_classes))


def st_cnn(*, image_size: int = 32, channels: tuple[int, int] = (32, 32), num_classes: int = 10) -> nn.Sequential:
    """ST-CNN: a spatial transformer with a convolutional localisation net, then the same CNN (Sec. 4.1)."""
    st = SpatialTransformer(localisation_cnn(image_size=image_size))
    return nn.Sequential(st, cnn(image_size=image_size, channels=channels, num_classes=num_classes))


# ------------------------------------------------------------------------------ SVHN (Sec. 4.2): CNN, ST-CNN Multi
SVHN_CONV = (48, 64, 128, 160, 192, 192, 192, 192)


class SVHNNet(nn.Module):
    """The SVHN character-sequence CNN (Sec. 4.2: "11 hidden layers leading to five independent softmax
    classifiers", the model of Goodfellow et al. 2013): eight 5x5 conv layers (48, 64, 128, 160, 192 x 4 channels),
    each followed by ReLU and 2x2 max-pooling whose stride alternates 2 and 1, then three fully connected layers of
    3072 units (Goodfellow et al.'s locally connected layer taken as fully connected) and five 11-way heads (10 digits
    + "no digit"). transformers=k inserts a spatial transformer before each of the first k conv layers, localisation
    net = two fully connected layers of 32 units (ST-CNN Multi: k = 4), acting on the image or the feature maps."""

    def __init__(self, *, image_size: int = 64, channels: tuple[int, ...] = SVHN_CONV, hidden: int = 3072,
                 heads: int = 5, classes: int = 11, transformers: int = 0):
        super().__init__()
        self.convs, self.pools, self.transformers = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        cin, side = 3, image_size
        for i, cout in enumerate(channels):
            if i < transformers:
                self.transformers.append(SpatialTransformer(nn.Sequential(
                    nn.Flatten(), nn.Linear(cin * side * side, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                    _identity_regressor(32))))
            self.convs.append(nn.Conv2d(cin, cout, 5, padding=2))
            stride = 2 if i % 2 == 0 else 1
            # a stride-1 pool pads one row and column so that the map keeps its size
            self.pools.append(nn.MaxPool2d(2, 2) if stride == 2 else nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)),
                                                                                   nn.MaxPool2d(2, 1)))
            cin, side = cout, side // stride
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(cin * side * side, hidden), nn.ReLU(), nn.Dropout(0.5),
                                nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(0.5),
                                nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(0.5))
        self.heads = nn.Linear(hidden, heads * classes)
        self.shape = (heads, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, (conv, pool) in enumerate(zip(self.convs, self.pools)):
            if i < len(self.transformers):
                x = self.transformers[i](x)
            x = pool(F.relu(conv(x)))
        return self.heads(self.fc(x)).view(-1, *self.shape)


def svhn_cnn(**kw) -> SVHNNet:
    return SVHNNet(transformers=0, **kw)


def st_cnn_multi(**kw) -> SVHNNet:
    """ST-CNN Multi (Sec. 4.2): a spatial transformer before each of the first four conv layers of the SVHN CNN."""
    return SVHNNet(transformers=4, **kw)
