"""Checking one paper's claims on synthesised measurements: the cheap proofs that a claim can fail (a broken or
no-op arm must not reproduce) and that a working one passes."""
import math
from pathlib import Path

from claimcheck.check import check_claim
from claimcheck.schema import load_claim_file

CLAIMS_DIR = Path(__file__).resolve().parents[1] / "claims"


def claims_of(key: str) -> dict:
    """The claims of claims/<key>.yaml by id."""
    return {c.id: c for c in load_claim_file(CLAIMS_DIR / f"{key}.yaml").claims}


def verdict_of(key: str, claims: dict, claim_id: str, metrics: dict, profile: str = "cpu") -> str:
    """The verdict of one claim of paper `key` on a measured file holding `metrics`."""
    return check_claim(claims[claim_id], {"paper": key, "profile": profile, "metrics": metrics}).verdict


def spread(mean: float, n: int = 10, sd: float = 0.1) -> list[float]:
    """n values with the given mean and a fixed, seed-like spread."""
    return [mean + sd * math.sin(1.7 * i + 0.3) for i in range(n)]
