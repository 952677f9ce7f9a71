"""What DVC runs: one module per paper (``pipelines/<key>.py``) and the shared wing (``pipelines/shared/``).

A paper module defines ``measure(cfg, run) -> dict`` (see ``pipelines/shared/run.py``); ``python -m pipelines <key>``
runs it at the profile of params.yaml and writes ``reports/measured/<key>.json``. No paper's module imports another's.
"""
