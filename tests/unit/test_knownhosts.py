"""known_hosts edits after a switch: the old VM's key for the address goes, the pinned one
comes (R31-R33, R34 on nodeswap's own file)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nodeswap.zone.knownhosts import with_key, without_host

TEXT = """\
# lab
10.0.0.21,proxy0 ssh-ed25519 AAAAold0
10.0.0.22 ssh-ed25519 AAAAold1
[10.0.0.21]:22 ssh-rsa AAAArsa0
|1|salt=|hash= ssh-ed25519 AAAAhashed
@revoked 10.0.0.21 ssh-ed25519 AAAAbad
"""


def test_without_host_drops_the_address_everywhere_but_keeps_the_rest() -> None:
    assert without_host(TEXT, "10.0.0.21") == """\
# lab
proxy0 ssh-ed25519 AAAAold0
10.0.0.22 ssh-ed25519 AAAAold1
|1|salt=|hash= ssh-ed25519 AAAAhashed
@revoked 10.0.0.21 ssh-ed25519 AAAAbad
"""


def test_with_key_makes_the_pinned_key_the_only_one_for_the_address() -> None:
    out = with_key(TEXT, "10.0.0.22", "ssh-ed25519 AAAAnew1 root@proxy1")
    assert "AAAAold1" not in out
    assert out.endswith("10.0.0.22 ssh-ed25519 AAAAnew1\n")
    assert "10.0.0.21,proxy0 ssh-ed25519 AAAAold0" in out


_host = st.from_regex(r"10\.0\.0\.[0-9]{1,2}", fullmatch=True)


@given(st.lists(st.tuples(st.lists(_host, min_size=1, max_size=3), st.text(
    alphabet="ABCabc123", min_size=1, max_size=8)), max_size=6), _host)
def test_the_host_never_remains_and_other_hosts_keep_their_keys(
        entries: list[tuple[list[str], str]], host: str) -> None:
    text = "".join(f"{','.join(hs)} ssh-ed25519 {k}\n" for hs, k in entries)
    out = without_host(text, host)
    for line in out.splitlines():
        assert host not in line.split(" ")[0].split(",")
    for hs, k in entries:
        for h in hs:
            if h != host:
                assert any(h in ln.split(" ")[0].split(",") and ln.endswith(k)
                           for ln in out.splitlines())
