"""Computing Machinery and Intelligence.

A. M. Turing. Mind, Volume LIX, Issue 236, October 1950, pages 433-460. https://doi.org/10.1093/mind/LIX.236.433

Idea: replace "Can machines think?" by the imitation game, argue that digital computers are universal machines
whose storage capacity (log2 of the number of states) decides what they can imitate, and answer nine objections.
There is no learning algorithm to implement: this module holds the paper's arithmetic as pure functions, so the
claim file can check the numbers Turing wrote down. His predictions about interrogators are not checkable here.
"""
from __future__ import annotations

import math


def storage_capacity_bits(num_states: int) -> float:
    """Sec. 5: "the logarithm to the base two of the number of states is usually called the storage capacity"."""
    return math.log2(num_states)


def log10_states(capacity_bits: float) -> float:
    """log10 of the number of states, 2 ** capacity: Sec. 5 writes 2^165,000 as "about 10^50,000"."""
    return capacity_bits * math.log10(2)


def manchester_storage() -> int:
    """Sec. 5: "64 magnetic tracks each with a capacity of 2560, eight electronic tubes with a capacity of 1280.
    Miscellaneous storage amounts to about 300" (the total he states is 174,380)."""
    return 64 * 2560 + 8 * 1280 + 300


def programme_digits(digits_per_day: int = 1000, workers: int = 60, years: int = 50) -> int:
    """Sec. 7: "about a thousand digits of programme a day, so that about sixty workers, working steadily through
    the fifty years might accomplish the job" (of programming a storage of about 10^9 digits)."""
    return digits_per_day * workers * 365 * years


def bits_to_megabytes(bits: float) -> float:
    return bits / 8 / 1e6


def rook_mate(white_king: tuple[int, int], white_rook: tuple[int, int], black_king: tuple[int, int]) -> bool:
    """Is the black king, alone against king and rook, checkmated with Black to move? Squares are (file, rank) 0..7.

    Sec. 2's specimen: "I have K at my K1, and no other pieces. You have only K at K6 and R at R1. ... R-R8 mate."
    """
    def attacked(square, rook=white_rook):
        f, r = square
        if max(abs(f - white_king[0]), abs(r - white_king[1])) <= 1:
            return True
        if rook is None or square == rook or (f != rook[0] and r != rook[1]):
            return False
        # the rook's line is blocked only by the white king (the black king moves off it, so it does not block)
        between = [(rook[0] + (f - rook[0]) * t // max(abs(f - rook[0]), abs(r - rook[1])),
                    rook[1] + (r - rook[1]) * t // max(abs(f - rook[0]), abs(r - rook[1])))
                   for t in range(1, max(abs(f - rook[0]), abs(r - rook[1])))]
        return white_king not in between

    in_check = attacked(black_king)
    for df in (-1, 0, 1):
        for dr in (-1, 0, 1):
            to = (black_king[0] + df, black_king[1] + dr)
            if (df, dr) == (0, 0) or not (0 <= to[0] < 8 and 0 <= to[1] < 8):
                continue
            captures = to == white_rook
            if not attacked(to, None if captures else white_rook):
                return False  # a legal escape (taking the rook is legal when the white king does not guard it)
    return in_check
