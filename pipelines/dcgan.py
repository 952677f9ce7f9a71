"""DCGAN (Radford et al. 2015): the Sec. 3 guidelines checked on the built modules, then a small DCGAN trained on
digits for the Sec. 4 beta1 claim and the Sec. 5.1 linear probe on the discriminator's features.

cpu: sklearn digits upsampled to 16x16, in [-1, 1].  full: CIFAR-10 32x32 (torchvision) for training and the probe,
and a second DCGAN trained on SVHN for the Sec. 5.2 1000-label probe.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from implementations import dcgan as D
from pipelines.shared import data
from pipelines.shared.common import map_seeds, progress
from pipelines.shared.structural import count_params, on_meta
from pipelines.shared.train import fit


def structure(cfg: dict) -> dict:
    g, d = on_meta(lambda: D.generator()), on_meta(lambda: D.discriminator())
    small_g = D.generator(nz=100, ngf=64, nc=3, image_size=64)  # real weights, for the init statistics
    small_d = D.discriminator(nc=3, ndf=64, image_size=64)
    conv_w = torch.cat([m.weight.flatten() for net in (small_g, small_d) for m in net.modules()
                        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))])
    return {"guideline_violations_64px": len(D.guideline_violations(g, d)),
            "guideline_violations_cpu_model": len(D.guideline_violations(
                D.generator(nz=cfg["nz"], ngf=cfg["width"], nc=cfg["channels"], image_size=cfg["image_size"]),
                D.discriminator(nc=cfg["channels"], ndf=cfg["width"], image_size=cfg["image_size"]))),
            "init_weight_std": conv_w.std().item(), "init_weight_mean": conv_w.mean().item(),
            "param_count_generator_64px_ngf64": count_params(g), "param_count_discriminator_64px_ndf64": count_params(d)}


def load(cfg: dict) -> dict:
    if cfg["data"] == "digits":
        (xtr, ytr), (xte, yte) = data.digits(image_size=cfg["image_size"], test_fraction=0.3, split_seed=0)
    else:
        import torchvision.transforms as T

        tf = T.Compose([T.Resize(cfg["image_size"]), T.ToTensor()])
        xtr, ytr = data.to_tensors(data.torchvision_dataset(cfg["data"], train=True, transform=tf))
        xte, yte = data.to_tensors(data.torchvision_dataset(cfg["data"], train=False, transform=tf))
    return dict(xtr=xtr * 2 - 1, ytr=ytr, xte=xte * 2 - 1, yte=yte)  # Tanh range (Sec. 4: images scaled to [-1, 1])


def train_classifier(cfg: dict, ds: dict) -> torch.nn.Module:
    """The judge of sample quality: D's architecture with 10 outputs, trained supervised on the real training digits."""
    torch.manual_seed(1234)
    clf = D.discriminator(nc=cfg["channels"], ndf=cfg["classifier_width"], image_size=cfg["image_size"], num_outputs=10)
    fit(clf, ds["xtr"], ds["ytr"], epochs=cfg["classifier_epochs"], batch_size=64,
        optimizer=torch.optim.Adam(clf.parameters(), lr=1e-3), seed=0)
    return clf.eval()


@torch.no_grad()
def inception_like_score(clf, x: torch.Tensor) -> float:
    """exp(E_x KL(p(y|x) || p(y))): high when samples are confidently classified and all classes appear."""
    p = F.softmax(clf(x), 1)
    py = p.mean(0, keepdim=True)
    return math.exp((p * (p.clamp_min(1e-12).log() - py.clamp_min(1e-12).log())).sum(1).mean().item())


def load_svhn() -> dict:
    """SVHN train / test splits in [-1, 1] (torchvision's SVHN takes split=, not train=, so not data.torchvision_dataset)."""
    import torchvision
    import torchvision.transforms as T

    out = {}
    for split in ("train", "test"):
        try:
            ds = torchvision.datasets.SVHN(str(data.DATA_ROOT), split=split, download=True, transform=T.ToTensor())
        except Exception as e:
            raise data.DataUnavailable(f"could not load torchvision.datasets.SVHN ({split}) under {data.DATA_ROOT} "
                                       f"({type(e).__name__}: {e}); run once with internet access") from e
        x, y = data.to_tensors(ds)
        out[f"svhn_x{split[:2]}"], out[f"svhn_y{split[:2]}"] = x * 2 - 1, y
    return out


def train_gan(cfg: dict, ds: dict, item) -> dict:
    seed, beta1 = item
    torch.manual_seed(seed)
    g, d, log = adversarial_training(cfg, ds["xtr"], beta1)
    g.eval()
    with torch.no_grad():
        samples = g(torch.randn(1000, cfg["nz"]))
    gaps = log["gap"]
    tail = int(0.8 * len(gaps))
    out = {"gap_std_last30": float(np.std(gaps[int(0.7 * len(gaps)):])), "score": inception_like_score(ds["clf"], samples),
           "loss_d_last20": float(np.mean(log["loss_d"][tail:])), "loss_g_last20": float(np.mean(log["loss_g"][tail:])),
           "gaps": gaps, "samples": samples[:64]}
    if beta1 == cfg["probe_beta1"]:
        out["probe"] = probe(cfg, d.eval(), seed, ds["xtr"], ds["ytr"], ds["xte"], ds["yte"], cfg["labels_per_class"])
    return out


def svhn_1000_labels(cfg: dict, ds: dict, seed: int) -> float:
    """Sec. 5.2: a DCGAN trained on SVHN, then an L2-SVM on D's features from 1000 labels (100 per class); test error."""
    torch.manual_seed(seed)
    _, d, _ = adversarial_training(cfg, ds["svhn_xtr"], cfg["probe_beta1"])
    acc = probe(cfg, d.eval(), seed, ds["svhn_xtr"], ds["svhn_ytr"], ds["svhn_xte"], ds["svhn_yte"], 100)
    return 1 - acc["dcgan"]


def adversarial_training(cfg: dict, x: torch.Tensor, beta1: float, *, steps: int | None = None):
    """Sec. 4: Adam (lr 2e-4, beta1), one D step then one G step per minibatch; returns G, D and per-step logs
    (D loss, G loss, mean D(real) - mean D(fake))."""
    g = D.generator(nz=cfg["nz"], ngf=cfg["width"], nc=cfg["channels"], image_size=cfg["image_size"])
    d = D.discriminator(nc=cfg["channels"], ndf=cfg["width"], image_size=cfg["image_size"])
    opt_g, opt_d = D.optimizer(g.parameters(), beta1=beta1), D.optimizer(d.parameters(), beta1=beta1)
    log, m = {"gap": [], "loss_d": [], "loss_g": []}, cfg["batch_size"]
    for _ in progress(range(cfg["steps"] if steps is None else steps), desc=f"dcgan beta1={beta1}", enabled=cfg.get("show_progress", False)):
        real = x[torch.randint(0, len(x), (m,))]
        fake = g(torch.randn(m, cfg["nz"]))
        out_r, out_f = d(real), d(fake.detach())
        loss_d = F.binary_cross_entropy_with_logits(out_r, torch.ones(m)) + F.binary_cross_entropy_with_logits(out_f, torch.zeros(m))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = F.binary_cross_entropy_with_logits(d(fake), torch.ones(m))  # the non-saturating G loss
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        log["gap"].append((torch.sigmoid(out_r).mean() - torch.sigmoid(out_f).mean()).item())
        log["loss_d"].append(loss_d.item())
        log["loss_g"].append(loss_g.item())
    return g, d, log


def kmeans_features(x_unlabelled: torch.Tensor, *, k: int, patch: int, seed: int, n_patches: int = 50_000):
    """The paper's baseline (Table 1, '1 Layer K-means', Coates & Ng 2011): patches normalised for brightness and
    contrast, ZCA-whitened, k-means with k centroids; 'triangle' encoding max(0, mean_j z_j - z_k) of the distances
    z, sum-pooled over the four quadrants: 4k features. Learnt on the same unlabelled images the GAN sees."""
    from sklearn.cluster import MiniBatchKMeans

    eps_norm = 10 * (2 / 255) ** 2  # Coates' 10 for 0-255 pixels, in our [-1, 1] range

    def patches(x):
        p = F.unfold(x, patch).transpose(1, 2)  # (N, L, c * patch^2)
        return (p - p.mean(-1, keepdim=True)) / (p.var(-1, keepdim=True) + eps_norm).sqrt()

    P = patches(x_unlabelled).reshape(-1, x_unlabelled.shape[1] * patch * patch)
    sub = P[np.random.default_rng(seed).choice(len(P), min(n_patches, len(P)), replace=False)]
    mu = sub.mean(0)
    e, V = np.linalg.eigh(np.cov((sub - mu).T.numpy()))
    zca = torch.tensor(V @ np.diag(1 / np.sqrt(e + 0.1)) @ V.T, dtype=torch.float32)  # Coates' ZCA epsilon 0.1
    km = MiniBatchKMeans(k, random_state=seed, n_init=3, batch_size=2048).fit(((sub - mu) @ zca).numpy())
    centroids = torch.tensor(km.cluster_centers_, dtype=torch.float32)

    @torch.no_grad()
    def encode(x: torch.Tensor) -> torch.Tensor:
        z = torch.cdist((patches(x) - mu) @ zca, centroids)
        f = (z.mean(-1, keepdim=True) - z).clamp_min(0)
        s = int(round(math.sqrt(f.shape[1])))
        f, h = f.view(len(x), s, s, k), s // 2
        return torch.cat([f[:, :h, :h].sum((1, 2)), f[:, :h, h:].sum((1, 2)), f[:, h:, :h].sum((1, 2)), f[:, h:, h:].sum((1, 2))], 1)

    return encode


def probe(cfg: dict, d, seed: int, xtr, ytr, xte, yte, k: int | None) -> dict:
    """Sec. 5.1: a linear L2-SVM on D's conv features (each layer max-pooled to 4x4), with k labels per class (all
    when None), vs the paper's comparator, 1-layer K-means features learnt on the same unlabelled images; and, for
    reference, the same D architecture with random N(0, 0.02) weights and raw pixels."""
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    ytr = ytr.numpy()
    rng = np.random.default_rng(seed)
    idx = (np.concatenate([rng.choice(np.flatnonzero(ytr == c), k, replace=False) for c in range(10)]) if k else np.arange(len(ytr)))
    torch.manual_seed(10_000 + seed)
    rand_d = D.discriminator(nc=cfg["channels"], ndf=cfg["width"], image_size=cfg["image_size"]).eval()
    feats = {"dcgan": d.features, "random": rand_d.features, "pixels": lambda t: t.flatten(1),
             "kmeans": kmeans_features(xtr, k=cfg["kmeans_k"], patch=cfg["kmeans_patch"], seed=seed)}
    acc = {}
    with torch.no_grad():
        for name, fn in feats.items():
            ftr = fn(xtr[idx]).numpy()
            fte = torch.cat([fn(b) for b in xte.split(1000)]).numpy()
            sc = StandardScaler().fit(ftr)
            svm = LinearSVC(C=cfg["svm_c"], max_iter=5000).fit(sc.transform(ftr), ytr[idx])
            acc[name] = float((svm.predict(sc.transform(fte)) == yte.numpy()).mean())
    return acc


def _figures(cfg: dict, run, res, seeds) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s0, b = seeds[0], cfg["beta1s"]
    fig, ax = plt.subplots(1, len(b) + 1, figsize=(4 * (len(b) + 1), 4))
    for a, beta1 in zip(ax, b):
        sm = (res[(s0, beta1)]["samples"][:, :1] + 1) / 2
        n, s = 8, sm.shape[-1]
        a.imshow(sm[:n * n].view(n, n, s, s).permute(0, 2, 1, 3).reshape(n * s, n * s).numpy(), cmap="gray")
        a.set(title=f"DCGAN samples, beta1={beta1}", xticks=[], yticks=[])
    for beta1 in b:
        gaps = np.array(res[(s0, beta1)]["gaps"])
        w = max(len(gaps) // 50, 1)
        ax[-1].plot(np.convolve(gaps, np.ones(w) / w, mode="valid"), label=f"beta1={beta1}", lw=0.8)
    ax[-1].set(xlabel="step", title="D(real) - D(fake), running mean")
    ax[-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(run.figures / "dcgan_samples_and_stability.png", dpi=90, metadata={"Software": None})
    plt.close(fig)


def measure(cfg: dict, run) -> dict:
    cfg = {**cfg, "show_progress": run.show_progress}
    ds = load(cfg)
    ds["clf"] = train_classifier(cfg, ds)
    seeds = run.seeds(cfg["seeds"])
    items = [(s, b) for s in seeds for b in cfg["beta1s"]]
    res = dict(zip(items, map_seeds(functools.partial(train_gan, cfg, ds), items, label="seed,beta1")))
    lo, hi, pb = min(cfg["beta1s"]), max(cfg["beta1s"]), cfg["probe_beta1"]
    pr = [res[(s, pb)]["probe"] for s in seeds]
    metrics = structure(cfg)
    metrics.update({
        "classifier_test_acc": float((ds["clf"](ds["xte"]).argmax(1) == ds["yte"]).float().mean()),
        "real_test_images_score": inception_like_score(ds["clf"], ds["xte"]),
        f"gap_std_beta1_{hi}_minus_{lo}".replace(".", "p"): [res[(s, hi)]["gap_std_last30"] - res[(s, lo)]["gap_std_last30"] for s in seeds],
        f"sample_score_beta1_{lo}_minus_{hi}".replace(".", "p"): [res[(s, lo)]["score"] - res[(s, hi)]["score"] for s in seeds],
        "probe_acc_dcgan": [p["dcgan"] for p in pr], "probe_acc_kmeans": [p["kmeans"] for p in pr],
        "probe_acc_random_d": [p["random"] for p in pr], "probe_acc_pixels": [p["pixels"] for p in pr],
        "probe_acc_dcgan_minus_kmeans": [p["dcgan"] - p["kmeans"] for p in pr],
        "probe_acc_dcgan_minus_random_d": [p["dcgan"] - p["random"] for p in pr],
        "probe_acc_dcgan_minus_pixels": [p["dcgan"] - p["pixels"] for p in pr],
    })
    for b in cfg["beta1s"]:
        tag = f"beta1_{b}".replace(".", "p")
        metrics[f"sample_score_{tag}"] = [res[(s, b)]["score"] for s in seeds]
        metrics[f"loss_d_last20_{tag}"] = [res[(s, b)]["loss_d_last20"] for s in seeds]
        metrics[f"loss_g_last20_{tag}"] = [res[(s, b)]["loss_g_last20"] for s in seeds]
    if cfg.get("svhn"):
        svhn = load_svhn()
        metrics["svhn_1000_label_test_error"] = map_seeds(functools.partial(svhn_1000_labels, cfg, svhn), seeds, workers=1)
    _figures(cfg, run, res, seeds)
    return {"seeds": seeds, "metrics": metrics, "setting": {
        "data": (f"sklearn digits upsampled to {cfg['image_size']}x{cfg['image_size']}, [-1, 1], 1258 train / 539 test"
                 if cfg["data"] == "digits" else f"torchvision {cfg['data']} at {cfg['image_size']}x{cfg['image_size']}"),
        "model": f"DCGAN G/D, nz {cfg['nz']}, ngf = ndf = {cfg['width']}", "steps": cfg["steps"],
        "batch_size": cfg["batch_size"], "beta1_arms": cfg["beta1s"], "adam_lr": 2e-4,
        "stability": "std of mean D(real) - mean D(fake) over the last 30% of steps",
        "quality": "exp(E KL(p(y|x) || p(y))) of 1000 samples under a D-architecture digit classifier "
                   f"trained {cfg['classifier_epochs']} epochs on the real training split",
        "probe": f"LinearSVC (C={cfg['svm_c']}) on standardised features, {cfg['labels_per_class'] or 'all'} labels "
                 "per class from the training split, tested on the test split; D features = each conv layer max-pooled to 4x4; "
                 f"K-means = {cfg['kmeans_k']} centroids of {cfg['kmeans_patch']}x{cfg['kmeans_patch']} whitened patches, "
                 f"triangle encoding, 4-quadrant sum pooling ({4 * cfg['kmeans_k']} features)",
        "convergence": "mean D and G losses over the last 20% of steps; sample score of 1000 samples",
        **({"svhn": f"a second DCGAN (beta1 {cfg['probe_beta1']}) trained {cfg['steps']} steps on SVHN train (73,257), "
                    "LinearSVC on its D features from 100 labels per class, error on SVHN test (26,032)"} if cfg.get("svhn") else {})}}
