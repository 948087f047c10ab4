"""The upgrade spec: a small YAML file saying what to upgrade to and what the operator fixes.

Validated with pydantic v2 at the edge; every problem becomes a SpecError Problem naming the
spec file, the line, the key path and the bad value. Extra keys are errors (a typo must not be
silently ignored). Pure: the caller reads the file (sources.py) and passes its text.

    role: proxy
    target: {os_name: bionic, os_version: "18.04.6"}
    zone: zz1a                   # the zone to upgrade; required when the role's nodes span
                                 # several zones (a region's firstbox), else the one they are in
    nodes:                       # optional per node; what is missing is chosen by the rules
      proxy0: {temp_address: 10.16.100.51, physical_host: 10.16.100.12, eip_temp_address: 2.2.2.2}
    vg_mgmt_network_gateway: ... # only where the zone cannot tell
    order: [proxy1, proxy0]      # switch order (default: runbook order, VIP-less node first)
    vip / console_url / vm_base_network / mgmt_network / seed / sub_region
    outage_timeout: 60           # seconds per command while a node is out of service (R32-R33)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from nodeswap import runbooks
from nodeswap.errors import Problem, SpecError
from nodeswap.i18n import _
from nodeswap.zone.values import KEY_TYPES, interface_problem, node_name_problem, os_problem, shown

_MAC = re.compile(r"00:16:3e(?::[0-9a-f]{2}){3}")


def _mac(value: str | None) -> str | None:
    if value is not None and not _MAC.fullmatch(value):
        raise ValueError(f"{value!r} is not a MAC of the form 00:16:3e:xx:xx:xx (lowercase)")
    return value


def _node_name(value: str) -> str:
    why = node_name_problem(value)
    if why is not None:
        raise ValueError(why)
    return value


def _interface(value: str) -> str:
    why = interface_problem(value)
    if why is not None:
        raise ValueError(why)
    return value


def _zone_id(value: str) -> str:
    why = KEY_TYPES["zone_id"](value)
    if why is not None:
        raise ValueError(f"{value!r} {why}")
    return value


def _role(value: str) -> str:
    if value not in runbooks.roles():
        raise ValueError(runbooks.unknown_role(value))
    return value


NodeName = Annotated[str, AfterValidator(_node_name)]
Role = Annotated[str, AfterValidator(_role)]  # a role with a runbook (nodeswap.runbooks)
Interface = Annotated[str, AfterValidator(_interface)]
ZoneIdValue = Annotated[str, AfterValidator(_zone_id)]


class TargetOS(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    os_name: str
    os_version: str

    @field_validator("os_name")
    @classmethod
    def _os_name(cls, value: str) -> str:
        why = os_problem(value, "0.0")
        if why is not None:
            raise ValueError(why)
        return value

    @field_validator("os_version")
    @classmethod
    def _os_version(cls, value: str) -> str:
        why = os_problem("a", value)
        if why is not None:
            raise ValueError(why)
        return value


class NodeSpec(BaseModel):
    """What the operator fixes for one node; None = chosen by the rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temp_address: IPv4Address | None = None
    physical_host: IPv4Address | None = None
    eip_temp_address: IPv4Address | None = None
    mgmt_mac: str | None = None
    eip_mac: str | None = None
    physical_host_network_interface: Interface | None = None
    physical_host_eip_network_interface: Interface | None = None

    _check_mgmt_mac = field_validator("mgmt_mac")(_mac)
    _check_eip_mac = field_validator("eip_mac")(_mac)


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    target: TargetOS
    zone: ZoneIdValue | None = None  # one zone per plan: required where the role spans several
    nodes: dict[NodeName, NodeSpec] = Field(default_factory=dict)
    vg_mgmt_network_gateway: IPv4Address | None = None
    order: list[NodeName] | None = None
    vip: IPv4Address | None = None
    console_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    vm_base_network: IPv4Network | None = None
    mgmt_network: IPv4Network | None = None
    seed: int | None = None
    sub_region: bool = False  # R27: api/ws/io backends are hand-edited in a sub region
    # Seconds each command may take while a node is out of service (from R32's stop of the
    # old node until the new one answers at the old address, R33); the waits keep their own.
    outage_timeout: float = Field(default=60.0, gt=0, le=3600)
    path: str = Field(default="<spec>", exclude=True)

    def node(self, name: str) -> NodeSpec:
        return self.nodes.get(name) or NodeSpec()

    @classmethod
    def from_yaml(cls, text: str, path: str = "<spec>") -> Spec:
        """Parse and validate; raises SpecError with every problem found."""
        try:
            root = yaml.compose(text)
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            raise SpecError([Problem(_("not valid YAML: {error}").format(error=exc), file=path,
                                     line=line)]) from None
        if not isinstance(data, dict):
            raise SpecError([Problem(
                _("the spec must be a mapping (role, target, nodes...), not {value}").format(
                    value=repr(data)), file=path)])
        if "path" in data:
            raise SpecError([Problem(_("unknown key {key}").format(key="'path'"), file=path,
                                     key="path")])
        try:
            return cls.model_validate({**data, "path": path})
        except ValidationError as exc:
            raise SpecError([_problem(e, root, path) for e in exc.errors()]) from None


def _problem(err: Any, root: yaml.Node | None, path: str) -> Problem:
    raw = list(err["loc"])  # pydantic ends a mapping key's own error with a "[key]" marker;
    loc: Sequence[str | int] = raw[:-1] if len(raw) > 1 and raw[-1] == "[key]" else raw
    key = ".".join(shown(str(p)) for p in loc)
    value = err.get("input")
    if err["type"] == "extra_forbidden":
        msg = _("unknown key {key}").format(key=repr(loc[-1]))
    elif err["type"] == "missing":
        msg = _("required key is missing")
    elif err["type"] == "value_error" and "error" in err.get("ctx", {}):
        msg = str(err["ctx"]["error"])  # our own validators name the value already
    else:
        msg = _("{problem} (got {value})").format(problem=err["msg"], value=shown(repr(value)))
    return Problem(msg, file=path, line=_line_of(root, loc), key=key)


def _line_of(node: yaml.Node | None, loc: Sequence[str | int]) -> int | None:
    """The 1-based line of the key path ``loc`` in the composed YAML, as deep as it goes."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(part):
                    line, node = k.start_mark.line + 1, v
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
