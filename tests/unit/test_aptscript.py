"""zone/aptscript.py: which apt options firstbox's _update_node.sh gives an OS release (R23)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nodeswap.zone.aptscript import fix_text as fix
from nodeswap.zone.aptscript import parse, release_of

# Shaped like the public _update_node.sh: one branch per known release, no else, the options
# used on the install line (written here for the test, with a nested if and comments).
PUBLIC_LIKE = """\
#!/bin/bash
node=$1
. /pitrix/conf/settings/$node >/dev/null 2>&1
if [ ${#packages[@]} -ge 2 ]; then
    echo many
fi
if [[ ${os_version} == "12.04"* ]]; then
    apt_options="--yes --force-yes --allow-unauthenticated --reinstall"
elif [[ ${os_version} == "14.04"* ]]; then
    apt_options="--yes --force-yes --allow-unauthenticated --reinstall"
elif [[ ${os_version} == "16.04"* ]]; then
    # --force-yes is deprecated after 16.04
    if [ -n "$quiet" ]; then
        echo quiet
    fi
    apt_options="--yes --allow-unauthenticated --reinstall"
fi
ssh $node "apt-get clean; apt-get update" >>log 2>&1
ssh $node "apt-get ${apt_options} install ${packages[@]}" >>log 2>&1
"""


def test_the_public_shape_knows_three_releases() -> None:
    s = parse(PUBLIC_LIKE, "/pitrix/upgrade/_update_node.sh")
    assert s.releases == ("12.04*", "14.04*", "16.04*")
    assert s.fallback is None and s.install_uses_options and not s.install_has_yes
    assert s.install_lineno == 19
    assert s.options_for("16.04.5") == "--yes --allow-unauthenticated --reinstall"
    assert s.options_for("14.04.1") == "--yes --force-yes --allow-unauthenticated --reinstall"
    assert s.gives_yes("16.04.5") is True
    # 18.04: apt_options stays empty: apt-get install without --yes (it aborts)
    assert s.options_for("18.04.6") == "" and s.gives_yes("18.04.6") is False
    assert s.branch_for("18.04.6") is None and s.last_branch_line == 11


def test_an_added_18_04_branch_is_found() -> None:
    text = PUBLIC_LIKE.replace("fi\nssh $node \"apt-get clean",
                               'elif [[ ${os_version} == "18.04"* ]]; then\n'
                               '    apt_options="--yes --allow-unauthenticated --reinstall"\n'
                               "fi\nssh $node \"apt-get clean")
    s = parse(text)
    assert s.releases == ("12.04*", "14.04*", "16.04*", "18.04*")
    assert s.gives_yes("18.04.6") is True


def test_the_fix_text_is_a_branch_the_parser_reads_back() -> None:
    s = parse(PUBLIC_LIKE)
    line = fix(s, "18.04.6")
    assert line == ('elif [[ ${os_version} == "18.04"* ]]; then '
                    'apt_options="--yes --allow-unauthenticated --reinstall"')
    patched = PUBLIC_LIKE.replace('    apt_options="--yes --allow-unauthenticated --reinstall"\n'
                                  "fi\n", '    apt_options="--yes --allow-unauthenticated '
                                  '--reinstall"\n' + line + "\nfi\n")
    assert parse(patched).gives_yes("18.04.6") is True


def test_an_else_branch_covers_every_other_release() -> None:
    text = PUBLIC_LIKE.replace('    apt_options="--yes --allow-unauthenticated --reinstall"\nfi',
                               '    apt_options="--yes --allow-unauthenticated --reinstall"\n'
                               "else\n    apt_options='-y --reinstall'\nfi")
    s = parse(text)
    assert s.fallback == "-y --reinstall" and s.gives_yes("18.04.6") is True
    assert s.releases == ("12.04*", "14.04*", "16.04*")


def test_exact_tests_do_not_match_point_releases() -> None:
    """[ "$os_version" = "16.04" ] is an exact test: settings say 16.04.5, so it never holds."""
    s = parse('if [ "$os_version" = "16.04" ]; then apt_options="-y"; fi\n'
              'ssh $n "apt-get $apt_options install $p"\n')
    assert s.releases == ("16.04",)
    assert s.gives_yes("16.04") is True and s.gives_yes("16.04.5") is False


def test_yes_on_the_install_line_covers_every_release() -> None:
    s = parse('ssh $n "apt-get --yes ${apt_options} install $p"\n' + PUBLIC_LIKE)
    assert s.install_has_yes and s.gives_yes("18.04.6") is True
    assert parse('ssh $n "apt-get -y install $p"\n').gives_yes("20.04.1") is True


def test_a_script_without_install_cannot_tell() -> None:
    s = parse("#!/bin/bash\necho hello\n")
    assert s.install_line is None and s.gives_yes("18.04.6") is None


@given(st.lists(st.sampled_from(["12.04", "14.04", "16.04", "18.04", "20.04"]), unique=True),
       st.sampled_from(["14.04.1", "16.04.5", "18.04.6", "20.04.2"]))
def test_a_release_gets_yes_exactly_when_its_branch_is_written(known: list[str],
                                                               target: str) -> None:
    lines = ["#!/bin/bash"]
    for i, release in enumerate(known):
        lines += [f'{"if" if i == 0 else "elif"} [[ ${{os_version}} == "{release}"* ]]; then',
                  '    apt_options="--yes --reinstall"']
    lines += ["fi"] if known else []
    lines += ['ssh $node "apt-get ${apt_options} install ${packages[@]}"']
    s = parse("\n".join(lines) + "\n")
    assert s.gives_yes(target) is (release_of(target) in known)
