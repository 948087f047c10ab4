"""The report as GitHub-flavoured Markdown: ``render_markdown``. Every text from the zone is
untrusted: inline text is escaped so it opens no HTML, no link and breaks no table; outputs go
in fenced blocks no backtick run can close. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from nodeswap.i18n import N_, _, phase_title, retranslate, word
from nodeswap.run import journal as J

from .formatting import (
    NOT_COLLECTED,
    fmt_clock,
    fmt_duration,
    fmt_exit,
    fmt_line,
    fmt_time,
    fmt_windows,
    probe_sentence,
    verdict,
)
from .headline import gates_fact, headline
from .model import CheckLine, RunReport

SETTINGS_NOTE = N_("The new VM's settings file as R7-R17 write it; R30 puts the old MGMT/EIP "
                 "values back at the switch.")
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*[]<>|"})


def md(text: object) -> str:
    """Inline text for Markdown: untrusted, so no HTML, no links, no table breaks. Balanced
    backticks (the checks quote config lines so) stay code spans, whose content is literal."""
    parts = str(text).replace("\r", "").split("`")
    if len(parts) % 2 == 0 or any("\\" in p for p in parts[1::2]):
        # an odd number of backticks, or a backslash in a span (GFM tables read `\|` as a
        # cell end even there): all literal
        parts = ["`".join(parts)]
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(part.translate(_MD_SPECIAL).replace("\n", "<br>"))
        elif part:  # a code span: only the table's `|` and line breaks matter inside
            out.append("`" + part.replace("|", "\\|").replace("\n", " ") + "`")
        else:
            out.append("\\`\\`")
    return "".join(out)


def md_code(text: str) -> str:
    """A fenced block that no backtick run in ``text`` can close."""
    fence = "`" * max(3, _longest_run(text, "`") + 1)
    return f"{fence}text\n{text.rstrip(chr(10))}\n{fence}"


def _longest_run(text: str, ch: str) -> int:
    best = run = 0
    for c in text:
        run = run + 1 if c == ch else 0
        best = max(best, run)
    return best


def _md_table(head: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]
    out.append("")
    return out


def render_markdown(r: RunReport) -> str:
    """The report as GitHub-flavoured Markdown: the summary first, the steps last."""
    nodes = sorted(r.nodes, key=lambda n: n.name)
    out = ["# " + _("nodeswap report: run {run}").format(run=md(r.run_id)), "",
           f"## {_('Zone')} {md(', '.join(r.zone_ids))}: {md(', '.join(n.name for n in nodes))}"
           f" → {md(r.target_os)} — {word(r.state).upper().replace('_', ' ')}", "",
           f"**{md(headline(r))}**", ""]
    out += _md_table((_("Summary"), ""), [
        (_("Zone id"), ", ".join(r.zone_ids)), (_("Final state"), word(r.state).replace("_", " ")),
        (_("Nodes"), "; ".join(f"{n.name} ({n.status})" for n in nodes)),
        (_("OS before") + " → " + _("after"), "; ".join(
            f"{n.name}: {n.old_os} → {n.os_now}"
            + ("" if n.replaced else f" ({_('unchanged')})")
                                        for n in nodes)),
        (_("Wall time"), f"{fmt_duration(r.duration)} ({fmt_time(r.started)} → "
                      f"{fmt_clock(r.ended)})"),
        (_("Target OS"), r.target_os),
        (_("Findings"), ", ".join(f"{r.findings(k)} {word(k)}" for k in
                                  ("unexpected", "attention", "ignored"))),
        (_("Gates"), gates_fact(r)),
        (_("Steps"), ", ".join(f"{n} {word(o)}" for o, n in r.outcome_counts)
                     + " (" + _("of {n}").format(n=len(r.steps)) + ")"),
        (_("Sessions"), ", ".join(f"{word(s.action)} ({word(s.outcome)})" for s in r.sessions)
                        or _("not recorded")),
        (_("Started by"), r.operator), (_("Installer"), r.installer_version),
        (_("Run"), r.run_id), (_("Plan sha256"), r.plan_fingerprint),
    ])  # fmt: skip
    if r.failure is not None:
        f = r.failure.step
        lead = _("Before the rollback, the run stopped at step") \
            if r.state == J.RUN_ROLLED_BACK else _("Stopped at step")
        out += [f"> **{lead} {md(f.step_id)} ({md(f.rule)}) {_('on')} {md(f.target)}:** "
                f"{md(retranslate(f.title))}: {md(word(f.outcome))}, "
                + _("exit status {n}").format(n=fmt_exit(r.failure.exit_status)) + ".", ""]
    if r.message and r.state not in (J.RUN_DONE, J.RUN_ROLLED_BACK):
        out += [f"**{_('Message')}:**", "", md_code(r.message), ""]
    if r.attention:
        out += ["## ⚠ " + _("Attention: hand edits to make"), ""]
        out += [f"- **{md(d.rule)}** {md(c.node)} {md(d.section)}: {md(d.reason)}"
                f" (new: {md(fmt_line(d.new, d.new_line))})" for c, d in r.attention]
        out.append("")
    out += _md_gates(r) + _md_sessions(r) + _md_nodes(r) + _md_downtime(r)
    out += _md_diffs(r) + _md_services(r) + _md_failure(r)
    if r.warnings:
        out += ["## " + _("Warnings of the plan"), ""] + [f"- {md(retranslate(w))}"
                                                            for w in r.warnings] + [""]
    if r.backups:
        out += ["## " + _("Backups (R6)"), ""]
        out += _md_table((_("Host"), _("Path"), "sha256"),
                         [(b.host, b.path, b.sha256) for b in r.backups])
    out += _md_timeline(r)
    return "\n".join(out).rstrip("\n") + "\n"


def _md_gates(r: RunReport) -> list[str]:
    if not r.gates:
        return ["## " + _("Gates"), "", _("The plan has no gates."), ""]
    return ["## " + _("Gates"), "", *_md_table(
        (_("Gate step"), _("Rule"), _("What it allows"), _("Approved by"), _("When")),
        [(g.step_id, g.rule, retranslate(g.title), g.who,
          fmt_time(g.approved) if g.approved else "—")
         for g in r.gates])]


def _bar(left: float, width: float, cells: int = 24) -> str:
    start = min(int(left * cells / 100), cells - 1)
    length = max(1, round(width * cells / 100))
    return "·" * start + "█" * min(length, cells - start) + "·" * max(0, cells - start - length)


def _md_sessions(r: RunReport) -> list[str]:
    out = ["## " + _("Sessions and timeline"), ""]
    if not r.sessions:
        return [*out, "This run's sessions were not recorded (a journal written before"
                f" nodeswap kept them). The run started {fmt_time(r.started)}.", ""]
    span = f"{fmt_clock(r.span[0])} → {fmt_clock(r.span[1])}"
    return out + _md_table(
        ("#", _("Session"), _("By"), _("Started"), _("Took"), _("Ended"), _("Steps"), span),
        [(s.number, s.action, s.operator, fmt_time(s.started), fmt_duration(s.duration),
          s.outcome, s.steps, "`" + _bar(s.left, s.width) + "`") for s in r.sessions])


def _md_nodes(r: RunReport) -> list[str]:
    out = ["## " + _("Nodes"), ""]
    for n in sorted(r.nodes, key=lambda n: n.name):
        planned = "" if n.replaced else f" ({_('planned')}: {n.new_os})"
        out += [f"### {md(n.name)} — {_('replaced') if n.replaced else _('not replaced')}", ""]
        out += _md_table(("", md(n.status)), [
            (_("Address"), (n.old_address if n.final_address == n.old_address
                         else f"{n.old_address} → {n.final_address}")
             + f" ({_('temporary')} {n.temp_address})"),
            ("OS", f"{n.old_os} → {n.os_now}{planned}"),
            (_("Physical host"), f"{n.old_host} → {n.new_host}"),
            (_("Host key, old"), n.old_key or _("not recorded")),
            (_("Host key, new"), n.new_key or _("not pinned: no step reached the new VM")),
        ])  # fmt: skip
        if n.settings:
            out += _md_table((_("Settings key (R7-R17)"), _("Old"), _("New")),
                             [(c.key, "—" if c.old is None else c.old,
                               "—" if c.new is None else c.new) for c in n.settings])
            out += [_(SETTINGS_NOTE), ""]
    return out


def _md_downtime(r: RunReport) -> list[str]:
    d = r.downtime
    if d is None:
        return []
    out = ["## " + _("Console downtime per switch"), "", md(probe_sentence(d)), ""]
    if d.state != "collected":
        out += [_(NOT_COLLECTED), ""]
    if d.switches:
        out += _md_table(
            (_("Node"), _("Switch (R32 to R36)"), _("Longest"), _("Total"),
             _("Windows (start, duration, status)")),
            [(s.node, f"{fmt_clock(s.start)} → {fmt_clock(s.end)}"
              + ("" if s.complete else f" ({_('R36 not reached')})")
              + ("" if s.probed else f" ({_('not probed throughout')})"),
              fmt_duration(s.longest), fmt_duration(s.total), fmt_windows(s.windows))
             for s in d.switches])
    return out


def _md_timeline(r: RunReport) -> list[str]:
    out = ["## " + _("Appendix: every step"), ""]
    for p in r.phases:
        out += [f"### {md(phase_title(p.name))} — {md(p.summary)}", ""]
        out += _md_table(
            ("#", _("Rule"), _("Step"), _("Target"), _("Title"), _("Outcome"), _("Duration"),
             _("Exit"), _("Runs"), _("Note")),
            [(s.position, s.rule, s.step_id, f"{s.target} ({s.address})", retranslate(s.title),
              word(s.outcome).upper() if s.outcome == "failed" else word(s.outcome),
              fmt_duration(s.duration), fmt_exit(s.exit_status), s.attempts, s.note)
             for s in p.steps])
    return out


def _md_findings(c: CheckLine) -> list[str]:
    if not c.findings:
        return []
    return _md_table((_("Class"), _("Rule"), _("Section"), _("Old"), _("New"), _("Reason")),
                     [(word(d.klass).upper() if d.klass != "ignored" else word(d.klass), d.rule,
                       d.section,
                       fmt_line(d.old, d.old_line), fmt_line(d.new, d.new_line), d.reason)
                      for d in c.findings])


def _md_diffs(r: RunReport) -> list[str]:
    if not r.diffs:
        return []
    out = ["## " + _("Differences, old vs new node (R27, R28)"), ""]
    for c in r.diffs:
        out += [f"### {md(c.rule)} {md(c.subject)} — {md(c.node)}: {md(verdict(c))}", "",
                _("Step `{step}` against `{against}`.").format(step=c.step_id,
                                                               against=c.against), ""]
        out += _md_findings(c)
    return out


def _md_services(r: RunReport) -> list[str]:
    if not (r.services or r.other_checks):
        return []
    out = ["## " + _("Services and other checks (R23, R29, R35, R36)"), ""]
    for c in r.services + r.other_checks:
        who = f" — {md(c.node)}" if c.node else ""
        out += [f"### {md(c.rule)} {md(c.subject)}{who}: {md(verdict(c))}", "",
                _("Step `{step}`.").format(step=c.step_id), ""]
        if c.programs:
            out += _md_table((_("Node"), _("Program"), _("State"), _("Detail")),
                             [(p.node, p.name, p.state, p.detail) for p in c.programs])
        out += _md_findings(c)
    return out


def _md_failure(r: RunReport) -> list[str]:
    f = r.failure
    if f is None:
        return []
    s = f.step
    what = "Interrupted" if s.outcome == "interrupted" else "Failed"
    out = [f"## {what} step: {md(s.step_id)} ({md(s.rule)})", "",
           f"{md(retranslate(s.title))} — on {md(s.target)} ({md(s.address)}), "
           f"{md(f.kind or 'no')} attempt,"
           f" exit status {fmt_exit(f.exit_status)}.", ""]
    if f.command:
        out += ["Command:", "", md_code(f.command), ""]
    if f.error:
        out += ["Error:", "", md_code(f.error), ""]
    for name, tail in (("stdout", f.stdout_tail), ("stderr", f.stderr_tail)):
        if tail:
            out += [f"Last lines of {name}:", "", md_code(tail), ""]
    return out
