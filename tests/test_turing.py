"""Turing (1950): the paper's arithmetic and the chess specimen's move checker."""
import math

from implementations.turing import (bits_to_megabytes, log10_states, manchester_storage, programme_digits,
                                    rook_mate, storage_capacity_bits)


def test_arithmetic():
    assert manchester_storage() == 174_380
    assert round(log10_states(165_000)) == 49_670
    assert abs(storage_capacity_bits(3) - math.log2(3)) < 1e-15
    assert programme_digits() == 1_095_000_000


def test_prediction_storage_is_125_megabytes():
    """Sec. 6's "storage capacity of about 10^9" (binary digits) is 125 MB: only the unit arithmetic of the prediction
    is checkable; the 70 % after five minutes needs human interrogators (claims/turing.yaml, the paper's note)."""
    assert bits_to_megabytes(1e9) == 125.0


def test_rook_mate_checker():
    e6, e8 = (4, 5), (4, 7)
    assert rook_mate(e6, (0, 7), e8) and rook_mate(e6, (7, 7), e8)  # R-R8 mate, either rook
    assert not rook_mate(e6, (0, 6), e8)  # rook on a7: no check, not mate
    assert not rook_mate(e6, (3, 7), e8)  # rook on d8 unguarded: the king takes it
    assert not rook_mate((4, 4), (0, 7), e8)  # white king on e5: black king escapes to d7/e7/f7
    assert not rook_mate((4, 5), (5, 0), (4, 7))  # rook on f1 covers f8 only: the king steps to d8


def test_claims_against_the_stage():
    """Every claim's verdict on the stage's own numbers is its `expect`; the specimen sum is the paper's own slip
    (105,721, printed 105,621) and must stay not reproduced."""
    from claimcheck.check import EXPECTED_VERDICT, check_claim
    from claimcheck.schema import load_claim_file
    from pipelines.shared.common import REPO
    from pipelines.turing import measure

    metrics = measure({}, None)["metrics"]
    cf = load_claim_file(REPO / "claims" / "turing.yaml")
    measured = {"paper": "turing", "profile": "cpu", "metrics": metrics}
    got = {c.id: check_claim(c, measured).verdict for c in cf.claims}
    assert got == {c.id: EXPECTED_VERDICT[c.expect] for c in cf.claims}
    assert got["specimen_addition"] == "not_reproduced"
