"""Fuzz targets for the plan loader (nodeswap.plan.planfile, behind runs.read_plan): random bytes,
random JSON, and real plans changed at one random place (with or without the digest computed
again). Each ends in a plan or a PlanFileError (an InputError, exit 2), never in another
exception; and a plan that loads always has the digest written in its file."""

from __future__ import annotations

import json
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fuzzkit import FUZZ, result_or_input_error
from hypothesis import given
from hypothesis import strategies as st

from nodeswap.plan import planfile
from nodeswap.plan.build import build_plan
from nodeswap.plan.model import PLAN_FORMAT, Plan, Step, Target, ZoneId, digest_of
from nodeswap.run.runs import read_plan

pytestmark = pytest.mark.fuzz
ROOT = Path(__file__).resolve().parents[2]

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
                      st.sampled_from(["firstbox", "r6-backup", "zone-state", "archive", "local",
                                       "proxy0", "a" * 64]))  # fmt: skip
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=16)  # fmt: skip


@cache
def plans() -> tuple[dict[str, Any], ...]:
    """Plans as files hold them: a live-looking plan of the example zone, and a local one."""
    import sys  # noqa: PLC0415

    sys.path.insert(0, str(ROOT / "tests" / "unit"))
    from zonekit import make_spec, make_zone  # noqa: PLC0415

    made = build_plan(make_zone("novg"), make_spec(seed=1), today="20261127")
    live = Plan(**{**made.__dict__, "zone": ZoneId("10.16.100.2", ("zz1a",), "ssh-ed25519 K"),
                   "fingerprint_kind": "zone-state"})
    local = Plan("proxy", "4.3.0", ("xenial", "16.04.5"), {},
                 {"fb": Target("fb", "127.0.0.1", "fb", via_firstbox=False)},
                 (Step("one", "p", "R6", "first", "fb", command="true"),),
                 transport="local")  # fmt: skip
    return live.to_dict(), local.to_dict()


def load_bytes(raw: bytes) -> Plan | None:
    plan = result_or_input_error(lambda: planfile.load(planfile.parse(raw, "p.json"), "p.json"))
    if plan is not None:  # what loads is exactly the file: apply records the file's digest
        assert plan.fingerprint() == json.loads(raw)["digest"]
    return plan


@FUZZ
@given(st.binary(max_size=400))
def test_plan_files_of_random_bytes(raw: bytes) -> None:
    load_bytes(raw)


@FUZZ
@given(json_value, st.booleans())
def test_plan_files_of_random_json(value: Any, with_digest: bool) -> None:
    if with_digest and isinstance(value, dict):
        value = {**value, "format": PLAN_FORMAT}
        value["digest"] = digest_of(value)
    load_bytes(json.dumps(value).encode())


@cache
def paths_of(which: int) -> list[tuple[Any, ...]]:
    return [p for p in _paths(plans()[which]) if p]


@cache
def text_of(which: int) -> bytes:
    return planfile.text_of(Plan.from_dict(plans()[which])).encode()


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*path, i))
    return out


@FUZZ
@given(st.data(), st.sampled_from([0, 1]), st.sampled_from(["delete", "replace", "add"]),
       st.booleans())
def test_real_plans_changed_in_one_place(data: st.DataObject, which: int, how: str,
                                         redigest: bool) -> None:  # fmt: skip
    plan = json.loads(json.dumps(plans()[which]))
    path = data.draw(st.sampled_from(paths_of(which)), label="path")
    parent = plan
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if how == "delete":
        del parent[last]
    elif how == "replace":
        parent[last] = data.draw(json_value, label="value")
    elif isinstance(parent, dict):
        parent[data.draw(st.text(max_size=8), label="key")] = data.draw(json_value, label="v")
    else:
        parent.insert(last, data.draw(json_value, label="item"))
    if redigest:
        plan["digest"] = digest_of(plan)
    load_bytes(json.dumps(plan, ensure_ascii=data.draw(st.booleans())).encode())


@FUZZ
@given(st.sampled_from([0, 1]), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                          min_size=1, max_size=4))  # fmt: skip
def test_real_plan_files_with_flipped_bytes(which: int, flips: list[tuple[int, int]]) -> None:
    raw = bytearray(text_of(which))
    for at, byte in flips:
        raw[at % len(raw)] = byte
    with tempfile.TemporaryDirectory() as tmp:  # through read_plan, as apply reads it
        path = Path(tmp) / "plan.json"
        path.write_bytes(bytes(raw))
        result_or_input_error(read_plan, path)
