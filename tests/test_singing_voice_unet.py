import torch

from implementations.singing_voice_unet import l1_loss, patch_seconds, singing_voice_unet
from pipelines.shared.structural import on_meta


def test_paper_network_shape_and_layers():
    m = on_meta(lambda: singing_voice_unet())
    assert m(torch.zeros(1, 1, 512, 128, device="meta")).shape == (1, 1, 512, 128)
    assert [e[0].out_channels for e in m.encoder] == [16, 32, 64, 128, 256, 512]
    assert [e[0].kernel_size for e in m.encoder] == [(5, 5)] * 6 and m.encoder[0][2].negative_slope == 0.2
    assert sum(isinstance(x, torch.nn.Dropout2d) for x in m.modules()) == 3


def test_soft_mask_times_mixture_and_l1():
    torch.manual_seed(0)
    m = singing_voice_unet(channels=(4, 8)).eval()
    mix = torch.rand(2, 1, 16, 16)
    est = m(mix)
    assert torch.allclose(est, m.mask(mix) * mix) and (est <= mix).all() and (est >= 0).all()
    target = torch.rand(2, 1, 16, 16)
    assert torch.isclose(l1_loss(est, target), (est - target).abs().sum() / 2)


def test_patch_seconds():
    assert patch_seconds() == 12.0 and patch_seconds(include_last_window=True) == 12.03125


def test_wav_stems_loading_training_and_nsdr_on_tiny_files(tmp_path):
    import numpy as np
    import pytest
    from scipy.io import wavfile

    from pipelines.shared.data import DataUnavailable
    from pipelines.singing_voice_unet import read_wav, spectrogram_pairs, stem_tracks, stems_nsdr

    with pytest.raises(DataUnavailable, match="mixture.wav"):
        stem_tracks(tmp_path, "train")
    rng = np.random.default_rng(0)
    for split, name, rate, seconds in [("train", "a", 8192, 13), ("train", "b", 16384, 12.5), ("test", "c", 16384, 3)]:
        d = tmp_path / split / name
        d.mkdir(parents=True)
        n = int(rate * seconds)
        voice = 0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / rate)
        mix = voice + 0.1 * rng.standard_normal(n)
        if rate == 8192:  # float WAV at the paper's rate
            wavfile.write(d / "mixture.wav", rate, mix.astype(np.float32))
            wavfile.write(d / "vocals.wav", rate, voice.astype(np.float32))
        else:  # 16-bit stereo at twice the rate: resampled to 8192 Hz and averaged to mono
            wavfile.write(d / "mixture.wav", rate, (np.stack([mix, mix], 1) * 32767).astype(np.int16))
            wavfile.write(d / "vocals.wav", rate, (np.stack([voice, voice], 1) * 32767).astype(np.int16))
    (tmp_path / "train" / "not_a_track").mkdir()
    train, test = stem_tracks(tmp_path, "train"), stem_tracks(tmp_path, "test")
    assert [len(m) for m, _ in train] == [13 * 8192, int(12.5 * 8192)] and len(test) == 1
    voice16 = read_wav(tmp_path / "test/c/vocals.wav")  # the 440 Hz tone survives the resampling, in scale
    assert len(voice16) == 3 * 8192 and abs(np.abs(voice16[100:-100]).max() - 0.3) < 0.005
    pairs = spectrogram_pairs(train)
    assert pairs[0][0].shape == (512, 13 * 8192 // 768 + 1) and float(pairs[0][0].max()) == 1.0
    cfg = dict(stems_lr=1e-4, stems_steps=1, stems_batch_size=2)
    assert np.isfinite(stems_nsdr(cfg, 0, pairs, test, "cpu"))


def test_separation_with_a_unit_mask_returns_the_mixture():
    import numpy as np
    import torch

    from pipelines.singing_voice_unet import sdr_db, separate

    class Ones(torch.nn.Module):
        def mask(self, x):
            return torch.ones_like(x)

    mix = np.random.default_rng(0).standard_normal(8192 * 3)
    assert np.allclose(separate(Ones(), mix, "cpu"), mix, atol=1e-4)  # hann at hop 768 < 1024: invertible
    assert sdr_db(mix, mix) > 100 and abs(sdr_db(np.zeros(10), np.ones(10))) < 1e-12


def _verdicts(metrics: dict) -> dict:
    from pathlib import Path

    from claimcheck.check import check_claim
    from claimcheck.schema import load_claim_file

    cf = load_claim_file(Path(__file__).resolve().parents[1] / "claims" / "singing_voice_unet.yaml")
    measured = {"paper": "singing_voice_unet", "profile": "cpu", "metrics": metrics}
    return {c.id: check_claim(c, measured).verdict for c in cf.claims if "cpu" in c.profiles and c.kind == "empirical"}


def test_a_broken_unet_cannot_pass_the_separation_claims():
    """Skips that do nothing (the arms equal up to seed noise) do not reproduce any of the three claims; a U-Net whose
    mask is ignored (its estimate is the mixture: 0 dB over the mixture) makes them invalid, as does an untrained
    comparator."""
    noise = [0.1, -0.15, 0.05, 0.12, -0.08]
    gains = {"snr_db_skip_minus_mixture": [9.5 + e for e in noise], "snr_db_noskip_minus_mixture": [8.0 + e for e in noise]}
    works = {**gains, "snr_db_skip_minus_noskip": [1.5 + e for e in noise],
             "detail_snr_db_skip_minus_noskip": [1.0 + e for e in noise], "l1_noskip_minus_skip": [9.0 + e for e in noise]}
    assert set(_verdicts(works).values()) == {"reproduced"}
    no_skips = {**works, "snr_db_skip_minus_noskip": noise, "detail_snr_db_skip_minus_noskip": noise,
                "l1_noskip_minus_skip": noise, "snr_db_skip_minus_mixture": [8.0 + e for e in noise]}
    assert "reproduced" not in set(_verdicts(no_skips).values())
    mask_ignored = {**works, "snr_db_skip_minus_mixture": [0.0] * 5, "snr_db_skip_minus_noskip": [-8.0 + e for e in noise]}
    assert set(_verdicts(mask_ignored).values()) == {"invalid"}
    untrained_baseline = {**works, "snr_db_noskip_minus_mixture": [0.5] * 5}
    assert set(_verdicts(untrained_baseline).values()) == {"invalid"}


def test_fine_detail_keeps_peaks_and_drops_smooth_parts():
    from pipelines.singing_voice_unet import fine_detail, snr_db

    ramp = torch.linspace(0, 1, 16)[None, None, :, None].expand(1, 1, 16, 8).contiguous()
    assert fine_detail(ramp)[..., 1:-1, :].abs().max() < 1e-6  # a linear ramp is all smooth
    spike = torch.zeros(1, 1, 9, 9)
    spike[0, 0, 4, 4] = 1.0
    assert abs(fine_detail(spike)[0, 0, 4, 4].item() - 8 / 9) < 1e-6
    assert snr_db(spike, spike) > 100
