"""Claim files: safe YAML loading with line numbers, and validation that names the file, claim, field and line.

A claim file (the README's "Claim files" section documents every field)::

    paper: {key: squeezenet, index: 9, title: "...", authors: "...", year: 2016, url: https://arxiv.org/abs/1602.07360}
    claims:
      - id: fifty_x_fewer_parameters          # unique in the file: [a-z0-9][a-z0-9_]*
        says: "... 50x fewer parameters."     # the paper's words
        where: "Abstract; Table 2"            # section, table, figure
        kind: structural                      # structural | analytical (exact, no training) | empirical (trained)
        scale: paper                          # paper: the paper's own setting | analogue: a scaled-down stand-in
        setting: "..."                        # analogue (required): data, model, budget, seeds, in one line
        source: "..."                         # optional: whose measurement it is when it is not this project's run
        metric: param_ratio_alexnet_over_squeezenet   # a key of the measured file's `metrics`
        claimed: 50                           # the paper's number (null when the claim is qualitative)
        check: {between: [45, 55]}            # one rule (rules.py), plus `alpha` for statistical rules
        null: 0                               # empirical: the metric's value when the factor has no effect
        requires:                             # validity gates: the experiment worked (else the verdict is invalid)
          - {metric: top1_vanilla, every_seed: {at_least: 0.9}, why: "the baseline trained"}
          - {metric: kl_term, mean: {at_least: 0.1}, positive_control: true}
        why: "..."                            # the design and the reason for the rule; no run's numbers
        profile: cpu                          # optional: profile(s) whose measurement this check applies to
        expect: reproduces                    # reproduces | fails | inconclusive: the project's known verdict

Loading never builds more than it may: files over 1 MiB, YAML anchors and aliases, nesting deeper than 20 levels,
non-text mapping keys and numbers that are not finite or beyond 1e15 are errors, reported for the file or the claim.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from claimcheck.rules import MAX_ABS, EXACT_RULES, STAT_RULES, Gate, RuleError, finite_number, parse_gate, parse_rule

KINDS = ("structural", "analytical", "empirical")
SCALES = ("paper", "analogue")
EXPECTS = ("reproduces", "fails", "inconclusive")
PROFILES = ("smoke", "cpu", "full")
VERDICT_PROFILES = ("cpu", "full")  # the profiles a claim may be judged at
CLAIM_FIELDS = {"id", "says", "where", "kind", "scale", "setting", "source", "metric", "claimed", "check", "null",
                "requires", "why", "profile", "expect", "note"}
REQUIRED = ("id", "says", "where", "kind", "scale", "metric", "check")
PAPER_FIELDS = {"key", "index", "title", "authors", "year", "url", "note", "status"}
ID_RE = re.compile(r"[a-z0-9][a-z0-9_]*")  # matched with fullmatch: no trailing newline slips through
MAX_BYTES = 1 << 20  # a claim file is a page of YAML; a larger one is refused before it is parsed
MAX_DEPTH = 20


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
    """yaml.SafeLoader (no arbitrary objects) that records line numbers of mappings, refuses anchors and aliases
    (an alias bomb expands a few lines into gigabytes) and bounds the nesting depth (recursion)."""

    _depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "YAML aliases (*name) are not allowed in claim files",
                                              event.start_mark)
        if getattr(event, "anchor", None):
            raise yaml.composer.ComposerError(None, None, "YAML anchors (&name) are not allowed in claim files",
                                              event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _LineDict:
    d = _LineDict()
    d.line = node.start_mark.line + 1
    d.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key is None and isinstance(key_node, yaml.ScalarNode) and key_node.value == "null":
            key = "null"  # the claim field `null:` (YAML would read the bare word as no value)
        if not isinstance(key, str):
            raise yaml.constructor.ConstructorError(None, None, f"mapping keys must be text, got {type(key).__name__}",
                                                    key_node.start_mark)
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
    scale: str = ""
    setting: str = ""
    source: str = ""
    null: float = 0.0
    requires: list[Gate] = field(default_factory=list)
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


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _one_line(v: Any) -> bool:
    return isinstance(v, str) and v.strip() != "" and "\n" not in v.strip()


def _validate_claim(path: str, key: str, raw: Any, index: int) -> Claim:
    if not isinstance(raw, dict):
        raise ClaimFileError(path, f"claims[{index}] must be a mapping, got {type(raw).__name__}")
    cid = raw.get("id")
    name = cid if isinstance(cid, str) and ID_RE.fullmatch(cid) else f"claims[{index}]"
    err = lambda msg, fld: ClaimFileError(path, msg, claim=name, field=fld, line=_line(raw, fld))  # noqa: E731
    for f in REQUIRED:
        if f not in raw or raw[f] in (None, ""):
            raise ClaimFileError(path, "missing required field", claim=name, field=f, line=getattr(raw, "line", None))
    unknown = sorted(set(raw) - CLAIM_FIELDS)
    if unknown:
        raise err(f"unknown field (allowed: {', '.join(sorted(CLAIM_FIELDS))})", unknown[0])
    if not isinstance(cid, str) or not ID_RE.fullmatch(cid):
        raise err("id must be snake_case text matching [a-z0-9][a-z0-9_]*", "id")
    for f in ("says", "where", "metric"):
        if not isinstance(raw[f], str):
            raise err("must be text", f)
    for f in ("why", "note"):
        if raw.get(f) is not None and not isinstance(raw[f], str):
            raise err("must be text", f)
    if raw["kind"] not in KINDS:
        raise err(f"kind must be one of {', '.join(KINDS)}, got {raw['kind']!r}", "kind")
    if raw["scale"] not in SCALES:
        raise err(f"scale must be one of {', '.join(SCALES)} (paper: the paper's own setting; analogue: a scaled-down "
                  f"stand-in, with `setting`), got {raw['scale']!r}", "scale")
    if raw["scale"] == "analogue" and not _one_line(raw.get("setting")):
        raise err("an analogue claim needs `setting`: one line naming data, model, budget and seeds", "setting")
    for f in ("setting", "source"):
        if raw.get(f) is not None and not _one_line(raw[f]):
            raise err("must be one line of text", f)
    claimed = raw.get("claimed")
    if claimed is not None and not finite_number(claimed):
        if not (isinstance(claimed, list) and claimed and all(finite_number(c) for c in claimed)):
            raise err(f"claimed must be a finite number (|x| <= {MAX_ABS:g}), a list of them or null, got "
                      f"{_short(claimed)}", "claimed")
    null = raw.get("null", 0)
    if not finite_number(null):
        raise err(f"null (the metric's value when the factor has no effect) must be a finite number, got {_short(null)}",
                  "null")
    expect = raw.get("expect", "reproduces")
    if expect not in EXPECTS:
        raise err(f"expect must be one of {', '.join(EXPECTS)}, got {_short(expect)}", "expect")
    why = raw.get("why") or ""
    if expect != "reproduces" and not why.strip():
        raise err(f"expect: {expect} needs a `why` saying what was found", "why")
    check = raw["check"]
    if not isinstance(check, dict):
        raise err("check must be a mapping with one rule, e.g. {at_least: 45}", "check")
    try:
        rule = parse_rule(dict(check), claimed if not isinstance(claimed, list) else None)
    except RuleError as e:
        raise err(str(e), "check") from None
    gates = raw.get("requires", [])
    if not isinstance(gates, list):
        raise err("requires must be a list of gates, e.g. [{metric: top1_baseline, every_seed: {at_least: 0.9}}]",
                  "requires")
    parsed = []
    for i, g in enumerate(gates):
        try:
            parsed.append(parse_gate(g, i))
        except RuleError as e:
            raise ClaimFileError(path, f"requires[{i}]: {e}", claim=name, field="requires",
                                 line=getattr(g, "line", None) or _line(raw, "requires")) from None
    for g in parsed:
        if g.positive_control and g.metric == raw["metric"]:
            raise err("a positive control shows the factor acting on another metric than the claim's own (on the "
                      "claim's metric it only restates the rule)", "requires")
    if (raw["kind"] == "empirical" and expect != "reproduces" and not raw.get("source")
            and not any(not g.positive_control for g in parsed)):
        raise err(f"expect: {expect} on an empirical claim needs `requires` gates showing the experiment worked (each "
                  f"arm trained, no seed diverged): a failed experiment is not a non-reproduction", "requires")
    if is_number(claimed) and not rule.admits(claimed):
        raise err(f"the paper's value {_short(claimed)} does not satisfy the rule ({rule.text}): the check would test "
                  f"something other than the paper's claim (write the rule so that the claimed value passes it)", "check")
    profile = raw.get("profile")
    if profile is None:
        profiles = PROFILES if raw["kind"] != "empirical" else ("cpu", "full")
    else:
        profiles = tuple(profile) if isinstance(profile, list) else (profile,)
        if not profiles:
            raise err(f"profile must name at least one of {', '.join(VERDICT_PROFILES)}", "profile")
        bad = [p for p in profiles if not isinstance(p, str) or p not in VERDICT_PROFILES]
        if bad:
            raise err(f"profile must be among {', '.join(VERDICT_PROFILES)} (smoke runs check the code, never a "
                      f"claim), got {_short(bad[0])}", "profile")
    return Claim(path=path, paper=key, id=cid, says=raw["says"].strip(), where=raw["where"], kind=raw["kind"],
                 metric=raw["metric"], claimed=claimed, check=dict(check), rule=rule, profiles=profiles,
                 scale=raw["scale"], setting=(raw.get("setting") or "").strip(), source=(raw.get("source") or "").strip(),
                 null=float(null), requires=parsed, expect=expect, why=why.strip(),
                 note=(raw.get("note") or "").strip(), line=getattr(raw, "line", 0),
                 field_lines=dict(getattr(raw, "key_lines", {})))


def _short(v: Any, n: int = 60) -> str:
    try:
        s = repr(v)
    except (ValueError, RecursionError):  # e.g. an int too long to print
        s = f"<{type(v).__name__}>"
    return s if len(s) <= n else s[:n] + "..."


def _read_yaml(path: Path, spath: str) -> tuple[Any, ClaimFileError | None]:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return None, ClaimFileError(spath, f"{size:,} bytes: a claim file may hold at most {MAX_BYTES:,}")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        return None, ClaimFileError(spath, f"not UTF-8 text ({e.reason} at byte {e.start})")
    except OSError as e:
        return None, ClaimFileError(spath, f"cannot read: {e}")
    try:
        return yaml.load(text, Loader=_LineLoader), None  # noqa: S506 - _LineLoader is a SafeLoader
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        return None, ClaimFileError(spath, f"not valid YAML: {problem}", line=line)
    except (RecursionError, MemoryError, ValueError, TypeError, OverflowError) as e:
        return None, ClaimFileError(spath, f"cannot be read as YAML ({type(e).__name__}: {_short(str(e), 120)})")


def load_claim_file(path: Path | str, display: str | None = None) -> ClaimFile:
    """Read one claim file. Never raises: problems land in `.error` (whole file) or each claim's `.error`.
    display: how messages name the file (e.g. relative to the repo, so that reports do not depend on the clone)."""
    path = Path(path)
    spath = display or str(path)
    key = path.stem
    doc, error = _read_yaml(path, spath)
    if error is not None:
        return ClaimFile(spath, {"key": key}, error=error)
    if not isinstance(doc, dict):
        return ClaimFile(spath, {"key": key}, error=ClaimFileError(spath, "top level must be a mapping with `paper` and `claims`"))
    paper = doc.get("paper")
    if not isinstance(paper, dict) or "key" not in paper:
        return ClaimFile(spath, {"key": key}, error=ClaimFileError(spath, "missing `paper` mapping with its `key`", field="paper", line=_line(doc, "paper")))
    if paper["key"] != key:
        return ClaimFile(spath, {"key": key}, error=ClaimFileError(spath, f"paper key {_short(paper['key'])} differs from the file name {key!r}", field="key", line=_line(paper, "key")))
    for f in ("title", "url"):
        if not isinstance(paper.get(f), str) or not paper[f].strip():
            return ClaimFile(spath, {"key": key}, error=ClaimFileError(spath, "missing paper field (text)", field=f, line=getattr(paper, "line", None)))
    unknown = sorted(set(map(str, doc)) - {"paper", "claims"}) or sorted(set(map(str, paper)) - PAPER_FIELDS)
    if unknown:
        where = "top level" if unknown[0] not in map(str, paper) or unknown[0] in map(str, doc) else "paper"
        return ClaimFile(spath, {"key": key}, error=ClaimFileError(
            spath, f"unknown {where} field {_short(unknown[0])} (top level: paper, claims; paper: "
                   f"{', '.join(sorted(PAPER_FIELDS))})", line=_line(doc if where == "top level" else paper, unknown[0])))
    info = {k: v for k, v in paper.items() if k in PAPER_FIELDS and isinstance(v, (str, int)) and not isinstance(v, bool)}
    raw_claims = doc.get("claims")
    if not isinstance(raw_claims, list) or not raw_claims:
        return ClaimFile(spath, info, error=ClaimFileError(spath, "`claims` must be a non-empty list", field="claims", line=_line(doc, "claims")))
    out = ClaimFile(spath, info)
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_claims):
        try:
            claim = _validate_claim(spath, key, raw, i)
        except ClaimFileError as e:
            cid = raw.get("id") if isinstance(raw, dict) else None
            cid = cid if isinstance(cid, str) and ID_RE.fullmatch(cid) else f"claims[{i}]"
            text = lambda f: raw.get(f) if isinstance(raw, dict) and isinstance(raw.get(f), str) else ""  # noqa: E731
            claim = Claim(path=spath, paper=key, id=cid, says=text("says"), where=text("where"), kind="?", metric="?",
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
