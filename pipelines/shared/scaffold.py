"""A new paper from templates: ``python -m pipelines new KEY --title "..." --url https://...``.

Writes implementations/KEY.py, pipelines/KEY.py, claims/KEY.yaml and tests/test_KEY.py (commented templates: a small
model, a structural claim counted on the meta device, an empirical claim with its gates), appends KEY's block to
params.yaml and a row to README's paper index, and regenerates dvc.yaml. The stage runs at once:
``python -m pipelines KEY --profile smoke``. Then replace the template's model and claims by the paper's.
"""
from __future__ import annotations

import argparse
import re
import sys

from pipelines.shared.common import REPO, load_params

IMPLEMENTATION = '''"""{title}
{url}

The idea in three lines: <what the paper proposes>, <why it should work>, <what it is compared with>.
This template is a small MLP with one knob (`hidden`); replace it by the paper's model, keyword-only builders with
the paper's defaults and small knobs for scaled-down variants. Pure: no file I/O, no data sets.
"""
from __future__ import annotations

from torch import nn


def model(*, inputs: int = 64, hidden: int = 128, classes: int = 10, activation: str = "relu") -> nn.Module:
    """The paper's network (Sec. <n>): inputs -> hidden -> classes; `activation` is the factor the claims test."""
    act = {{"relu": nn.ReLU, "tanh": nn.Tanh}}[activation]
    return nn.Sequential(nn.Linear(inputs, hidden), act(), nn.Linear(hidden, classes))
'''

PIPELINE = '''"""{key} stage: structural facts of the full-size model (meta device) and a small trained comparison."""
from __future__ import annotations

import functools

import torch

from implementations.{key} import model
from pipelines.shared.common import map_arms
from pipelines.shared.data import digits
from pipelines.shared.structural import count_params, on_meta
from pipelines.shared.train import accuracy, fit, make_optimizer


def train_arm(cfg: dict, job: tuple) -> float:
    """One arm, one seed: the test accuracy of the model trained with `activation` = arm (a worker process)."""
    arm, seed = job
    (Xtr, ytr), (Xte, yte) = digits(flatten=True, standardize=True, split_seed=0)
    torch.manual_seed(seed)
    net = model(hidden=cfg["hidden"], activation=arm)
    opt = make_optimizer(net.parameters(), name="sgd", lr=cfg["lr"], momentum=0.9)
    fit(net, Xtr, ytr, epochs=cfg["epochs"], batch_size=64, seed=seed, optimizer=opt, device=cfg["device"])
    return accuracy(net, Xte, yte, device=cfg["device"])


def measure(cfg: dict, run) -> dict:
    metrics = {{"param_count": count_params(on_meta(lambda: model()))}}  # the full-size model, exact
    seeds = run.seeds(cfg["seeds"])  # always run.seeds(): `--seed-offset` must reach every seed
    acc = map_arms(functools.partial(train_arm, {{**cfg, "device": run.device}}), ["relu", "tanh"], seeds)
    metrics |= {{"acc_relu": acc["relu"], "acc_tanh": acc["tanh"],
                "acc_relu_minus_tanh": [a - b for a, b in zip(acc["relu"], acc["tanh"])]}}
    setting = {{"data": "sklearn digits 8x8 flattened, standardised, 70/30 split (seed 0)",
               "model": f"MLP 64-{{cfg['hidden']}}-10", "training": f"SGD lr {{cfg['lr']}}, {{cfg['epochs']}} epochs"}}
    return {{"seeds": seeds, "metrics": metrics, "setting": setting}}
'''

CLAIMS = '''# Claims of "{title}" ({url}). Write each claim exactly as the paper states it, with its place; see README's
# "Claim files" for every field. The two claims below are templates: replace them by the paper's.
paper:
  key: {key}
  title: "{title}"
  authors: "<authors>"
  year: {year}
  url: {url}
claims:
  - id: param_count
    says: "<the paper's words about its model size>"
    where: "<section or table>"
    kind: structural
    scale: paper  # counted on the full-size model, built on the meta device
    metric: param_count
    claimed: 9610
    check: {{equals: 9610}}
    why: "64 x 128 + 128 + 128 x 10 + 10 parameters of the template MLP; replace by the paper's number and model."
  - id: relu_beats_tanh
    says: "<the paper's words: the factor under test improves the result>"
    where: "<section, table or figure>"
    kind: empirical
    scale: analogue
    setting: "sklearn digits 8x8, MLP 64-128-10, 20 epochs SGD, 5 paired seeds"
    metric: acc_relu_minus_tanh  # one value per seed; no effect = 0 (`null`, the default)
    claimed: null
    check: {{greater_than: 0}}  # an improvement: a superiority test (a no-op factor cannot pass it)
    requires:  # the experiment worked, else the verdict is invalid
      - {{metric: acc_tanh, every_seed: {{at_least: 0.85}}, why: "the comparator trained (chance is 0.1)"}}
      - {{metric: acc_relu, every_seed: {{at_least: 0.85}}, why: "the arm under test trained"}}
    why: "Design fixed before the run: both arms from the same seeds and data order; gates at 0.85 (logistic regression reaches about 0.96 on these digits)."
'''

TEST = '''"""{key}: the model's structure and the claim's ability to fail."""
import pytest

from claimcheck.check import check_claim
from claimcheck.schema import load_claim_file
from implementations.{key} import model
from pipelines.shared.common import REPO
from pipelines.shared.structural import count_params, on_meta


def test_full_size_model_has_the_expected_parameter_count():
    assert count_params(on_meta(lambda: model())) == 64 * 128 + 128 + 128 * 10 + 10


@pytest.mark.parametrize("gain, verdict", [([0.02, 0.03, 0.025, 0.02, 0.03], "reproduced"),
                                           ([0.0, 0.001, -0.001, 0.0, 0.0], "not_reproduced")])
def test_the_empirical_claim_cannot_pass_without_an_effect(gain, verdict):
    cf = load_claim_file(REPO / "claims" / "{key}.yaml")
    claim = next(c for c in cf.claims if c.id == "relu_beats_tanh")
    metrics = {{"acc_relu_minus_tanh": gain, "acc_relu": [0.95] * 5, "acc_tanh": [0.93] * 5}}
    r = check_claim(claim, {{"paper": "{key}", "profile": "cpu", "metrics": metrics}}, None, cf.paper)
    assert r.verdict in (verdict, "inconclusive") and (r.verdict == "reproduced") == (verdict == "reproduced")
'''

PARAMS = '''
# --- {key} ---
{key}:
  common:
    hidden: 128
    lr: 0.05
  smoke:
    seeds: 2
    epochs: 1
  cpu:
    seeds: 5
    epochs: 20
  full:
    seeds: 5
    epochs: 20
# --- end {key} ---
'''


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines new", description=__doc__.splitlines()[0])
    ap.add_argument("key", help="the paper's key: lower case, digits and _ (the same word in every file)")
    ap.add_argument("--title", required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--year", type=int, default=2000)
    args = ap.parse_args(argv)
    key = args.key
    if not re.fullmatch(r"[a-z][a-z0-9_]*", key):
        print(f"python -m pipelines new: {key!r} is not a key (lower case, digits and _)", file=sys.stderr)
        return 2
    files = {REPO / "implementations" / f"{key}.py": IMPLEMENTATION, REPO / "pipelines" / f"{key}.py": PIPELINE,
             REPO / "claims" / f"{key}.yaml": CLAIMS, REPO / "tests" / f"test_{key}.py": TEST}
    taken = [str(p.relative_to(REPO)) for p in files if p.exists()]
    if taken or key in load_params():
        print(f"python -m pipelines new: {key!r} exists already ({', '.join(taken) or 'params.yaml'})", file=sys.stderr)
        return 2
    fields = {"key": key, "title": args.title.replace('"', "'"), "url": args.url, "year": args.year}
    for path, template in files.items():
        path.write_text(template.format(**fields), encoding="utf-8")
    with open(REPO / "params.yaml", "a", encoding="utf-8") as f:
        f.write(PARAMS.format(**fields))
    readme = REPO / "README.md"
    text = readme.read_text(encoding="utf-8")
    rows = [m for m in re.finditer(r"^\| [^|\n]+ \| `[a-z0-9_]+` \|.*$", text, re.M)]
    row = (f"| new | `{key}` | {fields['title']} | new | [paper]({args.url}) | [claims](claims/{key}.yaml) · "
           f"[code](implementations/{key}.py) |")
    if rows:
        end = rows[-1].end()
        readme.write_text(text[:end] + "\n" + row + text[end:], encoding="utf-8")
    from pipelines.shared.dvc_yaml import main as dvc_yaml

    dvc_yaml([])
    print(f"new paper {key!r}: {', '.join(str(p.relative_to(REPO)) for p in files)}, params.yaml, README.md, "
          f"dvc.yaml.\nNext: python -m pipelines {key} --profile smoke; pytest tests/test_{key}.py; then `dvc repro "
          f"measure-{key}` (it runs the project's .venv through scripts/stage) and `pytest claims/`.")
    return 0
