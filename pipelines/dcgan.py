"""DCGAN (Radford et al. 2015): the Sec. 3 guidelines checked on the built modules, then a small DCGAN trained on
digits for the Sec. 4 beta1 claim and the Sec. 5.1 linear probe on the discriminator's features.

cpu: sklearn digits upsampled to 16x16, in [-1, 1].  full: CIFAR-10 32x32 (torchvision) for training and the probe,
and a second DCGAN trained on SVHN for the Sec. 5.2 1000-label probe.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from implementations import dcgan as D
from pipelines.shared import data
from pipelines.shared.common import map_seeds, progress
from pipelines.shared.structural import count_params, on_meta
from pipelines.shared.train import fit

CFG: dict = {}
DATA: dict = {}


def structure() -> dict:
    g, d = on_meta(lambda: D.generator()), on_meta(lambda: D.discriminator())
    small_g = D.generator(nz=100, ngf=64, nc=3, image_size=64)  # real weights, for the init statistics
    small_d = D.discriminator(nc=3, ndf=64, image_size=64)
    conv_w = torch.cat([m.weight.flatten() for net in (small_g, small_d) for m in net.modules()
                        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))])
    opt = D.optimizer([torch.zeros(1, requires_grad=True)])
    return {"guideline_violations_64px": len(D.guideline_violations(g, d)),
            "guideline_violations_cpu_model": len(D.guideline_violations(
                D.generator(nz=CFG["nz"], ngf=CFG["width"], nc=CFG["channels"], image_size=CFG["image_size"]),
                D.discriminator(nc=CFG["channels"], ndf=CFG["width"], image_size=CFG["image_size"]))),
            "init_weight_std": conv_w.std().item(), "init_weight_mean": conv_w.mean().item(),
            "adam_lr": opt.defaults["lr"], "adam_beta1": opt.defaults["betas"][0],
            "param_count_generator_64px_ngf64": count_params(g), "param_count_discriminator_64px_ndf64": count_params(d)}


def load(cfg: dict) -> None:
    if cfg["data"] == "digits":
        (xtr, ytr), (xte, yte) = data.digits(image_size=cfg["image_size"], test_fraction=0.3, split_seed=0)
    else:
        import torchvision.transforms as T

        tf = T.Compose([T.Resize(cfg["image_size"]), T.ToTensor()])
        xtr, ytr = data.to_tensors(data.torchvision_dataset(cfg["data"], train=True, transform=tf))
        xte, yte = data.to_tensors(data.torchvision_dataset(cfg["data"], train=False, transform=tf))
    DATA.update(xtr=xtr * 2 - 1, ytr=ytr, xte=xte * 2 - 1, yte=yte)  # Tanh range (Sec. 4: images scaled to [-1, 1])


def train_classifier() -> torch.nn.Module:
    """The judge of sample quality: D's architecture with 10 outputs, trained supervised on the real training digits."""
    torch.manual_seed(1234)
    clf = D.discriminator(nc=CFG["channels"], ndf=CFG["width"], image_size=CFG["image_size"], num_outputs=10)
    fit(clf, DATA["xtr"], DATA["ytr"], epochs=CFG["classifier_epochs"], batch_size=64,
        optimizer=torch.optim.Adam(clf.parameters(), lr=1e-3), seed=0)
    return clf.eval()


@torch.no_grad()
def inception_like_score(clf, x: torch.Tensor) -> float:
    """exp(E_x KL(p(y|x) || p(y))): high when samples are confidently classified and all classes appear."""
    p = F.softmax(clf(x), 1)
    py = p.mean(0, keepdim=True)
    return math.exp((p * (p.clamp_min(1e-12).log() - py.clamp_min(1e-12).log())).sum(1).mean().item())


def load_svhn() -> None:
    """SVHN train / test splits in [-1, 1] (torchvision's SVHN takes split=, not train=, so not data.torchvision_dataset)."""
    import torchvision
    import torchvision.transforms as T

    for split in ("train", "test"):
        try:
            ds = torchvision.datasets.SVHN(str(data.DATA_ROOT), split=split, download=True, transform=T.ToTensor())
        except Exception as e:
            raise data.DataUnavailable(f"could not load torchvision.datasets.SVHN ({split}) under {data.DATA_ROOT} "
                                       f"({type(e).__name__}: {e}); run once with internet access") from e
        x, y = data.to_tensors(ds)
        DATA[f"svhn_x{split[:2]}"], DATA[f"svhn_y{split[:2]}"] = x * 2 - 1, y


def train_gan(item) -> dict:
    seed, beta1 = item
    torch.manual_seed(seed)
    x = DATA["xtr"]
    g, d, gaps = adversarial_training(x, beta1)
    g.eval()
    with torch.no_grad():
        samples = g(torch.randn(1000, CFG["nz"]))
    tail = np.array(gaps[int(0.7 * len(gaps)):])
    out = {"gap_std_last30": float(tail.std()), "score": inception_like_score(DATA["clf"], samples), "gaps": gaps,
           "samples": samples[:64]}
    if beta1 == CFG["probe_beta1"]:
        out["probe"] = probe(d.eval(), seed, DATA["xtr"], DATA["ytr"], DATA["xte"], DATA["yte"], CFG["labels_per_class"])
    return out


def svhn_1000_labels(seed: int) -> float:
    """Sec. 5.2: a DCGAN trained on SVHN, then an L2-SVM on D's features from 1000 labels (100 per class); test error."""
    torch.manual_seed(seed)
    _, d, _ = adversarial_training(DATA["svhn_xtr"], CFG["probe_beta1"])
    acc = probe(d.eval(), seed, DATA["svhn_xtr"], DATA["svhn_ytr"], DATA["svhn_xte"], DATA["svhn_yte"], 100)
    return 1 - acc["dcgan"]


def adversarial_training(x: torch.Tensor, beta1: float):
    """Sec. 4: Adam (lr 2e-4, beta1), one D step then one G step per minibatch; returns G, D and D(real) - D(fake)."""
    g = D.generator(nz=CFG["nz"], ngf=CFG["width"], nc=CFG["channels"], image_size=CFG["image_size"])
    d = D.discriminator(nc=CFG["channels"], ndf=CFG["width"], image_size=CFG["image_size"])
    opt_g, opt_d = D.optimizer(g.parameters(), beta1=beta1), D.optimizer(d.parameters(), beta1=beta1)
    gaps, m = [], CFG["batch_size"]
    for _ in progress(range(CFG["steps"]), desc=f"dcgan beta1={beta1}", enabled=CFG["show_progress"]):
        real = x[torch.randint(0, len(x), (m,))]
        fake = g(torch.randn(m, CFG["nz"]))
        out_r, out_f = d(real), d(fake.detach())
        loss_d = F.binary_cross_entropy_with_logits(out_r, torch.ones(m)) + F.binary_cross_entropy_with_logits(out_f, torch.zeros(m))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = F.binary_cross_entropy_with_logits(d(fake), torch.ones(m))  # the non-saturating G loss
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        gaps.append((torch.sigmoid(out_r).mean() - torch.sigmoid(out_f).mean()).item())
    return g, d, gaps


def probe(d, seed: int, xtr, ytr, xte, yte, k: int | None) -> dict:
    """Sec. 5.1: a linear L2-SVM on D's conv features (each layer max-pooled to 4x4), with k labels per class (all
    when None), vs the same architecture with random N(0, 0.02) weights, vs raw pixels."""
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    ytr = ytr.numpy()
    rng = np.random.default_rng(seed)
    idx = (np.concatenate([rng.choice(np.flatnonzero(ytr == c), k, replace=False) for c in range(10)]) if k else np.arange(len(ytr)))
    torch.manual_seed(10_000 + seed)
    rand_d = D.discriminator(nc=CFG["channels"], ndf=CFG["width"], image_size=CFG["image_size"]).eval()
    feats = {"dcgan": d.features, "random": rand_d.features, "pixels": lambda t: t.flatten(1)}
    acc = {}
    with torch.no_grad():
        for name, fn in feats.items():
            ftr = fn(xtr[idx]).numpy()
            fte = torch.cat([fn(b) for b in xte.split(1000)]).numpy()
            sc = StandardScaler().fit(ftr)
            svm = LinearSVC(C=CFG["svm_c"], max_iter=5000).fit(sc.transform(ftr), ytr[idx])
            acc[name] = float((svm.predict(sc.transform(fte)) == yte.numpy()).mean())
    return acc


def _figures(run, res, seeds) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s0, b = seeds[0], CFG["beta1s"]
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
    CFG.clear()
    CFG.update(cfg, show_progress=run.show_progress)
    load(cfg)
    DATA["clf"] = train_classifier()
    seeds = run.seeds(cfg["seeds"])
    items = [(s, b) for s in seeds for b in cfg["beta1s"]]
    res = dict(zip(items, map_seeds(train_gan, items, label="seed,beta1")))
    lo, hi = min(cfg["beta1s"]), max(cfg["beta1s"])
    pr = [res[(s, cfg["probe_beta1"])]["probe"] for s in seeds]
    metrics = structure()
    metrics.update({
        "classifier_test_acc": float((DATA["clf"](DATA["xte"]).argmax(1) == DATA["yte"]).float().mean()),
        "real_test_images_score": inception_like_score(DATA["clf"], DATA["xte"]),
        f"gap_std_beta1_{hi}_minus_{lo}".replace(".", "p"): [res[(s, hi)]["gap_std_last30"] - res[(s, lo)]["gap_std_last30"] for s in seeds],
        f"sample_score_beta1_{lo}_minus_{hi}".replace(".", "p"): [res[(s, lo)]["score"] - res[(s, hi)]["score"] for s in seeds],
        "probe_acc_dcgan": [p["dcgan"] for p in pr], "probe_acc_random_d": [p["random"] for p in pr],
        "probe_acc_pixels": [p["pixels"] for p in pr],
        "probe_acc_dcgan_minus_random_d": [p["dcgan"] - p["random"] for p in pr],
    })
    for b in cfg["beta1s"]:
        metrics[f"sample_score_beta1_{b}".replace(".", "p")] = [res[(s, b)]["score"] for s in seeds]
    if cfg.get("svhn"):
        load_svhn()
        metrics["svhn_1000_label_test_error"] = map_seeds(svhn_1000_labels, seeds)
    _figures(run, res, seeds)
    return {"seeds": seeds, "metrics": metrics, "setting": {
        "data": (f"sklearn digits upsampled to {cfg['image_size']}x{cfg['image_size']}, [-1, 1], 1258 train / 539 test"
                 if cfg["data"] == "digits" else f"torchvision {cfg['data']} at {cfg['image_size']}x{cfg['image_size']}"),
        "model": f"DCGAN G/D, nz {cfg['nz']}, ngf = ndf = {cfg['width']}", "steps": cfg["steps"],
        "batch_size": cfg["batch_size"], "beta1_arms": cfg["beta1s"], "adam_lr": 2e-4,
        "stability": "std of mean D(real) - mean D(fake) over the last 30% of steps",
        "quality": "exp(E KL(p(y|x) || p(y))) of 1000 samples under a D-architecture digit classifier "
                   f"trained {cfg['classifier_epochs']} epochs on the real training split",
        "probe": f"LinearSVC (C={cfg['svm_c']}) on standardised features, {cfg['labels_per_class'] or 'all'} labels "
                 "per class from the training split, tested on the test split; D features = each conv layer max-pooled to 4x4",
        **({"svhn": f"a second DCGAN (beta1 {cfg['probe_beta1']}) trained {cfg['steps']} steps on SVHN train (73,257), "
                    "LinearSVC on its D features from 100 labels per class, error on SVHN test (26,032)"} if cfg.get("svhn") else {})}}
