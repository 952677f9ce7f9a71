"""The checking engine: claim files, rules and statistics, verdicts, MLflow records and the report.

It knows nothing about any paper: it reads claims/<key>.yaml and reports/measured/<key>.json.
"""
