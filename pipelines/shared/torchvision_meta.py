"""Independent re-trainings: what torchvision publishes about its own trainings of the papers' models.

Every weight enum of torchvision.models carries, offline, the result of one re-training by the torchvision team:
ImageNet-1K acc@1 / acc@5 (COCO val2017 box_map / kp_map for detection), the parameter count, GFLOPS and a link to the
exact recipe. They are paper-scale measurements by someone who did not write the papers (claims with `scale: paper`
and a `source` naming the weights and the recipe). Nothing is downloaded: only the metadata is read.
The full profile can re-evaluate the weights themselves (`evaluate_classification`), so this evidence is checked too.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Retraining:
    weights: str  # e.g. "AlexNet_Weights.IMAGENET1K_V1"
    model: str  # the builder, e.g. "alexnet"
    dataset: str  # "ImageNet-1K", "COCO-val2017", ...
    metrics: dict  # e.g. {"acc@1": 56.522, "acc@5": 79.066} (percent, as torchvision gives them)
    num_params: int
    gflops: float
    recipe: str  # the URL of the training recipe
    docs: str  # torchvision's one-line note on how the recipe relates to the paper

    @property
    def source(self) -> str:
        return f"torchvision re-training {self.weights}, recipe {self.recipe}"


def retraining(model: str, weights: str | None = None) -> Retraining:
    """The metadata of torchvision's `weights` of `model` (default: its first, i.e. the original-recipe weights)."""
    import torchvision.models as tvm

    enum = tvm.get_model_weights(model)
    member = enum[weights] if weights else next(iter(enum))
    meta = member.meta
    (dataset, metrics), = meta["_metrics"].items()
    return Retraining(weights=f"{enum.__name__}.{member.name}", model=model, dataset=dataset, metrics=dict(metrics),
                      num_params=int(meta["num_params"]), gflops=float(meta.get("_ops", float("nan"))),
                      recipe=meta["recipe"], docs=" ".join(str(meta.get("_docs", "")).split()))


def params_gap(r: Retraining, build) -> int:
    """r's published parameter count minus the count of the network `build()` makes (on the meta device): 0 when the
    published numbers are that network's, the check that a claim reads the weights of the architecture it names."""
    from pipelines.shared.structural import count_params, on_meta

    return r.num_params - count_params(on_meta(build))


def imagenet_classifiers() -> list[Retraining]:
    """Every ImageNet-1K classification weight torchvision ships (115 in torchvision 0.29), each with its GFLOPS."""
    import torchvision.models as tvm

    out = []
    for name in tvm.list_models(module=tvm):
        for member in tvm.get_model_weights(name):
            if "ImageNet-1K" in member.meta.get("_metrics", {}) and "_ops" in member.meta:
                out.append(retraining(name, member.name))
    return out


def evaluate_classification(model: str, weights: str | None, val_dir, device: str, *, batch_size: int = 128,
                            workers: int = 8, limit: int | None = None, net=None) -> dict:
    """Full profile: the weights' own top-1/top-5 (percent) on an ImageNet val folder (<class>/<image>, the 1,000
    synsets in sorted order), with the weights' own preprocessing, to check torchvision's published numbers.
    The weights are downloaded once into torch's hub cache; `net` replaces them in tests."""
    import torch
    import torchvision.models as tvm

    from pipelines.shared.common import DataUnavailable
    from pipelines.shared.data import image_folder
    from pipelines.shared.train import topk_accuracy

    enum = tvm.get_model_weights(model)
    member = enum[weights] if weights else next(iter(enum))
    data = image_folder(val_dir, transform=member.transforms())
    if limit is not None:
        data = torch.utils.data.Subset(data, range(min(limit, len(data))))
    if net is None:
        try:
            net = tvm.get_model(model, weights=member)
        except Exception as e:  # noqa: BLE001 - offline, proxy, checksum: one clear line instead of urllib frames
            raise DataUnavailable(f"could not load torchvision weights {enum.__name__}.{member.name} "
                                  f"({type(e).__name__}: {e}); the full profile downloads them once into torch's hub "
                                  f"cache") from e
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, num_workers=workers)
    top1, top5 = topk_accuracy(net.to(device), loader, ks=(1, 5), device=device)
    return {"acc@1": 100 * top1, "acc@5": 100 * top5}
