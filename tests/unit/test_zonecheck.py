"""Issue 9: a plan names its zone; apply refuses another zone's plan before any connection
(these tests make every socket connection fail loudly, so "before any connection" is proven,
and nothing can dial the 10.x addresses of the example zones); state kept per firstbox."""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from zonekit import make_spec, make_zone

from nodeswap.errors import EXIT_INPUT, InputError, PlanFileError
from nodeswap.live.reach import make_reach
from nodeswap.live.zonecheck import Given, problems_before_contact, write_label
from nodeswap.plan.build import build_plan
from nodeswap.plan.model import Plan, Target, ZoneId
from nodeswap.run.journal import Journal, journal_path
from nodeswap.run.runs import journal_name, read_plan, start
from nodeswap.run.statedir import find_run, own_known_hosts, state_dir_for
from nodeswap.zone.knownhosts import merged

KEY = "ssh-ed25519 SHA256:planplanplanplanplanplanplanplanplanplanpla"


@pytest.fixture(autouse=True)
def no_connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every attempt to open a connection is recorded and fails."""
    tried: list[Any] = []

    def refuse(*args: Any, **kw: Any) -> Any:
        tried.append(args)
        raise AssertionError(f"a connection was attempted: {args[1:]}")

    async def refuse_async(*args: Any, **kw: Any) -> Any:
        return refuse(*args, **kw)

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(asyncio.BaseEventLoop, "create_connection", refuse_async)
    monkeypatch.setattr(asyncio.BaseEventLoop, "sock_connect", refuse_async)
    return tried


def started(plan: Plan, **kw: Any) -> tuple[Journal, str]:
    """``runs.start`` in its own event loop (the CLI's is the command's one loop)."""
    return asyncio.run(start(plan, **kw))


def offline_plan() -> Plan:
    return build_plan(make_zone("novg"), make_spec(seed=1), today="20261127")


def live_plan(firstbox: str = "10.16.100.2", zone_ids: tuple[str, ...] = ("zz1a",)) -> Plan:
    return replace(offline_plan(), zone=ZoneId(firstbox, zone_ids, KEY, offline=False))


def write_lab(folder: Path, firstbox: str, zone_id: str | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {
        "firstbox": "qingcloud-firstbox",
        "hosts": {"qingcloud-firstbox": {"address": firstbox}},
        "ssh": {"user": "root", "identity_file": str(folder / "id"),
                "known_hosts": str(folder / "kh")},
        "state_dir": str(folder),
    }
    if zone_id:
        data["zone"] = {"zone_id": zone_id}
    (folder / "lab.json").write_text(json.dumps(data))
    return folder


def only_refusal_logged(state: Path) -> bool:
    """No run, no journal, nothing written but one line in the refusal log (mode 0600)."""
    log = state / "refusals.log"
    return [p.name for p in state.iterdir()] == ["refusals.log"] and \
        len(log.read_text().splitlines()) == 1 and log.stat().st_mode & 0o777 == 0o600


def test_an_offline_plan_names_its_settings_zone_and_says_offline() -> None:
    z = offline_plan().zone
    assert z == ZoneId("10.16.100.2", ("zz1a",), None, offline=True)


def test_the_zone_round_trips_and_older_plans_keep_their_fingerprint() -> None:
    plan = live_plan()
    again = Plan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again == plan and again.fingerprint() == plan.fingerprint()
    old = {k: v for k, v in plan.to_dict().items() if k != "zone"}
    assert "zone" not in Plan.from_dict(old).to_dict()
    assert Plan.from_dict(old).fingerprint() == replace(plan, zone=None).fingerprint()


@pytest.mark.parametrize("fmt", [5, 3, 2, 0, None, "4"])
def test_a_plan_of_an_unknown_format_is_refused(tmp_path: Path, fmt: object) -> None:
    data = live_plan().to_dict()
    data["format"] = fmt
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PlanFileError) as err:
        read_plan(path)
    assert err.value.exit_code == EXIT_INPUT and "plan format" in str(err.value)


def test_a_format_1_plan_is_refused_with_what_to_do(tmp_path: Path) -> None:
    """Format 1 kept what steers apply in ``meta``: such a plan is made again, not guessed at."""
    data = live_plan().to_dict()
    data["format"] = 1
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PlanFileError) as err:
        read_plan(path)
    assert err.value.exit_code == EXIT_INPUT
    assert "plan format 1 was written by an older nodeswap" in str(err.value)
    assert "make the plan again with `nodeswap plan`" in str(err.value)


def test_offline_plan_with_firstbox_is_refused_before_any_connection(
        tmp_path: Path, no_connections: list[Any]) -> None:  # fmt: skip
    reach = make_reach(lab=None, firstbox="root@10.16.100.2")
    with pytest.raises(InputError) as err:
        started(offline_plan(), reach=reach, state_dir=tmp_path / "state", plan_name="p.json")
    msg = str(err.value)
    assert "p.json was made offline" in msg and "--firstbox 10.16.100.2" in msg
    assert no_connections == []
    assert only_refusal_logged(tmp_path / "state")
    [line] = (tmp_path / "state" / "refusals.log").read_text().splitlines()
    assert "\tp.json\t" in line and "was made offline" in line


def test_offline_plan_with_a_lab_is_refused_before_any_connection(
        tmp_path: Path, no_connections: list[Any]) -> None:  # fmt: skip
    lab = write_lab(tmp_path / "lab", "127.16.100.2", "zz1a")
    with pytest.raises(InputError, match="made offline"):
        started(offline_plan(), reach=make_reach(lab=lab, firstbox=None),
                state_dir=lab / "nodeswap")
    assert no_connections == [] and only_refusal_logged(lab / "nodeswap")


def test_another_firstbox_is_refused_naming_both(tmp_path: Path,
                                                 no_connections: list[Any]) -> None:
    lab = write_lab(tmp_path / "lab", "127.17.100.2", "zz1a")
    plan = live_plan("127.16.100.2")
    with pytest.raises(InputError) as err:
        started(plan, reach=make_reach(lab=lab, firstbox=None), state_dir=lab / "nodeswap")
    msg = str(err.value)
    assert "made on firstbox 127.16.100.2" in msg and "is firstbox 127.17.100.2" in msg
    assert no_connections == [] and only_refusal_logged(lab / "nodeswap")


def test_another_zone_id_is_refused_naming_both(tmp_path: Path) -> None:
    lab = write_lab(tmp_path / "lab", "127.16.100.2", "pek3b")
    with pytest.raises(InputError) as err:
        started(live_plan("127.16.100.2", ("pek3a",)), reach=make_reach(lab=lab, firstbox=None),
                state_dir=lab / "nodeswap")
    assert "is for zone pek3a" in str(err.value) and "is zone pek3b" in str(err.value)


def test_the_state_folders_label_gives_the_zone_id_of_a_firstbox(tmp_path: Path) -> None:
    state = tmp_path / "state"
    write_label(state, "10.16.100.2", ("other",))
    with pytest.raises(InputError, match="is zone other"):
        started(live_plan(), reach=make_reach(lab=None, firstbox="10.16.100.2"),
                state_dir=state)


@pytest.mark.parametrize(("zone", "given", "problem"), [
    (None, Given("--lab L", None, ()), None),  # a hand-made plan on a plain-hosts lab
    (None, Given("--lab L", "127.16.100.2", ("pek3a",)), "names no zone"),
    (ZoneId("127.16.100.2", ("pek3a",), KEY), Given("--lab L", None, ()), "has no firstbox"),
    (ZoneId("127.16.100.2", ("pek3a",), KEY), Given("--lab L", "127.16.100.2", ("pek3a",)),
     None),
    (ZoneId("127.16.100.2", ("pek3a",), KEY), Given("--firstbox x", "127.16.100.2", ()), None),
    (ZoneId("127.16.100.2", ("pek3a",), None, offline=True),
     Given("--lab L", "127.16.100.2", ("pek3a",)), "made offline"),
])  # fmt: skip
def test_what_is_compared_before_any_connection(zone: ZoneId | None, given: Given,
                                                problem: str | None) -> None:
    plan = replace(offline_plan(), zone=zone)
    found = problems_before_contact(plan, given)
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and problem in found[0].message


def test_known_hosts_that_does_not_exist_is_refused_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(InputError) as err:
        make_reach(lab=None, firstbox="10.16.100.2", known_hosts=missing)
    assert str(missing) in str(err.value)


def test_own_known_hosts_is_seeded_once_and_a_given_file_is_merged(tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    seed.write_text("10.0.0.1 ssh-ed25519 AAAAseed\n")
    state = tmp_path / "state"
    own = Path(own_known_hosts(state, str(seed)))
    assert own == state / "known_hosts" and own.read_text() == seed.read_text()
    seed.write_text("10.0.0.1 ssh-ed25519 AAAAchanged\n")
    own_known_hosts(state, str(seed))  # seeded once: a later change of the source is not read
    assert "AAAAseed" in own.read_text()
    given = tmp_path / "given"
    given.write_text("10.0.0.1 ssh-ed25519 AAAAgiven\n10.0.0.9 ssh-rsa AAAAnine\n")
    own_known_hosts(state, str(seed), given=str(given))  # an explicit file is never ignored
    assert own.read_text() == "10.0.0.1 ssh-ed25519 AAAAgiven\n10.0.0.9 ssh-rsa AAAAnine\n"


def test_merged_replaces_only_the_hosts_the_given_file_names() -> None:
    own = "10.0.0.1,fb ssh-ed25519 AAAAold\n10.0.0.2 ssh-ed25519 AAAAtwo\n|1|x=|y= ssh-rsa AAAAh\n"
    given = "# c\n[10.0.0.1]:22 ssh-ed25519 AAAAnew\n"
    assert merged(own, given) == ("fb ssh-ed25519 AAAAold\n10.0.0.2 ssh-ed25519 AAAAtwo\n"
                                  "|1|x=|y= ssh-rsa AAAAh\n[10.0.0.1]:22 ssh-ed25519 AAAAnew\n")
    assert merged(merged(own, given), given) == merged(own, given)  # idempotent


def test_state_is_kept_per_firstbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODESWAP_STATE_DIR", str(tmp_path))
    assert state_dir_for(None, None, "root@10.16.100.2") == tmp_path / "10.16.100.2"
    assert state_dir_for(None, tmp_path / "lab", None) == tmp_path / "lab" / "nodeswap"
    assert state_dir_for(tmp_path / "x", None, "10.16.100.2") == tmp_path / "x"
    assert state_dir_for(None) == tmp_path
    reach = make_reach(lab=None, firstbox="root@10.16.100.2")
    assert journal_name(live_plan(), reach) == "zz1a"
    assert journal_name(replace(live_plan(), zone=None), reach) == "10.16.100.2"
    assert journal_name(replace(live_plan(), zone=None), None) == "local"


def test_find_run_searches_the_per_firstbox_folders(tmp_path: Path) -> None:
    plan = Plan("proxy", "4.3.0", ("xenial", "16.04.5"), {},
                {"fb": Target("fb", "127.0.0.1", "fb", via_firstbox=False)}, ())
    j = Journal.open(journal_path(tmp_path / "10.16.100.2", "zz1a"))
    run_id = j.create_run(plan, operator="t", zone="zz1a")
    j.close()
    found = find_run(tmp_path, run_id)
    assert found.path.parent.name == "10.16.100.2"
    found.close()
    with pytest.raises(InputError, match="no run 'nope'"):
        find_run(tmp_path, "nope")


def test_the_guard_sees_connections(tmp_path: Path, no_connections: list[Any]) -> None:
    """The fixture is not blind: a plan of the given firstbox goes on to ask that firstbox
    (and only it) for its host key, which the fixture stops (at a loopback address)."""
    reach = make_reach(lab=None, firstbox="root@127.0.0.9")
    with pytest.raises(AssertionError, match="a connection was attempted"):
        started(live_plan("127.0.0.9"), reach=reach, state_dir=tmp_path / "state")
    assert len(no_connections) == 1 and "127.0.0.9" in repr(no_connections[0])
    assert not list((tmp_path / "state").glob("*.journal.sqlite"))


def test_resume_refuses_a_run_of_another_firstbox_before_any_connection(
        tmp_path: Path, no_connections: list[Any]) -> None:  # fmt: skip
    from nodeswap.run.runs import refuse_other_zone_for_run  # noqa: PLC0415

    reach = make_reach(lab=None, firstbox="root@10.16.100.2")
    j = Journal.open(journal_path(tmp_path, "zz1a"))
    run_id = j.create_run(live_plan(), operator="t", zone="zz1a",
                          connection={"mode": "ssh", **reach.to_dict()})
    with pytest.raises(InputError) as err:
        asyncio.run(refuse_other_zone_for_run(j, run_id, firstbox="root@127.0.0.9"))
    assert "started on firstbox 10.16.100.2" in str(err.value)
    assert "--firstbox root@127.0.0.9 is firstbox 127.0.0.9" in str(err.value)
    assert no_connections == []
    j.close()
