"""Claim files: safe YAML loading with line numbers, and validation that names the file, claim, field and line.

A claim file::

    paper: {key: squeezenet, index: 9, title: "...", authors: "...", year: 2016, url: https://arxiv.org/abs/1602.07360}
    claims:
      - id: fifty_x_fewer_parameters          # unique in the file, snake_case
        says: "... 50x fewer parameters."     # the paper's words
        where: "Abstract; Table 2"            # section, table, figure
        kind: structural                      # structural | analytical (exact, no training) | empirical (trained)
        metric: param_ratio_alexnet_over_squeezenet   # a key of the measured file's `metrics`
        claimed: 50                           # the paper's number (null when the claim is qualitative)
        check: {between: [45, 55]}            # one rule (rules.py), plus `alpha` for statistical rules
        why: "..."                            # justifies the tolerance; required when expect is not `reproduces`
        profile: cpu                          # optional: profile(s) whose measurement this check applies to
        expect: reproduces                    # reproduces | fails | inconclusive: the project's known verdict
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from claimcheck.rules import EXACT_RULES, STAT_RULES, RuleError, parse_rule

KINDS = ("structural", "analytical", "empirical")
EXPECTS = ("reproduces", "fails", "inconclusive")
PROFILES = ("smoke", "cpu", "full")
CLAIM_FIELDS = {"id", "says", "where", "kind", "metric", "claimed", "check", "why", "profile", "expect", "note"}
REQUIRED = ("id", "says", "where", "kind", "metric", "check")
PAPER_FIELDS = {"key", "index", "title", "authors", "year", "url", "note", "status"}
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")


class ClaimFileError(Exception):
    """Something wrong in a claim file; the message names the file, the claim, the field and the line."""

    def __init__(self, path: Path | str, message: str, *, claim: str | None = None, field: str | None = None,
                 line: int | None = None):
        self.path, self.claim, self.field, self.line = str(path), claim, field, line
        where = self.path + (f":{line}" if line else "")
        parts = [where] + ([f"claim {claim!r}"] if claim else []) + ([f"field {field!r}"] if field else [])
        super().__init__(f"{', '.join(parts)}: {message}")


class _LineDict(dict):
    """A dict that remembers the line (1-based) of itself and of each of its keys."""

    line: int = 0
    key_lines: dict


class _LineLoader(yaml.SafeLoader):
    """yaml.SafeLoader (no arbitrary objects) that records line numbers of mappings."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)
    d = _LineDict()
    d.line = node.start_mark.line + 1
    d.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in d:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        d[key] = loader.construct_object(value_node, deep=True)
        d.key_lines[key] = key_node.start_mark.line + 1
    return d


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass
class Claim:
    path: str
    paper: str
    id: str
    says: str
    where: str
    kind: str
    metric: str
    claimed: Any
    check: dict
    rule: Any  # a parsed rules.Rule
    profiles: tuple[str, ...]
    expect: str = "reproduces"
    why: str = ""
    note: str = ""
    line: int = 0
    field_lines: dict = field(default_factory=dict)  # field -> line, for messages about the measurement
    error: ClaimFileError | None = None  # set when this claim is invalid; the others are still checked


@dataclass
class ClaimFile:
    path: str
    paper: dict
    claims: list[Claim] = field(default_factory=list)
    error: ClaimFileError | None = None  # set when the whole file cannot be read


def _line(d: Any, key: str) -> int | None:
    return getattr(d, "key_lines", {}).get(key) or getattr(d, "line", None)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _validate_claim(path: str, key: str, raw: Any, index: int) -> Claim:
    if not isinstance(raw, dict):
        raise ClaimFileError(path, f"claims[{index}] must be a mapping, got {type(raw).__name__}")
    cid = raw.get("id")
    name = cid if isinstance(cid, str) else f"claims[{index}]"
    err = lambda msg, fld: ClaimFileError(path, msg, claim=name, field=fld, line=_line(raw, fld))  # noqa: E731
    for f in REQUIRED:
        if f not in raw or raw[f] in (None, ""):
            raise ClaimFileError(path, "missing required field", claim=name, field=f, line=getattr(raw, "line", None))
    unknown = sorted(set(raw) - CLAIM_FIELDS)
    if unknown:
        raise err(f"unknown field (allowed: {', '.join(sorted(CLAIM_FIELDS))})", unknown[0])
    if not isinstance(cid, str) or not ID_RE.match(cid):
        raise err("id must be snake_case text", "id")
    for f in ("says", "where", "metric"):
        if not isinstance(raw[f], str):
            raise err("must be text", f)
    if raw["kind"] not in KINDS:
        raise err(f"kind must be one of {', '.join(KINDS)}, got {raw['kind']!r}", "kind")
    claimed = raw.get("claimed")
    if claimed is not None and not (_is_number(claimed) and math.isfinite(claimed)):
        if not (isinstance(claimed, list) and all(_is_number(c) for c in claimed)):
            raise err(f"claimed must be a finite number, a list of numbers or null, got {claimed!r}", "claimed")
    expect = raw.get("expect", "reproduces")
    if expect not in EXPECTS:
        raise err(f"expect must be one of {', '.join(EXPECTS)}, got {expect!r}", "expect")
    why = raw.get("why") or ""
    if expect != "reproduces" and not str(why).strip():
        raise err(f"expect: {expect} needs a `why` saying what was found", "why")
    check = raw["check"]
    if not isinstance(check, dict):
        raise err("check must be a mapping with one rule, e.g. {at_least: 45}", "check")
    try:
        rule = parse_rule(dict(check), claimed)
    except RuleError as e:
        raise err(str(e), "check") from None
    profile = raw.get("profile")
    if profile is None:
        profiles = PROFILES if raw["kind"] != "empirical" else ("cpu", "full")
    else:
        profiles = tuple(profile) if isinstance(profile, list) else (profile,)
        bad = [p for p in profiles if p not in PROFILES]
        if bad:
            raise err(f"profile must be among {', '.join(PROFILES)}, got {bad[0]!r}", "profile")
    return Claim(path=path, paper=key, id=cid, says=raw["says"].strip(), where=raw["where"], kind=raw["kind"],
                 metric=raw["metric"], claimed=claimed, check=dict(check), rule=rule, profiles=profiles,
                 expect=expect, why=str(why).strip(), note=str(raw.get("note") or "").strip(),
                 line=getattr(raw, "line", 0), field_lines=dict(getattr(raw, "key_lines", {})))


def load_claim_file(path: Path | str, display: str | None = None) -> ClaimFile:
    """Read one claim file. Never raises: problems land in `.error` (whole file) or each claim's `.error`.
    display: how messages name the file (e.g. relative to the repo, so that reports do not depend on the clone)."""
    path = Path(path)
    spath = display or str(path)
    key = path.stem
    try:
        with open(path) as f:
            doc = yaml.load(f, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a SafeLoader
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = mark.line + 1 if mark else None
        return ClaimFile(spath, {"key": key}, error=ClaimFileError(spath, f"not valid YAML: {e}", line=line))
    except OSError as e:
        return ClaimFile(spath, {"key": key}, error=ClaimFileError(spath, f"cannot read: {e}"))
    if not isinstance(doc, dict):
        return ClaimFile(spath, {"key": key}, error=ClaimFileError(spath, "top level must be a mapping with `paper` and `claims`"))
    paper = doc.get("paper")
    if not isinstance(paper, dict) or "key" not in paper:
        return ClaimFile(spath, {"key": key}, error=ClaimFileError(spath, "missing `paper` mapping with its `key`", field="paper", line=_line(doc, "paper")))
    if paper["key"] != key:
        return ClaimFile(spath, dict(paper), error=ClaimFileError(spath, f"paper key {paper['key']!r} differs from the file name {key!r}", field="key", line=_line(paper, "key")))
    for f in ("title", "url"):
        if not paper.get(f):
            return ClaimFile(spath, dict(paper), error=ClaimFileError(spath, "missing paper field", field=f, line=getattr(paper, "line", None)))
    raw_claims = doc.get("claims")
    if not isinstance(raw_claims, list) or not raw_claims:
        return ClaimFile(spath, dict(paper), error=ClaimFileError(spath, "`claims` must be a non-empty list", field="claims", line=_line(doc, "claims")))
    out = ClaimFile(spath, dict(paper))
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_claims):
        try:
            claim = _validate_claim(spath, key, raw, i)
        except ClaimFileError as e:
            cid = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else f"claims[{i}]"
            claim = Claim(path=spath, paper=key, id=cid, says=str(raw.get("says", "")) if isinstance(raw, dict) else "",
                          where=str(raw.get("where", "")) if isinstance(raw, dict) else "", kind="?", metric="?",
                          claimed=None, check={}, rule=None, profiles=(), line=getattr(raw, "line", 0), error=e)
        if claim.id in seen:
            first = seen[claim.id]
            claim.error = ClaimFileError(spath, f"duplicate claim id (first at line {first})", claim=claim.id,
                                         field="id", line=_line(raw, "id"))
            claim.id = f"{claim.id}#{sum(1 for c in out.claims if c.id.split('#')[0] == claim.id) + 1}"
        else:
            seen[claim.id] = _line(raw, "id") or 0
        out.claims.append(claim)
    return out


__all__ = ["Claim", "ClaimFile", "ClaimFileError", "load_claim_file", "EXACT_RULES", "STAT_RULES"]
