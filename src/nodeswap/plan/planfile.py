"""Plan files: read one, check it is the plan that was written (its digest) and that it is a
whole, well-typed nodeswap plan (its schema), write one.

A plan file is the JSON object ``Plan.to_dict()`` returns: every field of the plan plus
``digest``, the sha256 of the canonical JSON of every other field (``model.digest_of``:
``json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` in UTF-8, of
the object as read, unknown fields included). ``load`` refuses, with every problem named by
the file and the JSON path (``plan.json: steps[12].command: ...``, PlanFileError, exit 2):

- a file that is not JSON, or has a key twice, or NaN/Infinity, or a lone surrogate;
- another plan format;
- no digest, or a digest the content does not match (a hand edit after ``nodeswap plan``);
- a field missing, of the wrong type, or unknown (nothing is silently dropped);
- a step naming a target the plan does not have, two steps with one id, an analysis of an
  unknown kind or against a step that is not before it;
- a plan that switches a check off by leaving a field out: ``firstbox_target`` (the lock's
  host), ``irreversible_phase``, ``manual_restore`` and ``journal_zone`` are written always
  (null where allowed), and in ``meta`` they are refused (format 1 kept them there); a plan
  that names its zone must name the lock's host among its targets and the phase rollback
  stops at (``irreversible_phase``) among its steps' phases; a live one (zone not offline) must
  carry ``fingerprint_kind`` "zone-state" and a 64-hex ``inventory_fingerprint`` (apply's
  zone-changed check); a plan marked local (``transport`` "local") names no zone;
- anything not exactly as nodeswap writes it (e.g. ``600`` for a timeout nodeswap writes
  ``600.0``), so the digest shown at apply and at every gate (``Plan.fingerprint``, taken of
  the plan as parsed) is the file's.

The digest proves the file was not changed since it was computed; anyone can compute one, so
it does not say who wrote the plan. To apply the plan a reviewer read, compare the digest
``apply`` prints with the one the reviewer saw, or give it: ``apply --expect DIGEST``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nodeswap.checks.registry import KINDS
from nodeswap.errors import PlanFileError, Problem
from nodeswap.i18n import _
from nodeswap.plan.fieldchecks import Check
from nodeswap.plan.fieldchecks import boolean as _bool
from nodeswap.plan.fieldchecks import kind as _kind
from nodeswap.plan.fieldchecks import mode as _mode
from nodeswap.plan.fieldchecks import nonempty as _nonempty
from nodeswap.plan.fieldchecks import opt_string as _opt_str
from nodeswap.plan.fieldchecks import options as _options
from nodeswap.plan.fieldchecks import string as _str
from nodeswap.plan.fieldchecks import string_list as _str_list
from nodeswap.plan.fieldchecks import string_pair as _str_pair
from nodeswap.plan.fieldchecks import timeout as _timeout
from nodeswap.plan.model import (
    DIGEST_KEY,
    LOCAL_TRANSPORT,
    MOVED_META,
    PLAN_FORMAT,
    Plan,
    canonical_json,
    digest_of,
    format_refusal,
)

FINGERPRINT_KIND = "zone-state"  # the one fingerprint_kind (nodeswap.live.planning)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
MAX_PROBLEMS = 20

# --- reading JSON ----------------------------------------------------------------------


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"key {k!r} appears twice in one object")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse(raw: bytes, name: str) -> Any:
    """JSON from bytes: UTF-8, no key twice in an object, no NaN/Infinity, text only."""
    try:
        text = raw.decode("utf-8")
        data = json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        what = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise PlanFileError([Problem(_("not a nodeswap plan: not JSON ({why})").format(why=what),
                                     file=name)]) from exc
    bad = _not_text(data, "")
    if bad is not None:
        raise PlanFileError([Problem(_("{bad}: a string that is not text (a lone surrogate)"
                                       ).format(bad=bad),
                                     file=name)])  # fmt: skip
    return data


def _not_text(value: Any, path: str) -> str | None:
    """The path of the first string (or key) that cannot be written as UTF-8, or None."""
    stack = [(value, path)]
    while stack:
        v, p = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return p or "(top)"
        elif isinstance(v, dict):
            for k, item in v.items():
                kp = f"{p}.{k}" if p else str(k)
                try:
                    k.encode("utf-8")
                except UnicodeEncodeError:
                    return p or "(top)"
                stack.append((item, kp))
        elif isinstance(v, list):
            stack.extend((item, f"{p}[{i}]") for i, item in enumerate(v))
    return None


# --- the schema --------------------------------------------------------------------------

TARGET: dict[str, Check] = {"name": _nonempty, "address": _nonempty, "key_id": _nonempty,
                            "via_firstbox": _bool, "pin": _bool}
NODE: dict[str, Check] = {
    "name": _nonempty, "old_address": _str, "temp_address": _str, "old_physical_host": _str,
    "physical_host": _str, "old_settings": _str, "settings": _str, "mgmt_mac": _str,
    "eip_mac": _opt_str, "eip_temp_address": _opt_str}
ANALYSIS: dict[str, Check] = {"kind": _str, "against": _opt_str, "options": _options}
STEP: dict[str, Check] = {
    "id": _nonempty, "phase": _str, "rule": _str, "title": _str, "target": _nonempty,
    "command": _nonempty, "stdin": _opt_str, "check": _opt_str, "verify": _opt_str,
    "undo": _opt_str, "timeout": _timeout, "gate": _bool, "side_effect": _bool,
    "analysis": lambda v: None, "disconnects": _bool, "undo_target": _opt_str, "waits": _bool,
    "check_target": _opt_str, "rerun_safe": _opt_str, "after": _str_list}
FILE: dict[str, Check] = {"target": _nonempty, "path": _nonempty, "content": _str,
                          "mode": _mode, "rule": _str}
ZONE: dict[str, Check] = {"firstbox": _str, "zone_ids": _str_list, "host_key": _opt_str,
                          "offline": _bool}
TOP: dict[str, Check] = {
    "format": lambda v: None, "role": _nonempty, "installer_version": _str,
    "target_os": _str_pair, "nodes": lambda v: None, "targets": lambda v: None,
    "steps": lambda v: None, "files": lambda v: None, "inventory_fingerprint": _str,
    "warnings": _str_list, "meta": lambda v: None, DIGEST_KEY: lambda v: None,
    "irreversible_phase": lambda v: None if v is None else _nonempty(v),
    "manual_restore": _str, "firstbox_target": _nonempty,
    "journal_zone": lambda v: None if v is None else _nonempty(v),
    "transport": lambda v: None if v is None else _nonempty(v),
    "fingerprint_kind": lambda v: None if v is None else _nonempty(v)}
OPTIONAL_TOP = {"zone"}  # absent when the plan names no zone (tests, hand-made plans)


class _Problems:
    def __init__(self, name: str) -> None:
        self.name = name
        self.found: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        if len(self.found) < MAX_PROBLEMS:
            self.found.append(Problem(path + ": " + message if path else message,
                                      file=self.name))

    def raise_any(self) -> None:
        if self.found:
            raise PlanFileError(self.found)


def _object(v: Any, path: str, fields: Mapping[str, Check], out: _Problems,
            optional: set[str] | frozenset[str] = frozenset()) -> bool:  # fmt: skip
    """Check an object's fields: each present (unless optional), known and well typed."""
    if not isinstance(v, dict):
        out.add(path, _("must be an object, not {kind}").format(kind=_kind(v)))
        return False
    ok = True
    for key, check in fields.items():
        at = f"{path}.{key}" if path else key
        if key not in v:
            if key not in optional:
                out.add(at, _("missing"))
                ok = False
            continue
        why = check(v[key])
        if why:
            out.add(at, why)
            ok = False
    for key in v:
        if key not in fields and key not in optional:
            out.add(f"{path}.{key}" if path else key, _("unknown field (not in a nodeswap plan)"))
            ok = False
    return ok


def _mapping(v: Any, path: str, fields: Mapping[str, Check], out: _Problems) -> dict[str, Any]:
    """An object of objects keyed by their ``name``."""
    if not isinstance(v, dict):
        out.add(path, _("must be an object, not {kind}").format(kind=_kind(v)))
        return {}
    good = {}
    for key, item in v.items():
        at = f"{path}.{key}"
        if _object(item, at, fields, out):
            if item["name"] != key:
                out.add(f"{at}.name",
                        _("{name!r} must be the key it is under, {key!r}").format(
                            name=item["name"], key=key))
            else:
                good[key] = item
    return good


def _array(v: Any, path: str, fields: Mapping[str, Check], out: _Problems
           ) -> list[tuple[int, dict[str, Any]]]:  # fmt: skip
    if not isinstance(v, list):
        out.add(path, _("must be an array, not {kind}").format(kind=_kind(v)))
        return []
    return [(i, item) for i, item in enumerate(v) if _object(item, f"{path}[{i}]", fields, out)]


def check_schema(data: Any, out: _Problems) -> None:
    """Every problem of the plan's shape and references, into ``out``."""
    _object(data, "", TOP, out, optional=OPTIONAL_TOP)
    if not isinstance(data, dict):
        return
    _mapping(data.get("targets"), "targets", TARGET, out)
    names = set(data["targets"]) if isinstance(data.get("targets"), dict) else None
    _mapping(data.get("nodes"), "nodes", NODE, out)
    meta = data.get("meta")
    if not isinstance(meta, dict):
        out.add("meta", _("must be an object of strings, not {kind}").format(kind=_kind(meta)))
        meta = {}
    for key, value in meta.items():
        if key in MOVED_META:
            out.add(f"meta.{key}", _("not read from meta (plan format {format}): it is "
                                     "the top-level field {field!r} (make the plan again "
                                     "with `nodeswap plan`)").format(format=PLAN_FORMAT,
                                                                     field=MOVED_META[key]))
        elif not isinstance(value, str):
            out.add(f"meta.{key}", _("must be a string, not {kind}").format(kind=_kind(value)))
    meta = {k: v for k, v in meta.items() if isinstance(v, str)}
    steps = _array(data.get("steps"), "steps", STEP, out)
    first: dict[str, int] = {}  # each step id: the index of its first step, valid or not
    for j, raw in enumerate(data["steps"] if isinstance(data.get("steps"), list) else ()):
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            first.setdefault(raw["id"], j)
    for i, s in steps:
        at = f"steps[{i}]"
        if first[s["id"]] != i:
            out.add(f"{at}.id", _("{id!r} is also the id of steps[{first}]").format(
                id=s["id"], first=first[s["id"]]))
        for key in ("target", "undo_target", "check_target"):
            if names is not None and s[key] is not None and s[key] not in names:
                out.add(f"{at}.{key}", _("{target!r} is not one of the plan's targets").format(
                    target=s[key]))
        for d in s["after"]:  # the graph refers back only (plan order is a valid order)
            if first.get(d, i) >= i:
                out.add(f"{at}.after", _("{step!r} is not the id of an earlier step").format(
                    step=d))
        a = s["analysis"]
        if a is not None and _object(a, f"{at}.analysis", ANALYSIS, out):
            if a["kind"] not in KINDS:
                out.add(f"{at}.analysis.kind",
                        _("unknown check kind {kind!r} (known: {kinds})").format(
                            kind=a["kind"], kinds=", ".join(KINDS)))
            if a["against"] is not None and first.get(a["against"], i) >= i:
                out.add(f"{at}.analysis.against",
                        _("{id!r} is not the id of an earlier step").format(id=a["against"]))
    for i, f in _array(data.get("files"), "files", FILE, out):
        if names is not None and f["target"] not in names:
            out.add(f"files[{i}].target",
                    _("{target!r} is not one of the plan's targets").format(target=f["target"]))
    _checks_on(data, meta, names, [s for _i, s in steps], out)


def _checks_on(data: dict[str, Any], meta: Mapping[str, Any], names: set[str] | None,
               steps: list[dict[str, Any]], out: _Problems) -> None:  # fmt: skip
    """What must be there so that no check of apply, resume or rollback is switched off."""
    lock_host = data.get("firstbox_target")
    lock_host = lock_host if isinstance(lock_host, str) and lock_host else None
    if lock_host not in (None, "firstbox") and names is not None and lock_host not in names:
        out.add("firstbox_target", _("{lock_host!r} (the zone lock's host) is not one of the "
                                     "plan's targets").format(lock_host=lock_host))
    phase = data.get("irreversible_phase")
    phase = phase if isinstance(phase, str) and phase else None
    if phase is not None and phase not in {s["phase"] for s in steps}:
        out.add("irreversible_phase", _("{phase!r} is the phase of no step").format(phase=phase))
    kind = data.get("fingerprint_kind")
    if isinstance(kind, str) and kind != FINGERPRINT_KIND:
        out.add("fingerprint_kind",
                _("{kind!r}: nodeswap knows only {known!r}").format(kind=kind,
                                                                     known=FINGERPRINT_KIND))
    transport = data.get("transport")
    if isinstance(transport, str) and transport != LOCAL_TRANSPORT:
        out.add("transport",
                _("{transport!r}: null (SSH) or {local!r} (--local)").format(
                    transport=transport, local=LOCAL_TRANSPORT))
    if "zone" not in data:
        return
    zone = data["zone"]
    if not _object(zone, "zone", ZONE, out):
        return
    if transport == LOCAL_TRANSPORT:
        out.add("transport", _("{local!r}, but the plan names a zone (firstbox {firstbox}): "
                               "a plan for --local names none").format(
            local=LOCAL_TRANSPORT, firstbox=zone["firstbox"]))
    if lock_host is not None and names is not None and lock_host not in names:
        out.add("targets", _("no target {lock_host!r}: a plan that names its zone names the "
                             "host of the zone lock").format(lock_host=lock_host))
    if phase is None and steps and "irreversible_phase" in data:
        out.add("irreversible_phase", _("null: a plan that names its zone names the phase "
                                        "after which rollback is refused (R37's archive)"))
    if zone["offline"]:
        return
    if kind is None:
        out.add("fingerprint_kind", _("null: a live plan carries {fingerprint_kind!r} (apply's "
                                      "check that the zone did not change since the plan was "
                                      "made)").format(fingerprint_kind=FINGERPRINT_KIND))
    fp = data.get("inventory_fingerprint")
    if isinstance(fp, str) and not _HEX64.match(fp):
        out.add("inventory_fingerprint", _("{fp!r} is not a sha256 (64 hex digits): a live "
                                           "plan carries the fingerprint of the zone it was "
                                           "made on").format(fp=fp))


def _first_difference(a: Any, b: Any, path: str) -> str:
    """Where ``a`` (the file) and ``b`` (the plan as nodeswap writes it) first differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            at = f"{path}.{k}" if path else k
            if k not in b:
                return _("{at}: {value!r} is not written by nodeswap").format(at=at, value=a[k])
            if k not in a:
                return _("{at}: missing (nodeswap writes {value!r})").format(at=at, value=b[k])
            if canonical_json(a[k]) != canonical_json(b[k]):
                return _first_difference(a[k], b[k], at)
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if canonical_json(x) != canonical_json(y):
                return _first_difference(x, y, f"{path}[{i}]")
    return _("{at}: {value!r} is written {written!r} by nodeswap").format(
        at=path or "(top)", value=a, written=b)


# --- loading -----------------------------------------------------------------------------


def load(data: Any, name: str) -> Plan:
    """The plan in ``data`` (parsed JSON of file ``name``), checked: format, digest, schema,
    and exactly as nodeswap writes it. Raises PlanFileError (exit 2) naming every problem."""
    out = _Problems(name)
    if not isinstance(data, dict):
        raise PlanFileError([Problem(_("not a nodeswap plan: a JSON {kind}, not an object").format(
            kind=_kind(data)), file=name)])  # fmt: skip
    if "format" not in data:
        raise PlanFileError([Problem(_("not a nodeswap plan: no format"), file=name)])
    fmt = data["format"]
    if isinstance(fmt, bool) or fmt != PLAN_FORMAT:
        raise PlanFileError([Problem(_("format: {why}").format(why=format_refusal(fmt)),
                                     file=name)])
    given = data.get(DIGEST_KEY)
    if given is None:
        raise PlanFileError([Problem(
            _("digest: missing: a plan file carries the digest `nodeswap plan` wrote into it "
              "(this one was made by hand or by an older nodeswap): make the plan again with "
              "`nodeswap plan`"), file=name)])
    try:
        now = digest_of(data)
    except (ValueError, RecursionError) as exc:  # NaN, a lone surrogate, nested too deeply
        raise PlanFileError([Problem(_("not a nodeswap plan: its content cannot be digested "
                                       "({error_type}: {exc})").format(
            error_type=type(exc).__name__, exc=exc), file=name)]) from exc
    if given != now:
        raise PlanFileError([Problem(
            _("digest: the content does not match the plan's digest (written {given}, the "
              "content's is {now}): the file was changed after `nodeswap plan` wrote it; review "
              "it again and make it again with `nodeswap plan`").format(given=repr(given),
                                                                        now=now), file=name)])
    check_schema(data, out)
    out.raise_any()
    try:
        plan = Plan.from_dict(data)
    except (ValueError, KeyError, TypeError, IndexError) as exc:  # the schema missed it: a bug
        raise PlanFileError([Problem(_("not a nodeswap plan ({error_type}: {exc})").format(
            error_type=type(exc).__name__, exc=exc), file=name)]) from exc
    if plan.fingerprint() != now:
        body = {k: v for k, v in data.items() if k != DIGEST_KEY}
        written = {k: v for k, v in plan.to_dict().items() if k != DIGEST_KEY}
        raise PlanFileError([Problem(
            _("not exactly as nodeswap writes a plan, so its digest would not be the one apply "
              "records: {where}").format(where=_first_difference(body, written, "")),
            file=name)])
    return plan


def read(path: Path) -> Plan:
    """Read and check the plan file at ``path`` (PlanFileError, exit 2, when it is not one
    nodeswap wrote, unchanged, whole and well typed)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PlanFileError([Problem(_("cannot read the plan: {error}").format(error=exc),
                                     file=str(path))]) from exc
    return load(parse(raw, str(path)), str(path))


def text_of(plan: Plan) -> str:
    """The plan file's text (indented, keys sorted, with its digest)."""
    return json.dumps(plan.to_dict(), indent=2, sort_keys=True) + "\n"


def save(plan: Plan, path: Path) -> str:
    """Write the plan file atomically (a temp file in the same folder, then a rename);
    returns its digest."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text_of(plan))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return plan.fingerprint()


# --- what apply asks of the plan ------------------------------------------------------


def normal_digest(expect: str) -> str:
    """``--expect``'s value: 64 hex digits (any case)."""
    value = expect.strip().lower()
    if not _HEX64.match(value):
        raise PlanFileError([Problem(_("--expect {value} is not a plan digest (64 hex digits, "
                                       "as `nodeswap plan` and `show` print it)").format(
                                           value=repr(expect)), key="--expect")])
    return value


def refuse_unexpected(plan: Plan, expect: str | None, name: str) -> None:
    """``apply --expect DIGEST``: the plan must be that one."""
    if expect is None:
        return
    want = normal_digest(expect)
    if plan.fingerprint() != want:
        raise PlanFileError([Problem(
            _("{file} is plan sha256 {digest}, not the expected {want} (--expect): not the plan "
              "that was reviewed").format(file=name, digest=plan.fingerprint(), want=want),
            key="--expect")])


def refuse_not_local(plan: Plan, name: str) -> None:
    """``apply --local`` runs only a plan made for this machine (``Plan.is_local``)."""
    if plan.is_local:
        return
    made = f"made for {plan.zone.describe()}" if plan.zone is not None \
        else f"not marked for --local (transport {plan.transport!r})"
    raise PlanFileError([Problem(
        _("{name} is {made}: --local runs every step on this machine and accepts only a plan "
          "made for it (no zone, transport {local_transport!r}); apply this plan with "
          "--firstbox or --lab").format(name=name, made=made, local_transport=LOCAL_TRANSPORT),
              key="--local")])
