"""The one training loop under torchrun: two CPU processes (gloo) train the same model as one process does."""
import subprocess
import sys

import torch

SCRIPT = '''
import sys
import torch
from pipelines.shared.run import resolve_device
from pipelines.shared.data import digits
from pipelines.shared.train import fit, make_optimizer

device, rank = resolve_device("cpu")  # under torchrun: one gloo process group, rank from the environment
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
(X, y), _ = digits(flatten=True, standardize=True)
X, y = X[:512], y[:512]
opt = make_optimizer(model.parameters(), name="sgd", lr=0.1, momentum=0.9)
hist = fit(model, X, y, epochs=3, batch_size=64, seed=0, optimizer=opt)
if rank == 0:
    torch.save({"params": [p.detach() for p in model.parameters()], "steps": hist.steps}, sys.argv[1])
'''


def test_two_gloo_processes_match_one_process(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    single, double = tmp_path / "one.pt", tmp_path / "two.pt"
    subprocess.run([sys.executable, str(script), str(single)], check=True, timeout=300, capture_output=True)
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        str(script), str(double)], timeout=180, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    a, b = torch.load(single), torch.load(double)
    assert a["steps"] == b["steps"] == 3 * 8
    for pa, pb in zip(a["params"], b["params"]):
        torch.testing.assert_close(pa, pb, rtol=1e-4, atol=1e-5)  # gradients averaged over the ranks' half-batches
