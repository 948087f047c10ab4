"""The documented machine formats match the code: docs/events.md's JSON Schema is the event
types' (nodeswap.run.events), and each table of docs/report-json.md lists exactly the fields of
its report model class (what `report --json` prints)."""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from pathlib import Path

from nodeswap.checks.findings import Difference
from nodeswap.report import downtime, story
from nodeswap.report import model as M
from nodeswap.run import events as E

DOCS = Path(__file__).resolve().parents[2] / "docs"
JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}
EVENTS = ("RunStarted", "StepStarted", "StepOutput", "StepEnded", "GateReached", "RunEnded",
          "Notice")


def json_type(hint: object) -> dict[str, object]:
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return {"type": [JSON_TYPES[inner], "null"]}
    return {"type": JSON_TYPES[hint]}  # type: ignore[index]


def test_the_event_schema_is_the_event_types() -> None:
    text = (DOCS / "events.md").read_text()
    schema = json.loads(text.split("```json\n", 1)[1].split("```", 1)[0])
    assert [ref["$ref"] for ref in schema["oneOf"]] == [f"#/$defs/{n}" for n in EVENTS]
    for name in EVENTS:
        cls = getattr(E, name)
        hints = typing.get_type_hints(cls)
        props = {"event": {"const": name}} | {
            f.name: json_type(hints[f.name]) for f in dataclasses.fields(cls)}
        assert schema["$defs"][name] == {"type": "object", "required": list(props),
                                         "properties": props}, name
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        assert set(re.findall(r"`(\w+)`", row.split("|")[3])) >= set(props) - {"event"}


def tables(text: str) -> dict[str, set[str]]:
    """Each `## heading`'s table: the field names of its first column."""
    out = {}
    for part in text.split("\n## ")[1:]:
        title, body = part.split("\n", 1)
        rows = [ln for ln in body.splitlines() if ln.startswith("| `")]
        out[title.strip()] = {n for ln in rows for n in re.findall(r"`(\w+)`", ln.split("|")[1])}
    return out


def test_the_report_json_tables_are_the_report_model() -> None:
    got = tables((DOCS / "report-json.md").read_text())
    classes = {"The report": M.RunReport, "phase": M.PhaseLines, "step": M.StepLine,
               "node": M.NodeLine, "check": M.CheckLine, "finding": Difference,
               "program": M.Program, "failure": M.Failure, "backup": M.Backup,
               "setting": story.SettingChange, "session": story.SessionLine,
               "gate": story.GateLine, "downtime": downtime.Downtime,
               "switch downtime": downtime.SwitchDowntime,
               "window": downtime.DowntimeWindow}  # fmt: skip
    assert set(got) == set(classes)
    for title, cls in classes.items():
        fields = {"class" if f.name == "klass" else f.name for f in dataclasses.fields(cls)}
        if cls is M.RunReport:
            fields |= {"report_format", "duration", "totals"}
        assert got[title] == fields, title


def test_public_formats_links_both() -> None:
    text = (DOCS / "public-formats.md").read_text()
    assert "(events.md)" in text and "(report-json.md)" in text
