"""The report as GitHub-flavoured Markdown: ``render_markdown``. Every text from the zone is
untrusted: inline text is escaped so it opens no HTML, no link and breaks no table; outputs go
in fenced blocks no backtick run can close. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from nodeswap.run import journal as J

from .formatting import fmt_duration, fmt_exit, fmt_line, fmt_time, verdict
from .model import CheckLine, RunReport

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
    """The report as GitHub-flavoured Markdown."""
    out = [f"# nodeswap report: run {md(r.run_id)}", ""]
    out += _md_table(("Run", md(r.run_id)), [
        ("Zone", r.zone), ("Operator", r.operator), ("Role", r.role),
        ("Installer", r.installer_version), ("Target OS", r.target_os),
        ("Final state", r.state.upper()), ("Started", fmt_time(r.started)),
        ("Ended", fmt_time(r.ended)), ("Duration", fmt_duration(r.duration)),
        ("Steps", f"{r.count('done')} done, {r.count('skipped')} skipped, "
                  f"{r.count('failed')} failed, {r.count('not run')} not run, "
                  f"{len(r.steps)} in the plan"),
        ("Unexpected findings", r.unexpected), ("Plan sha256", r.plan_fingerprint),
    ])  # fmt: skip
    if r.message and r.state != J.RUN_DONE:
        out += ["**Message:**", "", md_code(r.message), ""]
    if r.attention:
        out += ["## ⚠ Attention: hand edits to make", ""]
        out += [f"- **{md(d.rule)}** {md(c.node)} {md(d.section)}: {md(d.reason)}"
                f" (new: {md(fmt_line(d.new, d.new_line))})" for c, d in r.attention]
        out.append("")
    out += _md_nodes(r) + _md_timeline(r) + _md_diffs(r) + _md_services(r) + _md_failure(r)
    if r.warnings:
        out += ["## Warnings of the plan", ""] + [f"- {md(w)}" for w in r.warnings] + [""]
    if r.backups:
        out += ["## Backups (R6)", ""]
        out += _md_table(("Host", "Path", "sha256"),
                         [(b.host, b.path, b.sha256) for b in r.backups])
    return "\n".join(out).rstrip("\n") + "\n"


def _md_nodes(r: RunReport) -> list[str]:
    out = ["## Nodes", ""]
    rows = [(n.name, n.status, f"{n.old_address} → {n.final_address}", n.temp_address,
             f"{n.old_host} → {n.new_host}", f"{n.old_os} → {n.new_os}",
             n.new_key or "not pinned yet", n.old_key or "not recorded") for n in r.nodes]
    return out + _md_table(("Node", "Status", "Address (old → now)", "Temporary", "Physical host",
                            "OS", "Host key (new VM)", "Host key (old)"), rows)


def _md_timeline(r: RunReport) -> list[str]:
    out = ["## Timeline", ""]
    for p in r.phases:
        out += [f"### {md(p.name)} — {md(p.summary)}", ""]
        out += _md_table(
            ("#", "Rule", "Step", "Target", "Title", "Outcome", "Duration", "Exit", "Runs",
             "Note"),
            [(s.position, s.rule, s.step_id, f"{s.target} ({s.address})", s.title,
              s.outcome.upper() if s.outcome == "failed" else s.outcome,
              fmt_duration(s.duration), fmt_exit(s.exit_status), s.attempts, s.note)
             for s in p.steps])
    return out


def _md_findings(c: CheckLine) -> list[str]:
    if not c.findings:
        return []
    return _md_table(("Class", "Rule", "Section", "Old", "New", "Reason"),
                     [(d.klass.upper() if d.klass != "ignored" else d.klass, d.rule, d.section,
                       fmt_line(d.old, d.old_line), fmt_line(d.new, d.new_line), d.reason)
                      for d in c.findings])


def _md_diffs(r: RunReport) -> list[str]:
    if not r.diffs:
        return []
    out = ["## Differences, old vs new node (R27, R28)", ""]
    for c in r.diffs:
        out += [f"### {md(c.rule)} {md(c.subject)} — {md(c.node)}: {md(verdict(c))}", "",
                f"Step `{c.step_id}` against `{c.against}`.", ""]
        out += _md_findings(c)
    return out


def _md_services(r: RunReport) -> list[str]:
    if not (r.services or r.other_checks):
        return []
    out = ["## Services and other checks (R23, R29, R35, R36)", ""]
    for c in r.services + r.other_checks:
        who = f" — {md(c.node)}" if c.node else ""
        out += [f"### {md(c.rule)} {md(c.subject)}{who}: {md(verdict(c))}", "",
                f"Step `{c.step_id}`.", ""]
        if c.programs:
            out += _md_table(("Node", "Program", "State", "Detail"),
                             [(p.node, p.name, p.state, p.detail) for p in c.programs])
        out += _md_findings(c)
    return out


def _md_failure(r: RunReport) -> list[str]:
    f = r.failure
    if f is None:
        return []
    s = f.step
    out = [f"## Failed step: {md(s.step_id)} ({md(s.rule)})", "",
           f"{md(s.title)} — on {md(s.target)} ({md(s.address)}), {md(f.kind or 'no')} attempt,"
           f" exit status {fmt_exit(f.exit_status)}.", ""]
    if f.command:
        out += ["Command:", "", md_code(f.command), ""]
    if f.error:
        out += ["Error:", "", md_code(f.error), ""]
    for name, tail in (("stdout", f.stdout_tail), ("stderr", f.stderr_tail)):
        if tail:
            out += [f"Last lines of {name}:", "", md_code(tail), ""]
    return out
