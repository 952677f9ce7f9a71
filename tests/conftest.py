import os

import torch

# one torch thread per xdist worker: two workers share the two cores
torch.set_num_threads(1)
os.environ.setdefault("CLAIMS_NO_MLFLOW", "")

pytest_plugins = ["pytester"]
