"""What DVC runs: one module per paper (``pipelines/<key>.py``) plus the shared code in this package.

A paper module defines ``measure(cfg, *, run) -> dict`` (see ``pipelines/run.py``); ``python -m pipelines <key>``
runs it at the profile of params.yaml and writes ``reports/measured/<key>.json``.
"""
