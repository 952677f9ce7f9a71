"""Singing-voice U-Net: the paper's patch geometry and network (meta device), and a scaled-down U-Net with vs
without skip connections trained on generated magnitude spectrograms (harmonic "voice" + "accompaniment")."""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from implementations.singing_voice_unet import PATCH_FRAMES, WINDOW, l1_loss, patch_seconds, singing_voice_unet  # noqa: E402
from pipelines.common import map_seeds  # noqa: E402
from pipelines.structural import count_params, on_meta  # noqa: E402
from pipelines.train import seed_everything  # noqa: E402

_CFG: dict = {}


def harmonic(rng, freqs: int, frames: int, f0: np.ndarray, partials: int, decay: float) -> np.ndarray:
    """Magnitude of a harmonic stack with fundamental f0[t] (in bins): partial k at k f0 with amplitude decay^k."""
    bins = np.arange(freqs)[:, None]
    spec = np.zeros((freqs, frames))
    for k in range(1, partials + 1):
        spec += decay ** (k - 1) * np.exp(-0.5 * ((bins - k * f0[None]) / 0.7) ** 2)
    return spec


def spectrograms(n: int, freqs: int, frames: int, seed: int):
    """(mixture, voice) magnitude pairs in [0, 1]: the voice is a 7-partial harmonic stack with vibrato, sung in
    phrases; the accompaniment is sustained decaying 5-partial notes, broadband drum hits and a noise floor."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)
    mixes, voices = [], []
    for _ in range(n):
        f0 = rng.uniform(3, 7) + 0.4 * np.sin(2 * np.pi * t / rng.uniform(4, 8) + rng.uniform(0, 6))  # vibrato
        gate = np.zeros(frames)
        for _ in range(rng.integers(1, 4)):  # phrases
            a = rng.integers(0, frames - 4)
            gate[a:a + rng.integers(4, frames // 2)] = 1.0
        voice = rng.uniform(0.5, 1.0) * harmonic(rng, freqs, frames, f0, 7, 0.75) * gate
        acc = np.zeros((freqs, frames))
        for _ in range(rng.integers(2, 5)):  # sustained notes with an exponential decay
            start = rng.integers(0, frames - 2)
            env = np.where(t >= start, np.exp(-(t - start) / rng.uniform(5, 20)), 0.0)
            acc += rng.uniform(0.3, 0.8) * harmonic(rng, freqs, frames, np.full(frames, rng.uniform(2, 9)), 5, 0.6) * env
        for hit in rng.choice(frames, size=rng.integers(2, 6), replace=False):  # drums: broadband transients
            acc[:, hit] += rng.uniform(0.2, 0.6) * np.exp(-np.arange(freqs) / rng.uniform(10, 40))
        acc += 0.05 * rng.random((freqs, frames))
        mix = voice + acc
        scale = mix.max()  # Sec. 3: magnitudes normalised to [0, 1]
        mixes.append(mix / scale)
        voices.append(voice / scale)
    as_t = lambda a: torch.tensor(np.stack(a)[:, None], dtype=torch.float32)  # noqa: E731
    return as_t(mixes), as_t(voices)


def snr_db(estimate: torch.Tensor, target: torch.Tensor) -> float:
    return 10 * math.log10(target.pow(2).sum().item() / max((estimate - target).pow(2).sum().item(), 1e-12))


def train_and_score(job: tuple) -> dict:
    arm, seed = job
    cfg = _CFG
    mix, voice = spectrograms(cfg["train_examples"], cfg["freqs"], cfg["frames"], seed=1000 + seed)
    mix_te, voice_te = spectrograms(cfg["test_examples"], cfg["freqs"], cfg["frames"], seed=5000)
    seed_everything(seed)
    model = singing_voice_unet(channels=tuple(cfg["channels"]), skips=arm == "skip")
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    gen = torch.Generator().manual_seed(seed)
    for _ in range(cfg["steps"]):
        idx = torch.randint(0, len(mix), (cfg["batch_size"],), generator=gen)
        loss = l1_loss(model(mix[idx]), voice[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        est = model(mix_te)
    return {"snr": snr_db(est, voice_te), "l1": l1_loss(est, voice_te).item(),
            "snr_mixture": snr_db(mix_te, voice_te), "example": est[:2, 0].numpy()}


def structural() -> dict:
    model = on_meta(lambda: singing_voice_unet())
    out = model(torch.zeros(1, 1, 512, PATCH_FRAMES, device="meta"))
    # soft mask: the estimate never exceeds the mixture, on a real (small) forward pass
    torch.manual_seed(0)
    small = singing_voice_unet(channels=(4, 8, 16)).eval()
    mix = torch.rand(4, 1, 32, 32)
    with torch.no_grad():
        est = small(mix)
    return {"patch_seconds": patch_seconds(), "patch_seconds_with_last_window": patch_seconds(include_last_window=True),
            "stft_frequency_bins": WINDOW // 2 + 1,
            "output_equals_input_shape_512x128": float(tuple(out.shape) == (1, 1, 512, PATCH_FRAMES)),
            "encoder_layers": len(model.encoder), "decoder_layers": len(model.decoder),
            "param_count_singing_voice_unet": count_params(model),
            "estimate_within_mixture": float(bool(((est >= 0) & (est <= mix)).all()))}


def save_figure(cfg: dict, results: dict, path) -> None:
    mix, voice = spectrograms(cfg["test_examples"], cfg["freqs"], cfg["frames"], seed=5000)
    panels = [("mixture", mix[0, 0]), ("true voice", voice[0, 0]),
              ("U-Net estimate", results["skip"][0]["example"][0]), ("no-skip estimate", results["noskip"][0]["example"][0])]
    fig, axes = plt.subplots(1, 4, figsize=(12, 3))
    for ax, (title, img) in zip(axes, panels):
        ax.imshow(np.asarray(img), origin="lower", aspect="auto", cmap="magma", vmin=0, vmax=float(mix[0, 0].max()))
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("frame", fontsize=7)
    axes[0].set_ylabel("frequency bin", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80, metadata={"Software": None})
    plt.close(fig)


def measure(cfg: dict, run) -> dict:
    metrics = structural()
    arms = ["skip", "noskip"]
    seeds = list(range(cfg["seeds"]))
    jobs = [(arm, s) for arm in arms for s in seeds]
    _CFG.update(cfg)
    outs = map_seeds(train_and_score, jobs, label="arm/seed")
    res = {arm: [o for (a, _), o in zip(jobs, outs) if a == arm] for arm in arms}
    metrics["snr_db_skip"] = [r["snr"] for r in res["skip"]]
    metrics["snr_db_noskip"] = [r["snr"] for r in res["noskip"]]
    metrics["snr_db_mixture_as_estimate"] = res["skip"][0]["snr_mixture"]
    metrics["snr_db_skip_minus_noskip"] = [a["snr"] - b["snr"] for a, b in zip(res["skip"], res["noskip"])]
    metrics["snr_db_skip_minus_mixture"] = [a["snr"] - a["snr_mixture"] for a in res["skip"]]
    metrics["l1_noskip_minus_skip"] = [b["l1"] - a["l1"] for a, b in zip(res["skip"], res["noskip"])]
    save_figure(cfg, res, run.figures / "separated_spectrograms.png")
    return {"seeds": seeds, "metrics": metrics, "setting": {
        "data": f"generated magnitude spectrograms {cfg['freqs']} bins x {cfg['frames']} frames: voice = 7-partial harmonic "
                f"stack with vibrato in phrases; accompaniment = decaying 5-partial notes + drum transients + noise "
                f"floor; mixture = sum, scaled to [0, 1]; {cfg['train_examples']} training pairs per seed, fixed "
                f"{cfg['test_examples']} test pairs",
        "model": f"U-Net of the paper scaled down: channels {cfg['channels']}, 5x5 stride 2, BN, leaky ReLU 0.2, "
                 f"deconvs, dropout 0.5 on the first 3 decoder layers, sigmoid mask; arms: with / without skips",
        "training": f"Adam lr {cfg['lr']}, {cfg['steps']} steps of batch {cfg['batch_size']}, L1 loss",
        "metric": "spectrogram SNR (dB) of the voice estimate over the test set"}}
