"""Shared pipeline code: determinism, atomic writes, offline data, the full profile's loaders on fake data."""
import json

import pytest
import torch

from pipelines.shared import data
from pipelines.shared.common import load_params, map_seeds, paper_config, write_json_atomic
from pipelines.shared.run import run_stage
from pipelines.shared.structural import count_macs, count_params, on_meta
from pipelines.shared.train import accuracy, fit


def test_same_seed_gives_an_identical_measured_file(tmp_path):
    params = load_params()
    a = run_stage("rethinking_generalization", "smoke", tmp_path / "a", params)
    b = run_stage("rethinking_generalization", "smoke", tmp_path / "b", params)
    for doc in (a, b):
        doc.pop("wall_s"), doc.pop("startup_s")  # timings differ from run to run
    assert a == b
    assert (tmp_path / "a/figures/rethinking_generalization/measured.png").read_bytes() == \
        (tmp_path / "b/figures/rethinking_generalization/measured.png").read_bytes()


def test_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "measured" / "x.json"
    write_json_atomic(path, {"v": 1})

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(json, "dump", boom)
    with pytest.raises(KeyboardInterrupt):
        write_json_atomic(path, {"v": 2})
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]  # no temporary file left behind


def _square(x):
    return x * x, torch.get_num_threads()


def test_map_seeds_keeps_order_and_pins_one_thread():
    assert map_seeds(_square, [3, 1, 2], workers=2) == [(9, 1), (1, 1), (4, 1)]


def test_paper_config_overlays_profile_on_common():
    params = {"p": {"common": {"a": 1, "b": 2}, "cpu": {"b": 3}, "smoke": {}, "full": {}}}
    assert paper_config("p", "cpu", params) == {"a": 1, "b": 3}
    with pytest.raises(KeyError, match="no block"):
        paper_config("q", "cpu", params)


def test_digits_split_and_shapes():
    (Xtr, ytr), (Xte, yte) = data.digits(image_size=16)
    assert Xtr.shape[1:] == (1, 16, 16) and len(Xtr) + len(Xte) == 1797 and len(Xte) == 539
    (Ftr, _), _ = data.digits(flatten=True, standardize=True)
    assert Ftr.shape[1] == 64 and abs(Ftr.mean().item()) < 1e-5


def test_mnist1d_comes_from_the_generator():
    (Xtr, ytr), (Xte, yte) = data.mnist1d(num_samples=200, seed=3)
    assert Xtr.shape == (160, 40) and Xte.shape == (40, 40) and set(ytr.tolist()) <= set(range(10))


def test_random_labels_fraction():
    y = torch.zeros(10000, dtype=torch.long)
    changed = (data.random_labels(y, 10, 0.5, seed=0) != y).float().mean().item()
    assert abs(changed - 0.45) < 0.02  # half are redrawn, a tenth of those land on the old label


def test_fit_learns_digits_and_is_deterministic():
    (Xtr, ytr), (Xte, yte) = data.digits(flatten=True, standardize=True)
    accs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
        fit(model, Xtr, ytr, epochs=3, batch_size=64, seed=0, lr=0.05)
        accs.append(accuracy(model, Xte, yte))
    assert accs[0] == accs[1] and accs[0] > 0.85


def test_structural_counts_on_meta():
    model = on_meta(lambda: torch.nn.Conv2d(3, 8, 3, padding=1))
    assert count_params(model) == 3 * 8 * 9 + 8
    assert count_macs(model, (3, 10, 10)) == 10 * 10 * 8 * 3 * 9


def test_full_profile_image_folder_loads_torchvision_layout(tmp_path):
    from PIL import Image

    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new("RGB", (12, 10), color=(i * 40, 0, 0)).save(tmp_path / cls / f"{i}.png")
    import torchvision.transforms as T

    ds = data.image_folder(tmp_path, transform=T.ToTensor())
    X, y = data.to_tensors(ds)
    assert X.shape == (6, 3, 10, 12) and y.tolist() == [0, 0, 0, 1, 1, 1]


def test_full_profile_fails_clearly_without_data(tmp_path, monkeypatch):
    monkeypatch.delenv("IMAGENET_DIR", raising=False)
    with pytest.raises(data.DataUnavailable, match="set IMAGENET_DIR"):
        data.image_folder(None)
    # no network here and nothing on disk: the download fails with a message that says what to do
    monkeypatch.setenv("no_proxy", "")
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    with pytest.raises(data.DataUnavailable, match="full profile downloads it"):
        data.torchvision_dataset("MNIST", train=False, root=tmp_path)


def test_torchvision_loader_reads_files_already_on_disk(tmp_path):
    """MNIST in torchvision's on-disk format (raw idx files), written here: loaded without any download."""
    import gzip
    import struct

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    n = 4
    for split in ("train", "t10k"):
        images = struct.pack(">IIII", 2051, n, 28, 28) + bytes(range(n)) * (28 * 28)
        labels = struct.pack(">II", 2049, n) + bytes([1, 2, 3, 4])
        for name, payload in ((f"{split}-images-idx3-ubyte", images), (f"{split}-labels-idx1-ubyte", labels)):
            (raw / name).write_bytes(payload)
            with gzip.open(raw / f"{name}.gz", "wb") as f:
                f.write(payload)
    ds = data.torchvision_dataset("MNIST", train=False, root=tmp_path)
    assert len(ds) == n and ds[0][1] == 1


def test_steps_to_target_counts_steps_and_says_when_it_never_gets_there():
    import torch

    from pipelines.shared.train import first_reaching, make_optimizer, steps_to_target

    torch.manual_seed(0)
    X = torch.randn(256, 4)
    y = (X[:, 0] > 0).long()
    model = torch.nn.Linear(4, 2)
    opt = make_optimizer(model.parameters(), lr=0.5, momentum=0.9)
    acc = lambda m: (m(X).argmax(1) == y).float().mean().item()  # noqa: E731
    steps = steps_to_target(model, X, y, reached=lambda m: acc(m) >= 0.95, optimizer=opt, max_steps=500,
                            batch_size=32, eval_every=5, seed=0)
    assert steps is not None and steps % 5 == 0 and acc(model) >= 0.95
    never = steps_to_target(torch.nn.Linear(4, 2), X, y, reached=lambda m: False, optimizer=opt, max_steps=20,
                            batch_size=32, eval_every=5, seed=0)
    assert never is None
    assert first_reaching([0.5, 0.8, 0.96, 0.97], 0.95, 10) == 30 and first_reaching([0.5], 0.9, 10) is None
