"""Turing (1950): the paper's arithmetic and the chess specimen's move checker."""
import math

from implementations.turing import (bits_to_megabytes, log10_states, manchester_storage, programme_digits,
                                    rook_mate, storage_capacity_bits)


def test_arithmetic():
    assert manchester_storage() == 174_380
    assert round(log10_states(165_000)) == 49_670
    assert abs(storage_capacity_bits(3) - math.log2(3)) < 1e-15
    assert programme_digits() == 1_095_000_000
    assert bits_to_megabytes(1e9) == 125.0


def test_rook_mate_checker():
    e6, e8 = (4, 5), (4, 7)
    assert rook_mate(e6, (0, 7), e8) and rook_mate(e6, (7, 7), e8)  # R-R8 mate, either rook
    assert not rook_mate(e6, (0, 6), e8)  # rook on a7: no check, not mate
    assert not rook_mate(e6, (3, 7), e8)  # rook on d8 unguarded: the king takes it
    assert not rook_mate((4, 4), (0, 7), e8)  # white king on e5: black king escapes to d7/e7/f7
    assert not rook_mate((4, 5), (5, 0), (4, 7))  # rook on f1 covers f8 only: the king steps to d8
