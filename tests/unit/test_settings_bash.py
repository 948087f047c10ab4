"""settings.py against real bash: bash reads exactly the values we read and the values we write.

Each check sources a whole file once in a clean ``/bin/bash`` (no rc files, empty environment)
and prints every key's value NUL-separated, so one bash call covers many keys.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_settings import (
    FIXTURE_NAMES,
    KEYS,
    NO_NUL,
    READ_CASES,
    GenFile,
    fixture_text,
    valid_files,
)

from nodeswap.zone.settings import SettingsFile
from nodeswap.zone.settings_syntax import quote_value

BASH = "/bin/bash"
LOCALES = ["C", "C.UTF-8"]
# ${!k+set} tells an unset key from an empty one; the loop variable cannot clash with a key.
PRINT_KEYS = (
    'source "$1" || exit 99; shift; '
    'for _nodeswap_k_ in "$@"; do printf "%s\\0%s\\0" "${!_nodeswap_k_+set}" "${!_nodeswap_k_}"; '
    "done"
)


def bash_reads(path: Path, text: str, keys: list[str], locale: str = "C") -> dict[str, str | None]:
    """What bash holds for each key after ``source``-ing ``text`` (None: unset)."""
    path.write_bytes(text.encode("utf-8"))
    done = subprocess.run(
        [BASH, "--norc", "--noprofile", "-c", PRINT_KEYS, "bash", str(path), *keys],
        env={"PATH": "/usr/bin:/bin", "LC_ALL": locale},
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, b""), f"bash failed on {text!r}"
    fields = done.stdout.decode("utf-8").split("\0")[:-1]
    assert len(fields) == 2 * len(keys)
    return {k: (fields[2 * i + 1] if fields[2 * i] == "set" else None) for i, k in enumerate(keys)}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("settings-bash") / "settings"


# -- bash reads what we read -------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_bash_reads_fixture_values(scratch: Path, name: str, locale: str) -> None:
    s = SettingsFile.from_text(fixture_text(name), name)
    assert bash_reads(scratch, s.render(), s.keys(), locale) == s.as_dict()


@pytest.mark.parametrize("locale", LOCALES)
def test_bash_reads_every_tricky_line_as_we_do(scratch: Path, locale: str) -> None:
    # One file: each case's key renamed k -> k<i>, a blank line between cases.
    lines = [line.replace("k=", f"k{i}=") for i, (line, _) in enumerate(READ_CASES)]
    s = SettingsFile.from_text("\n\n".join(lines) + "\n")
    expected = {f"k{i}": value for i, (_, value) in enumerate(READ_CASES)}
    assert s.as_dict() == expected
    assert bash_reads(scratch, s.render(), s.keys(), locale) == expected


def test_history_expansion_is_off_when_sourced(scratch: Path) -> None:
    values = {"a": "!!", "b": "x!$", "c": "!-1", "d": "^a^b", "e": "!"}
    s = SettingsFile.from_text("").set_many(values)
    assert '"!!"' in s.render()  # written as is: no escaping needed for '!'
    assert bash_reads(scratch, s.render(), list(values)) == values


def test_quote_value_survives_bash_internal_markers(scratch: Path) -> None:
    """\\x01 and \\x7f are bash's internal quoting markers; they must still read back."""
    values = {f"v{i}": v for i, v in enumerate(["\x01", "\x7f", "a\x01\x7fb", "\x01$x", "\\\x01"])}
    s = SettingsFile.from_text("").set_many(values)
    assert bash_reads(scratch, s.render(), list(values)) == values


# -- property tests: generated files and generated values ---------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(f=valid_files(), locale=st.sampled_from(LOCALES))
def test_bash_reads_generated_files_as_we_do(scratch: Path, f: GenFile, locale: str) -> None:
    s = SettingsFile.from_text(f.text)
    assert s.as_dict() == f.values
    assert bash_reads(scratch, f.text, s.keys(), locale) == f.values


BASE = "## A\nsq='x'\nbare=y\ndq=\"z\"\nmixed=\"a\"'b'\\ c\n\n## B\nlast=1\n"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.dictionaries(
        st.one_of(st.sampled_from(["sq", "bare", "dq", "mixed", "last"]), KEYS),
        NO_NUL,
        max_size=8,
    ),
    locale=st.sampled_from(LOCALES),
)
def test_bash_reads_back_every_value_written(
    scratch: Path, values: dict[str, str], locale: str
) -> None:
    s = SettingsFile.from_text(BASE).set_many(values)
    assert s.get("sq") is not None
    assert bash_reads(scratch, s.render(), s.keys(), locale) == {**s.as_dict(), **values}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(NO_NUL, min_size=1, max_size=10))
def test_bash_reads_quote_value(scratch: Path, values: list[str]) -> None:
    text = "".join(f"v{i}={quote_value(v)}\n" for i, v in enumerate(values))
    expected = {f"v{i}": v for i, v in enumerate(values)}
    assert bash_reads(scratch, text, list(expected)) == expected
