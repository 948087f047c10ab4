"""R27: haproxy.cfg parser and semantic comparison (pure; fixtures in tests/fixtures/checks)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodeswap.checks.findings import AddressMap, Difference
from nodeswap.checks.haproxy import (
    SECTION_KEYWORDS,
    compare,
    compare_text,
    parse,
    quote_word,
    render,
    tokenize,
)
from nodeswap.errors import InputError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "checks" / "haproxy"
AMAP = AddressMap.from_items(["10.16.0.2=10.16.0.12"])


def fixture(name: str) -> str:
    return (FIX / name).read_text()


def classes(diffs: list[Difference]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in diffs:
        out[d.klass] = out.get(d.klass, 0) + 1
    return out


# ------------------------------------------------------------------ tokenizer


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("  bind 0.0.0.0:7777  ", ("bind", "0.0.0.0:7777")),
        ("\tserver a\t1.2.3.4:80   check", ("server", "a", "1.2.3.4:80", "check")),
        ("timeout client 30m # thirty minutes", ("timeout", "client", "30m")),
        ("# only a comment", ()),
        ("", ()),
        ('log-format "%ci:%cp [%t] #x"', ("log-format", "%ci:%cp [%t] #x")),
        ("acl a hdr(host) -i 'x y'", ("acl", "a", "hdr(host)", "-i", "x y")),
        (r"errorloc 503 a\ b", ("errorloc", "503", "a b")),
        (r'x "a\"b"', ("x", 'a"b')),
        (r"x 'a\b'", ("x", r"a\b")),
        ('x a"b c"d', ("x", "ab cd")),
        ('x ""', ("x", "")),
        (r"x \#notcomment", ("x", "#notcomment")),
        (r"x a\x41", ("x", "aA")),
        ("x a#b", ("x", "a")),
        (r"x \q", ("x", r"\q")),
    ],
)
def test_tokenize_like_haproxy(line: str, words: tuple[str, ...]) -> None:
    assert tokenize(line) == words


def test_tokenize_unmatched_quote() -> None:
    with pytest.raises(ValueError, match="unmatched"):
        tokenize('log-format "abc')


# ------------------------------------------------------------------ parse


def test_parse_sections_directives_and_lines() -> None:
    cfg = parse(fixture("new.cfg"), "new.cfg")
    labels = [s.label for s in cfg.sections]
    assert labels == ["global", "defaults", "listen stats", "listen api-front",
                      "listen ws-front", "listen io-front", "listen wan-gate-front"]
    api = cfg.section("listen", "api-front")
    assert api is not None and api.line == 26
    assert api.directives[0].words == ("bind", "0.0.0.0:7777")
    assert api.directives[2].line == 29 and api.directives[2].keyword == "server"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("bind :80\nlisten x\n", 1, "outside any section"),
        ("global\n  daemon\nfoo: bar\n", 3, "not a haproxy keyword"),
        ('global\n  log-format "abc\n', 2, "unmatched"),
        ("# just comments\n\n   \n", None, "no haproxy section"),
        ('{"json": true}\n', 1, "not a haproxy keyword"),
        ("[global]\nkey=value\n", 1, "not a haproxy keyword"),
    ],
)
def test_parse_refuses_non_haproxy_text(text: str, line: int | None, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse(text, "bad.cfg")
    problem = info.value.problems[0]
    assert problem.file == "bad.cfg" and problem.line == line
    assert message in problem.message
    assert "bad.cfg" in str(info.value)


def test_parse_reports_every_problem_of_both_files() -> None:
    with pytest.raises(InputError) as info:
        compare_text("a b\n", "global\nx: 1\ny: 2\n", old_file="o.cfg", new_file="n.cfg")
    assert [(p.file, p.line) for p in info.value.problems] == [
        ("o.cfg", 1), ("n.cfg", 2), ("n.cfg", 3)]


# ------------------------------------------------------------------ fixture pairs


def test_same_file_no_difference() -> None:
    assert compare_text(fixture("new.cfg"), fixture("new.cfg")) == []


def test_older_installer_layout_is_all_ignored() -> None:
    """Binds on section lines, frontend+backend vs listen, bind after servers, website 8081,
    tabs and comments, servers in another order: nothing to act on (R27)."""
    diffs = compare_text(fixture("old_layout.cfg"), fixture("new.cfg"), address_map=AMAP)
    assert {d.klass for d in diffs} == {"ignored"}
    reasons = " | ".join(d.reason for d in diffs)
    assert "bind moved" in reasons and "section layout changed" in reasons
    assert "website" in reasons
    website = [d for d in diffs if d.section == "listen website"]
    assert len(website) == 1 and website[0].old_line == 49 and website[0].new is None
    assert all(d.rule == "R27" for d in diffs)


def test_older_installer_without_address_map_flags_the_stats_bind() -> None:
    diffs = compare_text(fixture("old_layout.cfg"), fixture("new.cfg"))
    unexpected = [d for d in diffs if d.klass == "unexpected"]
    assert [(d.section, d.old, d.new) for d in unexpected] == [
        ("listen stats", "bind 10.16.0.2:9000", "bind 10.16.0.12:9000")]


def test_hand_edits_on_old_node_are_unexpected() -> None:
    diffs = compare_text(fixture("old_handedit.cfg"), fixture("new.cfg"), address_map=AMAP)
    unexpected = {(d.section, d.old, d.new) for d in diffs if d.klass == "unexpected"}
    assert unexpected == {
        ("defaults", "timeout\tclient\t60m", "timeout client 30m"),
        ("listen api-front",
         "server apiserver_2 10.16.0.23:7777 check inter 2000 rise 2 fall 3", None),
        ("listen warehouse-front", "listen warehouse-front\n    bind 0.0.0.0:8856\n"
         "    balance roundrobin\n    server warehouse_0 10.16.0.21:8856 check", None),
    }


def test_sub_region_servers_need_attention_with_the_edit() -> None:
    diffs = compare_text(fixture("old_sub.cfg"), fixture("new.cfg"), sub_region=True,
                         address_map=AMAP)
    assert classes(diffs) == {"attention": 6, "ignored": 1}
    api0 = next(d for d in diffs if d.old and "apiserver_0" in d.old)
    assert api0.section == "listen api-front" and api0.rule == "R27"
    assert api0.old_line == 29 and api0.new_line == 29
    assert "replace `server apiserver_0 10.16.0.21:7777" in api0.reason
    assert "with `server apiserver_0 10.10.0.21:443" in api0.reason


def test_sub_region_not_declared_makes_the_same_edits_unexpected() -> None:
    diffs = compare_text(fixture("old_sub.cfg"), fixture("new.cfg"), address_map=AMAP)
    assert classes(diffs) == {"unexpected": 6, "ignored": 1}


def test_sub_region_attention_only_for_api_ws_io_servers() -> None:
    old = "listen wan-gate-front\n bind :19033\n server a 10.0.0.1:1 check\n"
    new = "listen wan-gate-front\n bind :19033\n server a 10.0.0.2:1 check\n"
    diffs = compare_text(old, new, sub_region=True)
    assert [d.klass for d in diffs] == ["unexpected"]
    old_api = "listen api-front\n bind :7777\n balance source\n server a 10.0.0.1:1\n"
    new_api = "listen api-front\n bind :7777\n balance roundrobin\n server a 10.0.0.1:1\n"
    diffs = compare_text(old_api, new_api, sub_region=True)
    assert [(d.klass, d.old) for d in diffs] == [("unexpected", "balance source")]


def test_sub_region_backend_named_api_server_in_a_split_layout() -> None:
    old = ("frontend api\n bind :7777\n default_backend api-server\n"
           "backend api-server\n server s0 10.10.0.21:443 check\n")
    new = ("frontend api\n bind :7777\n default_backend api-server\n"
           "backend api-server\n server s0 10.16.0.21:7777 check\n")
    diffs = compare_text(old, new, sub_region=True)
    assert [(d.klass, d.section) for d in diffs] == [
        ("attention", "frontend api + backend api-server")]


def test_address_map_ignores_temporary_address_only() -> None:
    old = "global\n log 10.16.0.2 local0\nlisten x\n bind 10.16.0.2:80\n"
    new = "global\n log 10.16.0.12 local0\nlisten x\n bind 10.16.0.12:80\n"
    diffs = compare_text(old, new, address_map=AMAP)
    assert classes(diffs) == {"ignored": 2}
    assert all("temporary address" in d.reason for d in diffs)
    # 10.16.0.120 is not the temporary address: a prefix must not match
    other = compare_text(old, new.replace("10.16.0.12", "10.16.0.120"), address_map=AMAP)
    assert classes(other) == {"unexpected": 2}


def test_whitespace_comment_and_quoting_noise_is_no_difference() -> None:
    old = "global\n  daemon\nlisten api-front\n  bind 0.0.0.0:7777\n  balance source\n"
    new = ("# header\n\nglobal   # the global section\n\tdaemon\n\n"
           "listen 'api-front'\n\t\tbind\t\"0.0.0.0:7777\"   # port\n  balance  source  \n")
    assert compare_text(old, new) == []


def test_reordered_servers_are_no_difference() -> None:
    old = "backend b\n server s1 10.0.0.1:80 check\n server s2 10.0.0.2:80 check\n"
    new = "backend b\n server s2 10.0.0.2:80 check\n server s1 10.0.0.1:80 check\n"
    assert compare_text(old, new) == []


def test_reordered_acl_rules_are_a_difference() -> None:
    old = ("frontend f\n bind :80\n acl is_api path_beg /api\n acl is_ws path_beg /ws\n"
           " use_backend api if is_api\n use_backend ws if is_ws\n default_backend web\n")
    new = ("frontend f\n bind :80\n acl is_api path_beg /api\n acl is_ws path_beg /ws\n"
           " use_backend ws if is_ws\n use_backend api if is_api\n default_backend web\n")
    diffs = compare_text(old, new)
    assert len(diffs) == 1 and diffs[0].klass == "unexpected"
    assert "evaluated in order" in diffs[0].reason
    acl_new = new.replace(" acl is_api path_beg /api\n acl is_ws path_beg /ws\n",
                          " acl is_ws path_beg /ws\n acl is_api path_beg /api\n")
    diffs = compare_text(new, acl_new)
    assert [d.klass for d in diffs] == ["unexpected"] and "acl" in diffs[0].reason


def test_tcp_request_phases_are_separate_lists() -> None:
    old = ("frontend f\n bind :80\n tcp-request connection accept if TRUE\n"
           " tcp-request content accept if TRUE\n")
    new = ("frontend f\n bind :80\n tcp-request content accept if TRUE\n"
           " tcp-request connection accept if TRUE\n")
    assert compare_text(old, new) == []


def test_changed_server_and_option_pairs_and_removed_section() -> None:
    old = ("defaults\n option tcplog\n timeout connect 5s\nlisten a\n bind :1\n"
           " server s1 10.0.0.1:80 check\nlisten gone\n bind :2\n")
    new = ("defaults\n no option tcplog\n timeout connect 9s\nlisten a\n bind :1\n"
           " server s1 10.0.0.9:80 check\nlisten added\n bind :3\n")
    diffs = compare_text(old, new)
    pairs = {(d.section, d.old, d.new) for d in diffs}
    assert pairs == {
        ("defaults", "option tcplog", "no option tcplog"),
        ("defaults", "timeout connect 5s", "timeout connect 9s"),
        ("listen a", "server s1 10.0.0.1:80 check", "server s1 10.0.0.9:80 check"),
        ("listen gone", "listen gone\n    bind :2", None),
        ("listen added", None, "listen added\n    bind :3"),
    }
    assert {d.klass for d in diffs} == {"unexpected"}


def test_website_forward_is_ignored_by_port_too() -> None:
    old = "listen web\n bind 0.0.0.0:8081\n server w 10.0.0.1:8081\n"
    new = "listen web\n bind 0.0.0.0:8081\n server w 10.0.0.2:8081\n"
    diffs = compare_text(old, new)
    assert [d.klass for d in diffs] == ["ignored"] and "8081" in diffs[0].reason


def test_json_shape() -> None:
    diffs = compare_text(fixture("old_handedit.cfg"), fixture("new.cfg"), address_map=AMAP)
    data = diffs[0].to_json()
    assert list(data) == ["section", "old", "new", "old_line", "new_line", "class", "rule",
                          "reason"]
    assert Difference.from_json(data) == diffs[0]


# ------------------------------------------------------------------ properties

_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_.:/-", min_size=1, max_size=8)
_keywords = st.sampled_from(["maxconn", "option", "timeout", "log", "mode", "balance",
                             "stats", "retries", "http-request", "acl", "use_backend"])


@st.composite
def configs(draw: st.DrawFn) -> str:
    lines = ["global", "  daemon"]
    for i in range(draw(st.integers(1, 4))):
        lines.append(f"listen px{i}")
        lines.append(f"  bind 0.0.0.0:{7000 + i}")
        for _ in range(draw(st.integers(0, 4))):
            kw = draw(_keywords)
            args = draw(st.lists(_word, min_size=1, max_size=3))
            lines.append("  " + " ".join([kw, *args]))
        names = draw(st.lists(_word, min_size=0, max_size=4, unique=True))
        lines.extend(f"  server {n} 10.0.{i}.{k}:80 check" for k, n in enumerate(names))
    return "\n".join(lines) + "\n"


@st.composite
def reformatted(draw: st.DrawFn, text: str) -> str:
    """The same configuration as haproxy reads it: other whitespace, comments, quoting,
    blank lines, server lines of each section in another order."""
    out: list[str] = []
    servers: list[str] = []

    def flush() -> None:
        out.extend(draw(st.permutations(servers)))
        servers.clear()

    for line in text.splitlines():
        words = line.split()
        sep = draw(st.sampled_from([" ", "  ", "\t", " \t "]))
        quoted = [draw(st.sampled_from([w, f'"{w}"', f"'{w}'"])) for w in words]
        new = draw(st.sampled_from(["", "  ", "\t"])) + sep.join(quoted)
        new += draw(st.sampled_from(["", "   ", " # note", "\t#x"]))
        if words[0] == "server":
            servers.append(new)
            continue
        flush()
        if draw(st.booleans()):
            out.append(draw(st.sampled_from(["", "# comment", "   # indented comment", "\t"])))
        out.append(new)
    flush()
    return "\n".join(out) + "\n"


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_reformatted_copy_shows_no_difference(data: st.DataObject) -> None:
    text = data.draw(configs())
    other = data.draw(reformatted(text))
    assert compare_text(text, other) == []
    assert compare_text(other, text, sub_region=True) == []


@settings(max_examples=100, deadline=None)
@given(configs())
def test_render_parses_back_to_the_same_config(text: str) -> None:
    cfg = parse(text)
    again = parse(render(cfg))
    assert [(s.label, [d.words for d in s.directives]) for s in again.sections] == [
        (s.label, [d.words for d in s.directives]) for s in cfg.sections]
    assert compare(cfg, again) == []


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=60))
def test_tokenize_never_crashes_and_render_roundtrips(line: str) -> None:
    try:
        words = tokenize(line)
    except ValueError:
        return
    if words and words[0] not in SECTION_KEYWORDS:
        assert tokenize(" ".join(quote_word(w) for w in words)) == words


def test_several_global_sections_are_one_and_duplicate_names_are_kept_apart() -> None:
    old = "global\n daemon\nglobal\n maxconn 10\nbackend b\n server a 10.0.0.1:1\n"
    new = "global\n maxconn 10\n daemon\nbackend b\n server a 10.0.0.1:1\n"
    assert compare_text(old, new) == []
    dup = "backend b\n server a 10.0.0.1:1\nbackend b\n server a 10.0.0.2:1\n"
    one = "backend b\n server a 10.0.0.1:1\n"
    diffs = compare_text(dup, one)
    assert [(d.section, d.old_line) for d in diffs] == [("backend b", 3)]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("defaults\n timeout connect 5s\n", "defaults\n timeout connect 5000\n"),
        ("defaults\n timeout client 30m\n", "defaults\n timeout client 1800s\n"),
        ("listen a\n bind :80\n", "listen a\n bind 0.0.0.0:80\n"),
        ("listen a\n bind *:80,:81\n", "listen a\n bind 0.0.0.0:80,0.0.0.0:81\n"),
    ],
)
def test_same_meaning_written_differently_is_no_difference(old: str, new: str) -> None:
    assert compare_text(old, new) == []


def test_different_timeout_values_still_differ() -> None:
    diffs = compare_text("defaults\n timeout connect 5s\n", "defaults\n timeout connect 50s\n")
    assert [d.klass for d in diffs] == ["unexpected"]


def test_secrets_are_masked_in_what_is_shown_but_compared() -> None:
    old = ("userlist admins\n user admin password $6$salt$hash1\n"
           "listen stats\n bind :9000\n stats auth admin:s3cret\n")
    new = ("userlist admins\n user admin password $6$salt$hash2\n"
           "listen stats\n bind :9000\n stats auth admin:other\n")
    diffs = compare_text(old, new)
    assert [(d.old, d.new) for d in diffs] == [
        ("user admin password ***", "user admin password ***"),
        ("stats auth admin:***", "stats auth admin:***"),
    ]
    assert all(d.klass == "unexpected" for d in diffs)


def test_conditional_blocks_parse_and_keep_their_order() -> None:
    old = '.if defined(X)\nglobal\n daemon\n .if streq("$X",1)\n maxconn 5\n .endif\n.endif\n'
    cfg = parse(old)
    assert [s.label for s in cfg.sections] == ["(top level)", "global"]
    assert compare_text(old, old) == []


@settings(max_examples=100, deadline=None)
@given(st.lists(_word, min_size=2, max_size=6, unique=True), st.data())
def test_any_reordering_of_rules_is_a_difference(names: list[str], data: st.DataObject) -> None:
    order = data.draw(st.permutations(names).filter(lambda p: list(p) != names))
    head = "frontend f\n bind :80\n"
    old = head + "".join(f" http-request deny if {{ path_beg /{n} }}\n" for n in names)
    new = head + "".join(f" http-request deny if {{ path_beg /{n} }}\n" for n in order)
    diffs = compare_text(old, new)
    assert diffs and {d.klass for d in diffs} == {"unexpected"}
    assert all("evaluated in order" in d.reason for d in diffs)
