"""hostsfile.py: `exec --hosts-file` lines, `[user@]host[:port]`; every bad file an InputError
naming file and line, never another exception."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodeswap.errors import InputError
from nodeswap.zone.hostsfile import HostEntry, parse_entry, parse_hosts

GOOD = [
    ("10.16.100.21", HostEntry("10.16.100.21")),
    ("root@10.16.100.21", HostEntry("10.16.100.21", "root")),
    ("root@10.16.100.21:2222", HostEntry("10.16.100.21", "root", 2222)),
    ("proxy0", HostEntry("proxy0")),
    ("ops-1.example.com.", HostEntry("ops-1.example.com.")),
    ("deploy_user@proxy0:22", HostEntry("proxy0", "deploy_user", 22)),
    ("::1", HostEntry("::1")),
    ("[fe80::1]:2222", HostEntry("fe80::1", None, 2222)),
    ("admin@[::1]", HostEntry("::1", "admin")),
    ("host:65535", HostEntry("host", None, 65535)),
]

BAD = [
    ("bad host", "space inside"),
    ("root@", "no host"),
    ("@10.0.0.1", "empty user"),
    ("a@b@c", "not a valid host name"),
    ("ro ot@h", "space inside"),
    ("r;m@h", "not a valid user name"),
    ("-oProxyCommand=x@h", "not a valid user name"),
    ("h:0", "bad port '0'"),
    ("h:65536", "bad port '65536'"),
    ("h:", "bad port ''"),
    ("h:22x", "bad port '22x'"),
    ("h:\uff12\uff12", "bad port"),  # fullwidth digits are not a port
    ("ho$t;reboot", "not a valid host name"),
    ("-oProxyCommand=touch", "not a valid host name"),
    ("h_1", "not a valid host name"),
    ("-h", "not a valid host name"),
    ("a..b", "not a valid host name"),
    ("é.example", "not a valid host name"),
    ("x" * 64, "not a valid host name"),
    ("999.1.1.1", "not a valid IPv4 address"),
    ("10.0.0", "not a valid IPv4 address"),
    ("010.0.0.1", "not a valid IPv4 address"),
    ("1:2:3", "not a valid IPv6 address"),
    ("[10.0.0.1]:22", "not an IPv6 address"),
    ("[::1", "expected [IPV6]"),
    ("fe80::1%eth0", "scoped"),
    ("h\x1b[2J", "not a valid host name"),
]


@pytest.mark.parametrize(("text", "entry"), GOOD)
def test_good_entries(text: str, entry: HostEntry) -> None:
    assert parse_entry(text) == entry
    assert parse_entry(entry.text) == entry  # the row key reads back as the same entry


@pytest.mark.parametrize(("text", "says"), BAD)
def test_bad_entries_name_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=None) as caught:
        parse_entry(text)
    assert says in str(caught.value)


def test_a_file_with_comments_blank_lines_crlf_and_duplicates() -> None:
    data = b"# zone A\r\n\r\n10.0.0.1  # proxy0\r\nroot@10.0.0.2:2222\n  10.0.0.1\n#10.0.0.9\n"
    assert parse_hosts(data, "h") == [HostEntry("10.0.0.1", line=3),
                                      HostEntry("10.0.0.2", "root", 2222, line=4)]


def test_every_bad_line_is_reported_with_file_and_line() -> None:
    with pytest.raises(InputError) as caught:
        parse_hosts(b"10.0.0.1\nbad host\n# fine\nh:99999\n", "ops/hosts")
    assert [(p.file, p.line) for p in caught.value.problems] == [("ops/hosts", 2),
                                                                 ("ops/hosts", 4)]
    assert str(caught.value).splitlines()[0].startswith("ops/hosts:2: 'bad host': space")


@pytest.mark.parametrize(("data", "line", "says"), [
    (b"", None, "no hosts"),
    (b"\n# nothing\n   \n", None, "no hosts"),
    (b"10.0.0.1\n10.0.0.2\x00\n", 2, "NUL byte"),
    (b"10.0.0.1\n\n\xc3\x28\n", 3, "not UTF-8"),
])  # fmt: skip
def test_empty_and_binary_files(data: bytes, line: int | None, says: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_hosts(data, "hosts")
    (problem,) = caught.value.problems
    assert (problem.file, problem.line) == ("hosts", line) and says in problem.message


def test_a_long_bad_line_is_shortened_in_the_message() -> None:
    with pytest.raises(InputError) as caught:
        parse_hosts(b"x" * 10_000 + b" y\n", "hosts")
    assert len(str(caught.value)) < 200


@given(st.binary(max_size=400))
def test_any_bytes_parse_or_input_error(data: bytes) -> None:
    try:
        entries = parse_hosts(data, "hosts")
    except InputError as exc:
        assert exc.problems and all(p.file == "hosts" for p in exc.problems)
    else:
        assert entries and all(parse_entry(e.text) == HostEntry(e.host, e.user, e.port)
                               for e in entries)


_LINE_CHARS = st.characters(codec="utf-8", exclude_characters="\n")


@given(st.lists(st.text(_LINE_CHARS, max_size=40), max_size=8))
def test_any_text_lines_parse_or_input_error_on_a_named_line(lines: list[str]) -> None:
    try:
        parse_hosts("\n".join(lines).encode(), "hosts")
    except InputError as exc:
        assert all(p.line is None or 1 <= p.line <= max(1, len(lines)) for p in exc.problems)


_LABELS = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_HOSTS = st.one_of(
    st.lists(_LABELS, min_size=1, max_size=4).map(".".join)
    .filter(lambda h: not all(c.isdigit() or c == "." for c in h)),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
)
_ENTRIES = st.builds(HostEntry, _HOSTS, st.none() | st.from_regex(r"[a-z_][a-z0-9_-]{0,8}",
                                                                  fullmatch=True),
                     st.none() | st.integers(1, 65535))  # fmt: skip


@given(st.lists(_ENTRIES, min_size=1, max_size=6, unique_by=lambda e: e.text))
def test_written_entries_read_back(entries: list[HostEntry]) -> None:
    data = "".join(f"{e.text}  # entry {i}\n\n" for i, e in enumerate(entries)).encode()
    back = parse_hosts(data, "hosts")
    assert [HostEntry(e.host, e.user, e.port) for e in back] == entries
    assert [e.line for e in back] == [2 * i + 1 for i in range(len(entries))]
