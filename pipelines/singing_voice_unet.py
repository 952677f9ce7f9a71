"""Singing-voice U-Net: the paper's patch geometry and network (meta device), and a scaled-down U-Net with vs
without skip connections trained on generated magnitude spectrograms (harmonic "voice" + "accompaniment").
full: also the paper's U-Net trained on the training tracks of a local folder of WAV stems (MUSDB18-HQ's layout:
<split>/<track>/mixture.wav and vocals.wav; iKala converted to it) and its voice NSDR on the test tracks (Table 1)."""
from __future__ import annotations

import functools
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from implementations.singing_voice_unet import (HOP, PATCH_FRAMES, SAMPLE_RATE, WINDOW, l1_loss,  # noqa: E402
                                                patch_seconds, singing_voice_unet)
from pipelines.shared.common import map_arms, progress  # noqa: E402
from pipelines.shared.data import DataUnavailable  # noqa: E402
from pipelines.shared.structural import count_params, on_meta  # noqa: E402
from pipelines.shared.train import seed_everything  # noqa: E402


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


def fine_detail(spec: torch.Tensor) -> torch.Tensor:
    """The fine time-frequency structure of a magnitude spectrogram: what a 3x3 local mean (edges replicated) does
    not keep, i.e. the partials' narrow peaks, onsets and vibrato wiggles."""
    smooth = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(spec, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    return spec - smooth


def train_and_score(cfg: dict, job: tuple) -> dict:
    """One arm ("skip": the U-Net; "noskip": the same encoder-decoder without its skip connections), one seed: its
    own training pairs, Adam on the L1,1 loss of the masked mixture, scored on the fixed test pairs."""
    arm, seed = job
    mix, voice = spectrograms(cfg["train_examples"], cfg["freqs"], cfg["frames"], seed=1000 + seed)
    mix_te, voice_te = spectrograms(cfg["test_examples"], cfg["freqs"], cfg["frames"], seed=5000)
    seed_everything(seed)
    device = cfg["device"]
    model = singing_voice_unet(channels=tuple(cfg["channels"]), skips=arm == "skip").to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    gen = torch.Generator().manual_seed(seed)
    for _ in range(cfg["steps"]):
        idx = torch.randint(0, len(mix), (cfg["batch_size"],), generator=gen)
        loss = l1_loss(model(mix[idx].to(device)), voice[idx].to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        est = model(mix_te.to(device)).cpu()
    return {"snr": snr_db(est, voice_te), "l1": l1_loss(est, voice_te).item(),
            "detail_snr": snr_db(fine_detail(est), fine_detail(voice_te)),
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


# ------------------------------------------------------------------------------- full profile: real WAV stems
def read_wav(path: Path) -> np.ndarray:
    """A WAV file as mono float64 at the paper's 8192 Hz (Sec. 3: "we downsample the input audio to 8192 Hz")."""
    from scipy.io import wavfile
    from scipy.signal import resample_poly

    rate, audio = wavfile.read(path)
    if audio.dtype.kind in "iu":  # integer PCM -> [-1, 1]
        info = np.iinfo(audio.dtype)
        audio = (audio.astype(np.float64) - (info.max + 1 + info.min) / 2) / ((info.max - info.min + 1) / 2)
    audio = audio.astype(np.float64)
    if audio.ndim == 2:
        audio = audio.mean(1)
    g = math.gcd(SAMPLE_RATE, rate)
    return resample_poly(audio, SAMPLE_RATE // g, rate // g) if rate != SAMPLE_RATE else audio


def stem_tracks(folder, split: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(mixture, vocals) waveforms of every <folder>/<split>/<track>/ holding mixture.wav and vocals.wav."""
    tracks = sorted(d for d in (Path(folder or "") / split).glob("*") if (d / "mixture.wav").is_file()
                    and (d / "vocals.wav").is_file())
    if not tracks:
        raise DataUnavailable(
            f"no WAV stems in {str(Path(folder or '') / split)!r}: the full profile needs one folder per track holding "
            f"mixture.wav and vocals.wav, under train/ and test/ (MUSDB18-HQ's layout, https://zenodo.org/records/"
            f"3338373; MUSDB18's stems via `musdb` decode, or iKala's left/right channels saved as vocals.wav and "
            f"their sum as mixture.wav); set singing_voice_unet.full.stems_dir in params.yaml")
    out = []
    for d in tracks:
        mix, voc = read_wav(d / "mixture.wav"), read_wav(d / "vocals.wav")
        n = min(len(mix), len(voc))
        out.append((mix[:n], voc[:n]))
    return out


def stft(audio: np.ndarray) -> torch.Tensor:
    """Sec. 3: STFT with window 1024 and hop 768; the 512 lowest of the 513 bins form the network's input."""
    return torch.stft(torch.tensor(audio, dtype=torch.float32), WINDOW, HOP, window=torch.hann_window(WINDOW),
                      return_complex=True)


def spectrogram_pairs(tracks) -> list[tuple[torch.Tensor, torch.Tensor, float]]:
    """(mixture magnitude, vocal magnitude) of each track, scaled by the mixture's maximum into [0, 1]."""
    pairs = []
    for mix, voc in tracks:
        m, v = stft(mix).abs()[:512], stft(voc).abs()[:512]
        scale = float(m.max().clamp_min(1e-8))
        pairs.append((m / scale, v / scale, scale))
    return pairs


def sdr_db(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Signal-to-distortion ratio without BSS Eval's allowed distortion filter: 10 log10 |s|^2 / |s - s_hat|^2."""
    return 10 * math.log10(max((reference ** 2).sum(), 1e-12) / max(((reference - estimate) ** 2).sum(), 1e-12))


def separate(model, mix: np.ndarray, device: str) -> np.ndarray:
    """The voice waveform: the mask applied to the mixture's magnitude, 128-frame patches side by side, with the
    mixture's phase, inverted by the inverse STFT (Sec. 3)."""
    spec = stft(mix)
    mag = spec.abs()[:512]
    scale = float(mag.max().clamp_min(1e-8))
    frames = mag.shape[1]
    padded = torch.nn.functional.pad(mag / scale, (0, -frames % PATCH_FRAMES))
    patches = padded.unflatten(1, (-1, PATCH_FRAMES)).permute(1, 0, 2)[:, None]  # (P, 1, 512, 128)
    with torch.no_grad():
        mask = torch.cat([model.mask(p[None].to(device)).cpu() for p in patches])
    mask = mask[:, 0].permute(1, 0, 2).flatten(1)[:, :frames]
    mask = torch.cat([mask, mask[-1:]])  # the Nyquist bin takes the mask of the bin below
    voice = torch.istft(spec * mask, WINDOW, HOP, window=torch.hann_window(WINDOW), length=len(mix))
    return voice.numpy().astype(np.float64)


def train_on_stems(cfg: dict, seed: int, train_pairs, device: str):
    """The paper's U-Net trained on random 512 x 128 patches of the training tracks, L1 loss, ADAM (Sec. 3)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = singing_voice_unet().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["stems_lr"])
    usable = [p for p in train_pairs if p[0].shape[1] >= PATCH_FRAMES]
    model.train()
    for _ in progress(range(cfg["stems_steps"]), desc=f"stems seed {seed}", enabled=cfg.get("show_progress", False)):
        mixes, voices = [], []
        for t in torch.randint(0, len(usable), (cfg["stems_batch_size"],), generator=gen).tolist():
            m, v, _ = usable[t]
            start = int(torch.randint(0, m.shape[1] - PATCH_FRAMES + 1, (1,), generator=gen))
            mixes.append(m[:, start:start + PATCH_FRAMES])
            voices.append(v[:, start:start + PATCH_FRAMES])
        loss = l1_loss(model(torch.stack(mixes)[:, None].to(device)), torch.stack(voices)[:, None].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model.eval()


def stems_nsdr(cfg: dict, seed: int, train_pairs, test_tracks, device: str) -> float:
    """GNSDR of the voice: NSDR = SDR(estimate) - SDR(mixture) per test track, averaged weighted by length."""
    model = train_on_stems(cfg, seed, train_pairs, device)
    nsdr, lengths = [], []
    for mix, voc in test_tracks:
        nsdr.append(sdr_db(separate(model, mix, device), voc) - sdr_db(mix, voc))
        lengths.append(len(mix))
    return float(np.average(nsdr, weights=lengths))


def measure_stems(cfg: dict, run) -> tuple[dict, dict]:
    cfg = {**cfg, "show_progress": run.show_progress}
    train_tracks, test_tracks = stem_tracks(cfg["stems_dir"], "train"), stem_tracks(cfg["stems_dir"], "test")
    train_pairs = spectrogram_pairs(train_tracks)
    seeds = run.seeds(cfg["stems_seeds"])
    metrics = {"vocal_gnsdr_db_plain_sdr": [stems_nsdr(cfg, s, train_pairs, test_tracks, run.device) for s in seeds]}
    setting = {"stems": f"WAV stems from {cfg['stems_dir']}: {len(train_tracks)} training and {len(test_tracks)} test "
                        f"tracks (mixture.wav, vocals.wav), mono, resampled to 8192 Hz, STFT window 1024 hop 768, 512 "
                        f"bins, magnitudes scaled by the mixture's maximum; the paper's U-Net (16..512 channels) trained "
                        f"with ADAM lr {cfg['stems_lr']}, L1, {cfg['stems_steps']} steps of {cfg['stems_batch_size']} "
                        f"random 128-frame patches; voice = mask x mixture magnitude with the mixture phase, inverse "
                        f"STFT; NSDR = SDR(voice estimate) - SDR(mixture) per test track with the plain SDR (no BSS Eval "
                        f"distortion filter: mir_eval is not installed), averaged weighted by track length; seeds {seeds}"}
    return metrics, setting


def measure(cfg: dict, run) -> dict:
    # full: the real data first, so that a missing data set stops the stage before the small experiment runs
    stems_metrics, stems_setting = measure_stems(cfg, run) if run.profile == "full" else ({}, {})
    metrics = structural()
    seeds = run.seeds(cfg["seeds"])
    res = map_arms(functools.partial(train_and_score, {**cfg, "device": run.device}), ["skip", "noskip"], seeds)
    mixture = res["skip"][0]["snr_mixture"]  # the fixed test set's mixture-as-estimate, the same for every run
    metrics["snr_db_mixture_as_estimate"] = mixture
    for arm in ("skip", "noskip"):
        metrics[f"snr_db_{arm}"] = [r["snr"] for r in res[arm]]
        metrics[f"snr_db_{arm}_minus_mixture"] = [r["snr"] - mixture for r in res[arm]]
        metrics[f"detail_snr_db_{arm}"] = [r["detail_snr"] for r in res[arm]]
    pairs = list(zip(res["skip"], res["noskip"]))
    metrics["snr_db_skip_minus_noskip"] = [a["snr"] - b["snr"] for a, b in pairs]
    metrics["detail_snr_db_skip_minus_noskip"] = [a["detail_snr"] - b["detail_snr"] for a, b in pairs]
    metrics["l1_noskip_minus_skip"] = [b["l1"] - a["l1"] for a, b in pairs]
    save_figure(cfg, res, run.figures / "separated_spectrograms.png")
    setting = {
        "data": f"generated magnitude spectrograms {cfg['freqs']} bins x {cfg['frames']} frames: voice = 7-partial harmonic "
                f"stack with vibrato in phrases; accompaniment = decaying 5-partial notes + drum transients + noise "
                f"floor; mixture = sum, scaled to [0, 1]; {cfg['train_examples']} training pairs per seed, fixed "
                f"{cfg['test_examples']} test pairs",
        "model": f"U-Net of the paper scaled down: channels {cfg['channels']}, 5x5 stride 2, BN, leaky ReLU 0.2, "
                 f"deconvs, dropout 0.5 on the first 3 decoder layers, sigmoid mask; arms: with / without skips",
        "training": f"Adam lr {cfg['lr']}, {cfg['steps']} steps of batch {cfg['batch_size']}, L1 loss",
        "metric": "spectrogram SNR (dB) of the voice estimate over the test set; detail SNR: the same on the spectrograms "
                  "minus their 3x3 local mean"}
    metrics.update(stems_metrics)
    setting.update(stems_setting)
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
