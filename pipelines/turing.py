"""Turing (1950): the paper's arithmetic, recomputed. Nothing is trained and nothing is random."""
from __future__ import annotations

from implementations.turing import (log10_states, manchester_storage, programme_digits,
                                    rook_mate, storage_capacity_bits)

FILES = "abcdefgh"


def square(name: str) -> tuple[int, int]:
    return FILES.index(name[0]), int(name[1]) - 1


def measure(cfg: dict, run) -> dict:
    # Sec. 2 specimen, read with the witness as White: its K at K6 = e6, R at R1 = a1 or h1; the interrogator's
    # K at his K1 = e8; "R-R8" moves the rook to a8 or h8.
    mates = [rook_mate(square("e6"), square(rook), square("e8")) for rook in ("a8", "h8")]
    metrics = {
        "manchester_storage_total": manchester_storage(),
        "manchester_log10_states": log10_states(165_000),
        # Sec. 5: 10^(100 x 50 x 30) is "about the number of states of three Manchester machines put together"
        "three_manchester_machines_over_books_log10_states": log10_states(3 * 165_000) / (100 * 50 * 30),
        "wheel_machine_capacity_bits": storage_capacity_bits(3),
        "programme_digits_sixty_workers_fifty_years": programme_digits(),
        "specimen_sum_true": 34957 + 70764,
        "specimen_chess_mate_both_rooks": int(all(mates)),
    }
    return {"seeds": [], "metrics": metrics,
            "setting": {"data": "the numbers printed in the paper (Secs. 2, 5, 6, 7); no experiment",
                        "programme_days_per_year": 365}}
