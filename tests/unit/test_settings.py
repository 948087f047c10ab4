"""settings.py: reading values as bash does, rejecting what it cannot read, editing in place.

What bash itself prints for these cases is checked in test_settings_bash.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodeswap.errors import BugError, SettingsError
from nodeswap.zone.settings import SettingsFile
from nodeswap.zone.settings_syntax import parse_value, quote_value

FIXTURES = Path(__file__).parent / "fixtures" / "settings"


def fixture_text(name: str) -> str:
    """A fixture's exact text (bytes decoded as UTF-8, line endings untouched)."""
    return (FIXTURES / name).read_bytes().decode("utf-8")


def one(line: str) -> str | None:
    """The value of key ``k`` in a file made of ``line``."""
    return SettingsFile.from_text(line).get("k")


# -- reading: each row is a line as written and the value bash assigns (checked against bash) --

READ_CASES = [
    ('k="proxy"', "proxy"),
    ('k=""', ""),
    ("k=", ""),
    ("k=''", ""),
    ("k='a b'", "a b"),
    ("k=plain", "plain"),
    ("k=10.16.100.0/24", "10.16.100.0/24"),
    ('k="10.16.100.31 10.16.100.32"', "10.16.100.31 10.16.100.32"),
    ('k="a\\"b"', 'a"b'),
    ('k="a\\\\b"', "a\\b"),
    ('k="a\\$b"', "a$b"),
    ('k="a\\`b"', "a`b"),
    ('k="a\\b"', "a\\b"),
    ('k="a\\nb"', "a\\nb"),
    ('k="a\\\nb"', "ab"),
    ('k="a\nb"', "a\nb"),
    ("k='a\nb'", "a\nb"),
    ("k='a\\b'", "a\\b"),
    ("k='$HOME `x` \"q\"'", '$HOME `x` "q"'),
    ("k=a\\ b", "a b"),
    ("k=a\\$b", "a$b"),
    ("k=a\\\nb", "ab"),
    ("k=a\\*", "a*"),
    ("k=\"x\"'y'z", "xyz"),
    ('k="x"#y', "x#y"),
    ("k=x#y", "x#y"),
    ("k=#x", "#x"),
    ('k="x" # a comment', "x"),
    ('k="x"\t#\ta comment', "x"),
    ("k= # empty then a comment", ""),
    ('k="x"   ', "x"),
    ('  k="x"', "x"),
    ('\tk="x"', "x"),
    ('export k="x"', "x"),
    ('export\tk="x"', "x"),
    ("k=a=b", "a=b"),
    ('k="x$"', "x$"),
    ('k="x$ y"', "x$ y"),
    ('k="x$/y"', "x$/y"),
    ('k="100%$"', "100%$"),
    ("k=x$", "x$"),
    ('k="$"', "$"),
    ('k="hello!"', "hello!"),
    ("k=hello!", "hello!"),
    ('k="a\rb"', "a\rb"),
    ("k='a\r\nb'", "a\r\nb"),
    ('k="zoné 北京"', "zoné 北京"),
    ('k="~/x *.y [z] {a,b}"', "~/x *.y [z] {a,b}"),
    ('k="first"\nk="second"', "second"),
]


@pytest.mark.parametrize(("line", "value"), READ_CASES)
def test_reads_value_as_bash_does(line: str, value: str) -> None:
    assert one(line) == value


# Rows whose line is one right-hand side: no second assignment, no trailing comment.
RHS_CASES = [
    (line[2:].rstrip(" \t"), value)
    for line, value in READ_CASES
    if line.startswith("k=") and "\nk=" not in line and not re.search(r"[ \t]#", line)
]


@pytest.mark.parametrize(("raw", "value"), RHS_CASES)
def test_parse_value_agrees_with_file_reading(raw: str, value: str) -> None:
    assert parse_value(raw) == value


# -- rejection: each row is a line and a fragment of the message that says why -----------------

REJECT_CASES = [
    ('k="$(hostname)"', "command substitution $(...)"),
    ("k=$(hostname)", "command substitution $(...)"),
    ('k="`hostname`"', "command substitution `...`"),
    ("k=`hostname`", "command substitution `...`"),
    ('k="$HOME"', "variable expansion $HOME"),
    ("k=$HOME", "variable expansion $HOME"),
    ('k="${x:-y}"', "parameter expansion ${...}"),
    ('k="$((1+1))"', "arithmetic expansion $((...))"),
    ('k="$[1+1]"', "arithmetic expansion $[...]"),
    ('k="$1"', "variable expansion $1"),
    ('k="$@"', "variable expansion $@"),
    ("k=$'a\\tb'", "ANSI-C quoting"),
    ('k=$"x"', "locale translation"),
    ("k=*", "glob character '*'"),
    ("k=a?", "glob character '?'"),
    ("k=[ab]", "glob character '['"),
    ("k=~", "tilde"),
    ("k=~/x", "tilde"),
    ("k={a,b}", "brace"),
    ("k=(a b)", "array assignment"),
    ("k[0]=a", "array element"),
    ("k+=a", "append assignment"),
    ('k="a" j="b"', "several assignments on one line"),
    ("k=a b", "bash would run it as a command"),
    ('k="a";', "shell operator ';'"),
    ('k="a"; j="b"', "shell operator ';'"),
    ('k="a" && j=1', "shell operator '&'"),
    ('k="a" | cat', "shell operator '|'"),
    ("k=a>b", "shell operator '>'"),
    ('k="a" \\\n', "line continuation after the value"),
    ('k="a', "unterminated quote"),
    ("k='a", "unterminated quote"),
    ('k="a"\r', "carriage return"),
    ("k=a\r", "carriage return"),
    ("\r", "is a command"),
    ("k=a\x01", "control character"),
    ("ls -l", "is a command"),
    ("source other", "is a command"),
    ("export", "is a command"),
    ("export k", "'export' without an assignment"),
    ('1k="a"', "'1k' is not a shell identifier"),
    ('k-j="a"', "'k-j' is not a shell identifier"),
    ('RANDOM="1"', "managed by bash"),
    ('BASH_ENV="x"', "managed by bash"),
    ('_="x"', "managed by bash"),
    ('k="a\x00b"', "NUL byte"),
]


@pytest.mark.parametrize(("line", "why"), REJECT_CASES)
def test_rejects_what_bash_would_not_read_plainly(line: str, why: str) -> None:
    with pytest.raises(SettingsError) as info:
        SettingsFile.from_text(f'## Role\nrole="proxy"\n{line}\n', "settings/proxy0")
    (problem,) = info.value.problems
    assert why in problem.message
    assert problem.file == "settings/proxy0"
    assert problem.line == 3


def test_backslash_at_end_of_file_is_rejected() -> None:
    with pytest.raises(SettingsError, match="backslash at the end of the file"):
        SettingsFile.from_text("a=1\nk=a\\", "f")
    assert SettingsFile.from_text("k=a\\\n").get("k") == "a"  # a continuation, then the end


def test_reports_every_problem_with_file_line_and_key() -> None:
    text = 'a="ok"\nb="$(id)"\nc="fine"\n1d="x"\ne=`x`\nf="unterminated\ng="x"\n'
    with pytest.raises(SettingsError) as info:
        SettingsFile.from_text(text, "settings/proxy0")
    got = [(p.line, p.key) for p in info.value.problems]
    assert got == [(2, "b"), (4, None), (5, "e"), (6, "f")]
    assert str(info.value).splitlines()[0] == (
        "settings/proxy0:2: key b: command substitution $(...) cannot be read without running it"
    )


def test_a_problem_inside_a_multiline_value_does_not_misread_the_lines_after() -> None:
    text = 'a="one\n$(two)\nthree"\nb="ok"\nc=$x\n'
    with pytest.raises(SettingsError) as info:
        SettingsFile.from_text(text, "f")
    assert [(p.line, p.key) for p in info.value.problems] == [(1, "a"), (5, "c")]


# -- round trip, structure ---------------------------------------------------------------------

FIXTURE_NAMES = sorted(p.name for p in FIXTURES.iterdir())


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_round_trips_byte_for_byte(name: str) -> None:
    text = fixture_text(name)
    assert SettingsFile.from_text(text, name).render() == text


def test_proxy_fixture_structure() -> None:
    s = SettingsFile.from_text(fixture_text("proxy0"), "settings/proxy0")
    assert s.sections() == [
        "Role", "Region", "Feature", "Firstbox", "General", "Mgmt Network", "VM Network",
        "Eip Network", "Physical Host",
    ]  # fmt: skip
    assert s["role"] == "proxy"
    assert s.get("mgmt_network_dns_servers") == "10.16.100.31 10.16.100.32"
    assert s.line_of("role") == 2
    assert s.line_of("mgmt_network_address") == 29
    assert s.section_of("eip_network_address") == "Eip Network"
    assert s.keys()[:3] == ["role", "is_region", "region_id"]
    assert s.as_dict()["physical_host"] == "10.16.101.11"
    assert "hostname" in s and "nope" not in s and 3 not in s


def test_physical_fixtures() -> None:
    ks = SettingsFile.from_text(fixture_text("zz1ar01n01"))
    assert ks["role"] == "seed,vbr,snapshot"
    assert ks["bm_ipmi_password"] == 'p@ss "w0rd" $1'  # noqa: S105 (fixture data)
    assert ks.section_of("ks_vm_routing_rule_zz1_proxy0") == "Physical Host"
    vg = SettingsFile.from_text(fixture_text("zz1ar02n01"))
    assert (vg["role"], vg["feature_vgnode"]) == ("vgateway", "on")
    hyper = SettingsFile.from_text(fixture_text("zz1ar03n05"))
    assert hyper["vm_base_network"] == "172.21.130.0"
    assert hyper["container_mode"] == "repl"


def test_tricky_fixture_values() -> None:
    s = SettingsFile.from_text(fixture_text("tricky"))
    assert s.get("reassigned") == "second"
    assert s.line_of("reassigned") == 24
    assert s.get("multi") == "line one\nline two"
    assert s.line_of("unicode") == 20  # after multi-line values, lines are still physical lines
    assert s.get("no_newline") == "end"
    assert s.section_of("no_newline") == "Last"
    assert s.keys().count("reassigned") == 1


def test_getitem_names_file_and_key() -> None:
    with pytest.raises(KeyError, match="settings/proxy0: no key 'nope'"):
        SettingsFile.from_text('a="1"\n', "settings/proxy0")["nope"]


def test_section_header_forms() -> None:
    s = SettingsFile.from_text("## A\n##\tB \n##C\n### D\n #\n ## E\n## \n")
    assert s.sections() == ["A", "B"]


def test_empty_file() -> None:
    s = SettingsFile.from_text("")
    assert (s.render(), s.keys(), s.sections()) == ("", [], [])


# -- editing -----------------------------------------------------------------------------------

SET_CASES = [
    # (line as written, new value, line after set)
    ('k="a"', "b c", 'k="b c"'),
    ('k="a"', 'q"$`\\', 'k="q\\"\\$\\`\\\\"'),
    ("k='a'", "b c", "k='b c'"),
    ("k='a'", "it's", 'k="it\'s"'),
    ("k=a", "10.0.0.1", "k=10.0.0.1"),
    ("k=a", "", "k="),
    ("k=a", "b c", 'k="b c"'),
    ("k=\"a\"'b'", "c", 'k="c"'),
    ("k=a\\ b", "c", 'k="c"'),
    ('  export k="a"   # keep me', "b", '  export k="b"   # keep me'),
    ('k="multi\nline"', "one", 'k="one"'),
    ('k="a"', "new\nline", 'k="new\nline"'),
]


@pytest.mark.parametrize(("line", "value", "after"), SET_CASES)
def test_set_edits_in_place_keeping_style(line: str, value: str, after: str) -> None:
    text = f"## S\nbefore=1\n{line}\nafter=2\n"
    s = SettingsFile.from_text(text).set("k", value)
    assert s.render() == f"## S\nbefore=1\n{after}\nafter=2\n"
    assert s.get("k") == value


def test_set_edits_the_effective_assignment() -> None:
    s = SettingsFile.from_text('k="1"\nk="2"\n').set("k", "3")
    assert s.render() == 'k="1"\nk="3"\n'


def test_set_appends_absent_key_at_end_of_section_before_its_blank_lines() -> None:
    text = '## A\na="1"\n\n## B\nb="2"\n'
    s = SettingsFile.from_text(text).set("n", "v w", section="A")
    assert s.render() == '## A\na="1"\nn="v w"\n\n## B\nb="2"\n'
    assert s.section_of("n") == "A" and s.line_of("n") == 3


def test_set_appends_at_end_of_file_adding_a_missing_newline() -> None:
    s = SettingsFile.from_text('a="1"').set("n", "v")
    assert s.render() == 'a="1"\nn="v"\n'
    s = SettingsFile.from_text('## A\na="1"').set("n", "v", section="A")
    assert s.render() == '## A\na="1"\nn="v"\n'


def test_set_many_keeps_order_and_is_one_new_file() -> None:
    old = SettingsFile.from_text(fixture_text("proxy0"), "settings/proxy0")
    new = old.set_many({"os_name": "bionic", "os_version": "18.04.6", "extra": "x"})
    assert new.get("os_name") == "bionic" and new.get("extra") == "x"
    assert new.keys() == [*old.keys(), "extra"]
    assert old.get("os_name") == "trusty"  # the old file is unchanged
    changed = [
        (a, b)
        for a, b in zip(old.render().splitlines(), new.render().splitlines(), strict=False)
        if a != b
    ]
    assert changed == [
        ('os_name="trusty"', 'os_name="bionic"'),
        ('os_version="14.04.3"', 'os_version="18.04.6"'),
    ]


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("1a", "x", "not a shell identifier"),
        ("a-b", "x", "not a shell identifier"),
        ("", "x", "not a shell identifier"),
        ("RANDOM", "x", "managed by bash"),
        ("a", "x\x00y", "NUL byte"),
        ("a", "x\ud800", "lone surrogate"),
    ],
)
def test_set_rejects_unrepresentable(key: str, value: str, why: str) -> None:
    s = SettingsFile.from_text('a="1"\n', "settings/proxy0")
    with pytest.raises(SettingsError, match=why) as info:
        s.set(key, value)
    assert info.value.problems[0].file == "settings/proxy0"


def test_set_into_absent_section_is_an_error() -> None:
    with pytest.raises(SettingsError, match="no section '## Nope'"):
        SettingsFile.from_text('a="1"\n').set("b", "2", section="Nope")


def test_drop_section_removes_header_and_its_lines_r12() -> None:
    old = SettingsFile.from_text(fixture_text("proxy0"), "settings/proxy0")
    new = old.drop_section("Eip Network")
    assert "Eip Network" not in new.sections()
    assert not [k for k in new.as_dict() if k.startswith("eip_")]
    assert new.render().count("\n") == old.render().count("\n") - 7
    assert "## VM Network\nvm_network_routing_rule=" in new.render()
    assert "\n\n## Physical Host\n" in new.render()
    assert new.line_of("physical_host") == old.line_of("physical_host") - 7  # type: ignore[operator]


def test_drop_last_section_and_absent_section() -> None:
    s = SettingsFile.from_text('## A\na="1"\n## B\nb="2"')
    assert s.drop_section("B").render() == '## A\na="1"\n'
    with pytest.raises(SettingsError, match="no section '## C'"):
        s.drop_section("C")


def test_an_edit_that_would_not_read_back_is_a_bug() -> None:
    s = SettingsFile.from_text('a="1"\n')
    with pytest.raises(BugError):
        s._reparsed('a="2"\n', {"a": "1"})


# -- quote_value / parse_value -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("", '""'),
        ("a b", '"a b"'),
        ('"', '"\\""'),
        ("\\", '"\\\\"'),
        ("$x", '"\\$x"'),
        ("`x`", '"\\`x\\`"'),
        ("!x", '"!x"'),
        ("a\nb", '"a\nb"'),
    ],
)
def test_quote_value(value: str, quoted: str) -> None:
    assert quote_value(value) == quoted


def test_quote_value_rejects_nul() -> None:
    with pytest.raises(SettingsError, match="NUL"):
        quote_value("a\x00")


def test_parse_value_rejects_more_than_one_word() -> None:
    with pytest.raises(SettingsError, match="only one shell word"):
        parse_value('"a" b')
    with pytest.raises(SettingsError, match="command substitution"):
        parse_value("$(x)")


NO_NUL = st.text(
    st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=40
)  # what a file can hold: any text but NUL and lone surrogates


@given(NO_NUL)
def test_parse_value_reads_back_quote_value(value: str) -> None:
    assert parse_value(quote_value(value)) == value


# -- generated files: round trip and the values we expect --------------------------------------

KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
BLANKS = st.text(st.sampled_from(" \t"), max_size=3)
LINE_TEXT = st.text(
    st.characters(exclude_characters="\x00\n", exclude_categories=["Cs"]), max_size=20
)
BARE_TEXT = st.text(st.sampled_from("abcXYZ019_./:,@%+=-!^#é北"), min_size=1, max_size=8).filter(
    lambda s: not s.startswith("#")
)  # '#' at a word's start only matters after a space
DQ_SPECIAL = '\\"$`'


@st.composite
def dq_segment(draw: st.DrawFn) -> tuple[str, str]:
    """(raw double-quoted text, the value bash reads) from pieces of every kind."""
    pieces = draw(
        st.lists(
            st.one_of(
                st.text(
                    st.characters(
                        exclude_characters="\x00" + DQ_SPECIAL, exclude_categories=["Cs"]
                    ),
                    max_size=8,
                ).map(lambda t: (t, t)),
                st.sampled_from(DQ_SPECIAL).map(lambda c: ("\\" + c, c)),
                st.just(("\\\n", "")),
                st.sampled_from("aqn 'x").map(lambda c: ("\\" + c, "\\" + c)),
                st.sampled_from(["$ ", "$/", "$:", "$%"]).map(lambda t: (t, t)),
            ),
            max_size=5,
        )
    )
    tail = draw(st.sampled_from(["", "$"]))
    return '"' + "".join(r for r, _ in pieces) + tail + '"', "".join(v for _, v in pieces) + tail


SQ_SEGMENT = st.text(
    st.characters(exclude_characters="\x00'", exclude_categories=["Cs"]), max_size=10
).map(lambda t: ("'" + t + "'", t))
BARE_SEGMENT = st.one_of(
    BARE_TEXT.map(lambda t: (t, t)),
    st.characters(exclude_characters="\x00\n", exclude_categories=["Cs"]).map(
        lambda c: ("\\" + c, c)
    ),
    st.just(("\\\n", "")),
)


@st.composite
def assignment(draw: st.DrawFn) -> tuple[str, str, str]:
    """(line text without its newline, key, value bash reads)."""
    key = draw(KEYS)
    segs = draw(st.lists(st.one_of(dq_segment(), SQ_SEGMENT, BARE_SEGMENT), max_size=3))
    raw = "".join(r for r, _ in segs)
    if raw.startswith("#"):
        raw = "\\" + raw  # escaped: same value, no ambiguity to reason about
    lead = draw(BLANKS) + draw(st.sampled_from(["", "export ", "export\t"]))
    trail = draw(st.sampled_from(["", " ", "\t", " # note", "  #x y"]))
    return lead + key + "=" + raw + trail, key, "".join(v for _, v in segs)


@dataclass(frozen=True)
class GenFile:
    text: str
    values: dict[str, str]
    order: list[str]
    sections: list[str]


@st.composite
def valid_files(draw: st.DrawFn) -> GenFile:
    """A valid settings file with the values bash reads and the sections it holds."""
    out: list[str] = []
    values: dict[str, str] = {}
    order: list[str] = []
    sections: list[str] = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["assign", "assign", "assign", "blank", "comment", "section"]))
        if kind == "assign":
            line, key, value = draw(assignment())
            values[key] = value
            if key not in order:
                order.append(key)
        elif kind == "blank":
            line = draw(BLANKS)
        elif kind == "comment":
            line = draw(BLANKS) + "#" + draw(LINE_TEXT.filter(lambda t: not t.startswith("#")))
        else:
            title = draw(LINE_TEXT.filter(lambda t: t.strip() != "" and "\r" not in t))
            line = "## " + title
            sections.append(title.strip())
        out.append(line)
    text = "\n".join(out)
    if draw(st.booleans()) and out:
        text += "\n"
    return GenFile(text, values, order, sections)


@settings(max_examples=300)
@given(valid_files())
def test_generated_files_round_trip_and_read_as_expected(f: GenFile) -> None:
    s = SettingsFile.from_text(f.text)
    assert s.render() == f.text
    assert s.as_dict() == f.values
    assert s.keys() == f.order
    assert s.sections() == f.sections


@given(valid_files(), KEYS, NO_NUL)
def test_set_then_get_and_the_rest_unchanged(f: GenFile, key: str, value: str) -> None:
    s = SettingsFile.from_text(f.text).set(key, value)
    assert s.get(key) == value
    assert {k: v for k, v in s.as_dict().items() if k != key} == {
        k: v for k, v in f.values.items() if k != key
    }


def test_append_after_a_final_continuation_keeps_both_values() -> None:
    """Found by hypothesis: appending after ``a=\\<newline>`` at the end made ``b=""`` a's value."""
    s = SettingsFile.from_text("a=\\\n").set("b", "")
    assert (s.get("a"), s.get("b")) == ("", "")
    assert s.render() == 'a=\\\n\nb=""\n'
