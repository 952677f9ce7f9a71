"""Hostile input: each bad claim or measured file is a clear error for that file or claim, and nothing else breaks.

Every case here once raised out of the loader (OverflowError, TypeError, RecursionError, UnicodeDecodeError,
IndexError, MemoryError) or passed silently; now it is one message naming the file (and claim, field, line)."""
import json
import time

import pytest

from claimcheck.check import check_claim, load_measured
from claimcheck.schema import MAX_BYTES, load_claim_file

PAPER = 'paper: {key: bad, title: "T", url: https://example.org}\n'
CLAIM = ("  - id: c\n    says: s\n    where: w\n    kind: structural\n    scale: paper\n    metric: m\n"
         "    claimed: 1\n    check: {equals: 1}\n")


def load(tmp_path, text: str | bytes):
    path = tmp_path / "bad.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return load_claim_file(path)


def file_error(tmp_path, text) -> str:
    cf = load(tmp_path, text)
    assert cf.error is not None
    return str(cf.error)


def claim_error(tmp_path, text) -> str:
    cf = load(tmp_path, text)
    assert cf.error is None, cf.error
    errors = [str(c.error) for c in cf.claims if c.error is not None]
    assert errors
    return errors[0]


def test_a_huge_integer_is_an_error_of_its_claim(tmp_path):
    msg = claim_error(tmp_path, PAPER + "claims:\n" + CLAIM.replace("claimed: 1", "claimed: " + "9" * 400))
    assert "claim 'c', field 'claimed'" in msg and "finite" in msg


def test_non_finite_claimed_values_are_errors(tmp_path):
    assert "claimed" in claim_error(tmp_path, PAPER + "claims:\n" + CLAIM.replace("claimed: 1", "claimed: [.nan, .inf]"))
    assert "claimed" in claim_error(tmp_path, PAPER + "claims:\n" + CLAIM.replace("claimed: 1", "claimed: .inf"))


def test_infinite_or_negative_tolerances_are_errors(tmp_path):
    for check in ("{equals: {value: 1e300, rel: 1e300}}", "{equals: {value: 1, abs: -0.1}}", "{equals: {value: 1, rel: 1e300}}"):
        assert "field 'check'" in claim_error(tmp_path, PAPER + "claims:\n" + CLAIM.replace("{equals: 1}", check))


def test_a_non_text_mapping_key_is_an_error_of_the_file(tmp_path):
    assert "mapping keys must be text" in file_error(tmp_path, PAPER + "claims:\n  - ? [a, b]\n    : 1\n")


def test_deep_nesting_is_refused(tmp_path):
    assert "nested deeper than" in file_error(tmp_path, PAPER + "claims: " + "[" * 3000 + "]" * 3000 + "\n")


def test_binary_and_latin1_files_are_errors(tmp_path):
    assert "not UTF-8" in file_error(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\xff")
    assert "not UTF-8" in file_error(tmp_path, (PAPER + "claims:\n" + CLAIM.replace("says: s", "says: caf\u00e9")).encode("latin-1"))


def test_an_alias_bomb_is_refused_at_once(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9))
    t0 = time.perf_counter()
    assert "anchors" in file_error(tmp_path, PAPER + bomb + "claims: []\n")
    assert time.perf_counter() - t0 < 1.0
    assert "aliases" in file_error(tmp_path, PAPER + "x: *undefined\n")


def test_an_oversized_file_is_refused_before_parsing(tmp_path):
    msg = file_error(tmp_path, PAPER + "claims:\n" + CLAIM + "# " + "x" * MAX_BYTES + "\n")
    assert "a claim file may hold at most" in msg


def test_an_empty_profile_list_and_a_trailing_newline_in_an_id_are_errors(tmp_path):
    assert "field 'profile'" in claim_error(tmp_path, PAPER + "claims:\n" + CLAIM + "    profile: []\n")
    assert "field 'id'" in claim_error(tmp_path, PAPER + "claims:\n" + CLAIM.replace("id: c", 'id: "c\\n"'))


def test_one_bad_claim_leaves_the_others_checked(tmp_path):
    text = PAPER + "claims:\n" + CLAIM.replace("claimed: 1", "claimed: " + "9" * 400) + CLAIM.replace("id: c", "id: d")
    cf = load(tmp_path, text)
    assert [c.error is None for c in cf.claims] == [False, True]
    r = check_claim(cf.claims[1], {"paper": "bad", "profile": "cpu", "metrics": {"m": 1}}, None, cf.paper)
    assert r.verdict == "reproduced"


@pytest.mark.parametrize("text, match", [
    ('{"paper": "bad", "profile": "cpu", "metrics": {"m": ' + "9" * 400 + "}}", None),  # parses; the value is refused
    ('{"paper": "bad", "profile": "cpu", "metrics": ' + "[" * 100_000 + "]" * 100_000 + "}", "not valid JSON"),
    ('{"paper": "bad", "profile": "cpu", "metrics": {"m": NaN}}', "not valid JSON"),
    ('{"paper": "bad", "metrics": {"m": 1}}', "field 'profile'"),
    ('{"paper": "bad", "profile": "bogus", "metrics": {"m": 1}}', "field 'profile'"),
    (b"\xff\xfe\x00binary", "not UTF-8"),
])
def test_bad_measured_files_are_clear_errors(tmp_path, text, match):
    (tmp_path / "bad.json").write_bytes(text if isinstance(text, bytes) else text.encode())
    doc, err = load_measured(tmp_path, "bad")
    if match is None:  # a huge integer loads, and the claim on it is invalid with a message
        cf = load(tmp_path, PAPER + "claims:\n" + CLAIM)
        r = check_claim(cf.claims[0], doc, err, cf.paper)
        assert r.verdict == "invalid" and "finite" in r.message
    else:
        assert doc is None and match in err


def test_claims_json_never_holds_nan(tmp_path):
    from claimcheck.report import write_reports

    cf = load(tmp_path, PAPER + "claims:\n" + CLAIM)
    r = check_claim(cf.claims[0], {"paper": "bad", "profile": "cpu", "metrics": {"m": None}}, None, cf.paper)
    write_reports([r.to_dict()], tmp_path / "out")
    json.loads((tmp_path / "out" / "claims.json").read_text(), parse_constant=lambda c: pytest.fail(c))
