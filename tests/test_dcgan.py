import torch
from torch import nn

from implementations import dcgan as D
from pipelines.shared.structural import count_params, on_meta


def test_64px_shapes_and_sizes():
    g, d = on_meta(lambda: D.generator()), on_meta(lambda: D.discriminator())
    assert g(torch.zeros(2, 100, device="meta")).shape == (2, 3, 64, 64)
    assert d(torch.zeros(2, 3, 64, 64, device="meta")).shape == (2,)
    assert count_params(g) == 3_576_704 and count_params(d) == 2_765_568  # 4x4 top at 512 channels (ngf = 64)
    assert [m.out_channels for m in g.modules() if isinstance(m, nn.ConvTranspose2d)] == [512, 256, 128, 64, 3]


def test_guidelines_hold_and_are_detected_when_broken():
    g, d = D.generator(nz=8, ngf=8, nc=1, image_size=16), D.discriminator(nc=1, ndf=8, image_size=16)
    assert D.guideline_violations(g, d) == []
    d.blocks[0].append(nn.MaxPool2d(1))
    g.net[-1] = nn.Sigmoid()
    bad = D.guideline_violations(g, d)
    assert any("pooling" in b for b in bad) and any("Tanh" in b for b in bad)


def test_init_and_optimizer():
    g = D.generator(nz=100, ngf=32, nc=3, image_size=32)
    w = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(w.std().item() - 0.02) < 0.001 and abs(w.mean().item()) < 0.001
    opt = D.optimizer(g.parameters())
    assert opt.defaults["lr"] == 2e-4 and opt.defaults["betas"][0] == 0.5


def test_features_are_each_layer_pooled_to_4x4():
    d = D.discriminator(nc=3, ndf=64, image_size=32).eval()
    f = d.features(torch.randn(2, 3, 32, 32))
    assert f.shape == (2, (64 + 128 + 256) * 16)


def test_init_and_adam_read_backs_of_sec_4():
    """Sec. 4's settings, read back from the built objects (not claims: configuration, not results)."""
    g, d = D.generator(nz=100, ngf=64, nc=3, image_size=64), D.discriminator(nc=3, ndf=64, image_size=64)
    w = torch.cat([m.weight.flatten() for net in (g, d) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    assert abs(w.std().item() - 0.02) / 0.02 < 0.01
    opt = D.optimizer(d.parameters())
    assert opt.defaults["lr"] == 0.0002 and opt.defaults["betas"] == (0.5, 0.999)
    assert [m.negative_slope for m in d.modules() if isinstance(m, nn.LeakyReLU)] == [0.2] * 4


# ------------------------------------------------------------------------------------------ the checks can fail
from claimcheck.check import check_claim  # noqa: E402
from claimcheck.schema import load_claim_file  # noqa: E402
from pipelines import dcgan as pipe  # noqa: E402
from pipelines.shared.common import REPO  # noqa: E402

CLAIMS = {c.id: c for c in load_claim_file(REPO / "claims" / "dcgan.yaml").claims}
CFG = {"nz": 8, "width": 8, "channels": 1, "image_size": 16, "batch_size": 16, "steps": 5, "svm_c": 0.01,
       "kmeans_k": 8, "kmeans_patch": 5}
CONVERGED = {"loss_d_last20_beta1_0p5": [1.0] * 5, "loss_g_last20_beta1_0p5": [1.0] * 5,
             "sample_score_beta1_0p5": [5.0] * 5, "classifier_test_acc": 0.95, "probe_acc_kmeans": [0.9] * 5}


def _verdict(cid, metrics):
    return check_claim(CLAIMS[cid], {"paper": "dcgan", "profile": "cpu", "metrics": metrics}).verdict


def test_kmeans_baseline_features():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(40, 1, 16, 16, generator=g) * 2 - 1
    enc = pipe.kmeans_features(x, k=8, patch=5, seed=0, n_patches=2000)
    f = enc(x[:3])
    assert f.shape == (3, 4 * 8) and (f >= 0).all()
    assert torch.equal(f, pipe.kmeans_features(x, k=8, patch=5, seed=0, n_patches=2000)(x[:3]))  # seeded


def test_identical_arms_cannot_pass_the_beta1_and_probe_claims():
    """The broken factor: beta1 0.5 in both arms (same seed) gives the same run, so both differences are exactly 0;
    D features that are the comparator's give a probe difference of 0."""
    x = torch.rand(64, 1, 16, 16) * 2 - 1
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        runs.append(pipe.adversarial_training(CFG, x, 0.5)[2]["gap"])
    assert runs[0] == runs[1]
    zero = [0.0] * 5
    assert _verdict("beta1_half_stabilises", {**CONVERGED, "gap_std_beta1_0p9_minus_0p5": zero}) == "not_reproduced"
    assert _verdict("beta1_half_better_samples", {**CONVERGED, "sample_score_beta1_0p5_minus_0p9": zero}) == "not_reproduced"
    assert _verdict("discriminator_features_linear_probe", {**CONVERGED, "probe_acc_dcgan_minus_kmeans": zero}) == "not_reproduced"


def test_a_collapsed_gan_makes_the_probe_claim_invalid():
    collapsed = {**CONVERGED, "sample_score_beta1_0p5": [1.1] * 5, "loss_d_last20_beta1_0p5": [0.01] * 5,
                 "probe_acc_dcgan_minus_kmeans": [0.05, 0.04, 0.06, 0.05, 0.05]}
    assert _verdict("discriminator_features_linear_probe", collapsed) == "invalid"
