"""The plan as plain data: targets, steps, files, nodes. Pure: no I/O.

This module owns the *shape* of a plan, shared by the planner (plan.py, runbooks/) and the
executor (execute.py). A plan is data: apply runs exactly what is written here and never
re-decides. Serialisation to and from JSON lives here too, so a saved plan round-trips.

Commands are exact shell command lines (already quoted by nodeswap.shell); a step's command
exits 0 on success. ``check`` is a read-only command whose exit 0 means "already done" (resume
re-checks instead of re-running); ``verify`` is a post-condition; ``undo`` reverses the step.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from nodeswap.i18n import _
from nodeswap.plan import graph  # graph reads Step for types only

PLAN_FORMAT = 4  # the one plan format this nodeswap reads (``zone`` is optional in it)
# Format 1 carried what steers apply (irreversible_phase, manual_restore, firstbox, zone) as
# strings in ``meta``; format 2 has them as typed top-level fields (``MOVED_META``); format 3
# adds the steps' ``check_target`` and ``rerun_safe`` (how resume decides about a cut step),
# and moves the last two strings of meta that steered apply to typed fields: ``transport``
# ("local": a plan for ``apply --local``) and ``fingerprint_kind`` (a live plan's zone check).
# Format 4 adds the steps' ``after`` (the dependency graph: nodeswap.plan.graph).
OLD_FORMATS = {1: "what steers apply was strings in meta",
               2: "its steps have no check_target or rerun_safe, so a cut step could not be "
                  "decided by resume",
               3: "its steps have no after, so apply could not tell which steps may run at "
                  "once"}
# meta key (formats 1 and 2): its typed field now
MOVED_META = {"irreversible_phase": "irreversible_phase", "manual_restore": "manual_restore",
              "firstbox": "firstbox_target", "zone": "journal_zone",
              "transport": "transport", "fingerprint_kind": "fingerprint_kind"}
DIGEST_KEY = "digest"  # the plan file's top-level field holding its digest
LOCAL_TRANSPORT = "local"  # ``transport`` of a plan made to run on this machine (--local)


def canonical_json(data: Any) -> bytes:
    """The canonical JSON bytes a digest is taken of: keys sorted, no whitespace
    (separators ``,`` and ``:``), non-ASCII characters as themselves (``ensure_ascii=False``),
    encoded as UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def digest_of(data: Mapping[str, Any]) -> str:
    """A plan's digest: sha256 (hex) of ``canonical_json`` of its top-level object with every
    field, known or not, but ``digest`` itself."""
    body = {k: v for k, v in data.items() if k != DIGEST_KEY}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def format_refusal(fmt: Any) -> str:
    """Why a plan of format ``fmt`` is not read, and what to do."""
    why = OLD_FORMATS.get(fmt) if isinstance(fmt, int) and not isinstance(fmt, bool) else None
    if why is not None:
        return _("plan format {fmt!r} was written by an older nodeswap ({why}): this nodeswap "
                 "reads format {format} only; make the plan again with `nodeswap plan` and "
                 "review it again").format(fmt=fmt, why=why, format=PLAN_FORMAT)
    return _("plan format {fmt!r}: this nodeswap reads format {format} only").format(
        fmt=fmt, format=PLAN_FORMAT)


@dataclass(frozen=True)
class Target:
    """A host as the plan names it, and how to reach it.

    ``key_id`` names the host-key identity that must answer: two targets with the same key_id
    (a new VM at its temporary address, then at the old node's address after R31-R33) must
    present the same key. ``pin`` says nodeswap itself creates this host, so its key is
    trusted on first sight and pinned in the journal; every other key must already be known.
    """

    name: str
    address: str
    key_id: str
    via_firstbox: bool = True
    pin: bool = False


@dataclass(frozen=True)
class Analysis:
    """A pure check run on captured output (the fetch is the step's command).

    ``kind`` names a comparison in nodeswap.checks (e.g. "haproxy", "rc", "supervisor");
    ``against`` is the id of an earlier step whose stdout is the reference (old node's copy),
    or None for checks of one output alone. ``options`` are kind-specific (e.g. sub_region,
    an address map "old=new").
    """

    kind: str
    against: str | None = None
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Step:
    """One step of a plan: what runs where, why (rule), and how to tell it is done."""

    id: str
    phase: str
    rule: str
    title: str
    target: str  # a Target.name of the plan
    command: str
    stdin: str | None = None  # exact bytes fed to the command (e.g. a file's full text)
    check: str | None = None  # read-only; exit 0 = already done, skip
    verify: str | None = None  # exit 0 = the step worked
    undo: str | None = None  # reverses the step (rollback), on undo_target or the same target
    timeout: float = 600.0
    gate: bool = False  # ask for approval before running
    side_effect: bool = True  # False for read-only steps (fetches, status)
    analysis: Analysis | None = None
    # The command ends the target's SSH service (shutdown -h, shutdown -r): a connection that
    # drops while it runs is the expected outcome, not a failure. A later step (usually on
    # firstbox, or on the host at its new address) verifies what became of the host.
    disconnects: bool = False
    # Where the undo runs when not on the step's own target: a VM that was shut down is
    # started again by its physical host (R32), a new VM is destroyed there (R21, R33).
    undo_target: str | None = None
    # The step waits for a condition (a host coming or going) that the next steps rely on:
    # it runs alone (in a per-node phase, beside the other nodes' steps only: R21's waits for
    # both new VMs; see nodeswap.plan.graph).
    waits: bool = False
    # Where ``check`` runs when not on the step's own target: a host that is up when the
    # target may be down on purpose (R32's shutdown is decided by the physical host's
    # ``virsh domstate``, R33's reboot from firstbox), or that sees the step's effect (R21's
    # launch: the new physical host).
    check_target: str | None = None
    # A side-effect step without a check that is safe to run again, and why (shown by
    # `nodeswap show`): resume re-runs it when it was cut. A side-effect step with neither a
    # check nor this reason needs --rerun-unchecked (or --mark-done) after a cut.
    rerun_safe: str | None = None
    # The ids of the earlier steps this one waits for (the plan's dependency graph, issue 11):
    # None in a Step made in code means "by the rules" (nodeswap.plan.graph.derive), which
    # the Plan fills in; a plan file always carries the list.
    after: tuple[str, ...] | None = None


def gathered(step: Step) -> dict[str, str]:
    """label -> step id of the analysis option ``gather`` ("label=STEP,..."): the steps whose
    outputs make the analysis' reference, as a JSON object {label: stdout} (the executor
    builds it when the step runs; the report builds it again to recompute the findings)."""
    if step.analysis is None:
        return {}
    spec = dict(step.analysis.options).get("gather", "")
    pairs = (item.split("=", 1) for item in spec.split(",") if "=" in item)
    return {label: sid for label, sid in pairs}


@dataclass(frozen=True)
class PlannedFile:
    """A file the plan writes, with its full text (shown in the plan for review)."""

    target: str
    path: str
    content: str
    mode: int = 0o644
    rule: str = ""


@dataclass(frozen=True)
class NodePlan:
    """What the plan decided for one node being replaced."""

    name: str
    old_address: str
    temp_address: str
    old_physical_host: str
    physical_host: str
    old_settings: str
    settings: str
    mgmt_mac: str
    eip_mac: str | None
    eip_temp_address: str | None


@dataclass(frozen=True)
class ZoneId:
    """The zone a plan was made on, so that apply can refuse another zone's plan.

    ``firstbox``: firstbox's address as the operator gave it when planning live (offline:
    the ``firstbox_address`` of the settings copy). ``zone_ids``: the zone ids of the settings
    files. ``host_key``: firstbox's host key as seen when planning live ("ssh-ed25519
    SHA256:..."); an offline plan has none and says so (``offline``).
    """

    firstbox: str
    zone_ids: tuple[str, ...]
    host_key: str | None = None
    offline: bool = False

    def describe(self) -> str:
        key = "made offline, no host key" if self.offline or not self.host_key \
            else f"host key {self.host_key}"
        return (f"firstbox {self.firstbox or '?'}, zone {'+'.join(self.zone_ids) or '?'}, "
                f"{key}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ZoneId:
        return cls(firstbox=str(d["firstbox"]), zone_ids=tuple(str(z) for z in d["zone_ids"]),
                   host_key=d.get("host_key"), offline=bool(d.get("offline", False)))


@dataclass(frozen=True)
class Plan:
    role: str
    installer_version: str
    target_os: tuple[str, str]  # (os_name, os_version)
    nodes: Mapping[str, NodePlan]
    targets: Mapping[str, Target]
    steps: tuple[Step, ...]
    files: tuple[PlannedFile, ...] = ()
    inventory_fingerprint: str = ""
    warnings: tuple[str, ...] = ()
    meta: Mapping[str, str] = field(default_factory=dict)  # free-form: steers nothing
    zone: ZoneId | None = None  # None: a plan not made by `nodeswap plan` (tests, older plans)
    # What steers apply, resume and rollback (typed, written always, checked on read):
    # the phase after which rollback is refused (R37's archive), and what to do instead;
    irreversible_phase: str | None = None
    manual_restore: str = ""
    # the target whose host holds the zone lock (and the zone's fingerprint): firstbox;
    firstbox_target: str = "firstbox"
    # the journal's zone name when the plan gives one (hand-made plans, labs): see
    # nodeswap.run.runs.journal_name.
    journal_zone: str | None = None
    # "local": a plan made to run every step on this machine (``apply --local``); None: SSH.
    transport: str | None = None
    # what ``inventory_fingerprint`` is a fingerprint of: "zone-state" for a live plan (apply
    # checks the zone did not change since; nodeswap.live.planning); None for offline plans.
    fingerprint_kind: str | None = None

    def __post_init__(self) -> None:
        """Steps made without ``after`` get it from the rules of nodeswap.plan.graph; a
        graph that refers forward or to no step is a bug of whoever made the plan."""
        if any(s.after is None for s in self.steps):
            object.__setattr__(self, "steps", graph.derive(self.steps, list(self.nodes)))
        found = graph.problems(self.steps)
        if found:
            raise ValueError("the plan's step graph: " + "; ".join(found))

    @property
    def firstbox(self) -> Target | None:
        """The target holding the zone lock, when the plan has it."""
        return self.targets.get(self.firstbox_target)

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    @property
    def is_local(self) -> bool:
        """A plan made to run every step on this machine (``apply --local``): it names no
        zone and says so (``transport``)."""
        return self.zone is None and self.transport == LOCAL_TRANSPORT

    def to_dict(self) -> dict[str, Any]:
        """The plan file's content, with its ``digest`` (see ``digest_of``)."""
        data = self._body()
        data[DIGEST_KEY] = digest_of(data)
        return data

    def _body(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": PLAN_FORMAT,
            "role": self.role,
            "installer_version": self.installer_version,
            "target_os": list(self.target_os),
            "nodes": {k: asdict(v) for k, v in self.nodes.items()},
            "targets": {k: asdict(v) for k, v in self.targets.items()},
            "steps": [asdict(s) for s in self.steps],
            "files": [asdict(f) for f in self.files],
            "inventory_fingerprint": self.inventory_fingerprint,
            "warnings": list(self.warnings),
            "meta": dict(self.meta),
            "irreversible_phase": self.irreversible_phase,
            "manual_restore": self.manual_restore,
            "firstbox_target": self.firstbox_target,
            "journal_zone": self.journal_zone,
            "transport": self.transport,
            "fingerprint_kind": self.fingerprint_kind,
        }
        if self.zone is not None:  # absent, not null: older plans keep their fingerprint
            data["zone"] = asdict(self.zone)
        return data

    def fingerprint(self) -> str:
        """The plan's digest: sha256 of the canonical JSON of the plan without its digest
        (what ``plan`` writes and prints, apply records and every gate shows)."""
        return digest_of(self._body())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        """Rebuild a plan from to_dict() output (its ``digest``, if any, is not checked here).
        Raises KeyError/TypeError on bad shape. Plan files are checked first, field by field,
        by nodeswap.plan.planfile. A plan of another format is refused (ValueError) rather than
        guessed at."""
        if data.get("format") != PLAN_FORMAT:
            raise ValueError(format_refusal(data.get("format")))

        def step(d: Mapping[str, Any]) -> Step:
            d = dict(d)
            a = d.pop("analysis", None)
            analysis = None
            if a is not None:
                analysis = Analysis(
                    kind=a["kind"],
                    against=a.get("against"),
                    options=tuple((str(k), str(v)) for k, v in a.get("options", ())),
                )
            d["after"] = tuple(str(x) for x in d["after"])
            return Step(**d, analysis=analysis)

        return cls(
            role=data["role"],
            installer_version=data["installer_version"],
            target_os=(data["target_os"][0], data["target_os"][1]),
            nodes={k: NodePlan(**v) for k, v in data["nodes"].items()},
            targets={k: Target(**v) for k, v in data["targets"].items()},
            steps=tuple(step(s) for s in data["steps"]),
            files=tuple(PlannedFile(**f) for f in data.get("files", ())),
            inventory_fingerprint=data.get("inventory_fingerprint", ""),
            warnings=tuple(data.get("warnings", ())),
            meta=dict(data.get("meta", {})),
            zone=ZoneId.from_dict(data["zone"]) if data.get("zone") is not None else None,
            irreversible_phase=data["irreversible_phase"],
            manual_restore=data["manual_restore"],
            firstbox_target=data["firstbox_target"],
            journal_zone=data["journal_zone"],
            transport=data["transport"],
            fingerprint_kind=data["fingerprint_kind"],
        )
