"""Reading a settings folder, offline (sources.py) and live (zone/facts.py): only regular files,
never through a link, bytes that are UTF-8, names shown escaped (issue 14)."""

from __future__ import annotations

import base64
import io
import os
import tarfile
from pathlib import Path

import pytest
from zonekit import zone_texts

from nodeswap.errors import InputError, SettingsError
from nodeswap.live.sources import read_settings_dir, read_zone
from nodeswap.zone.facts import parse_settings_tar
from nodeswap.zone.snapshot import bare_zone


# ---- settings files that are not plain files --------------------------------------------------
@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "settings"
    d.mkdir()
    for name, text in zone_texts().items():
        (d / name).write_text(text)
    return d


def test_a_symlinked_settings_file_is_refused_without_its_content(folder: Path,
                                                                   tmp_path: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$SECRETHASH:19000:0:99999:7:::\n")
    (folder / "proxy9").symlink_to(secret)
    with pytest.raises(SettingsError) as exc:
        read_settings_dir(folder)
    (p,) = exc.value.problems
    assert p.file == str(folder / "proxy9") and "symbolic link" in p.message
    assert "SECRETHASH" not in str(exc.value) and "root:" not in str(exc.value)


def test_a_symlink_to_a_good_settings_file_is_refused_too(folder: Path) -> None:
    (folder / "proxy0").rename(folder / "proxy0.real")
    (folder / "proxy0").symlink_to(folder / "proxy0.real")
    with pytest.raises(SettingsError, match="symbolic link"):
        read_settings_dir(folder)


def test_a_fifo_is_refused_without_blocking(folder: Path) -> None:
    os.mkfifo(folder / "proxy9")
    with pytest.raises(SettingsError, match="not a regular file"):
        read_settings_dir(folder)


def test_subfolders_hidden_files_and_backups_are_still_skipped(folder: Path) -> None:
    (folder / "old").mkdir()
    (folder / ".swp").write_text("junk")
    (folder / "proxy0~").write_text("junk")
    assert sorted(read_settings_dir(folder)) == sorted(zone_texts())


def test_bytes_that_are_not_utf8_name_the_line(folder: Path) -> None:
    (folder / "proxy0").write_bytes(b'role="proxy"\nzone_id="\xff"\n')
    with pytest.raises(SettingsError) as exc:
        read_settings_dir(folder)
    (p,) = exc.value.problems
    assert p.line == 2 and "UTF-8" in p.message


def test_a_bad_file_name_in_a_folder_is_shown_escaped(folder: Path) -> None:
    (folder / "px\nreboot").write_text(zone_texts()["proxy0"].replace(
        'hostname="proxy0"', 'hostname="px"'))
    (folder / "proxy0").unlink()
    with pytest.raises(InputError) as exc:
        read_zone(folder, "4.3.1")
    assert "px\\nreboot" in str(exc.value)
    assert all("\n" not in (p.file or "") for p in exc.value.problems)


# ---- live discovery: the settings folder arrives as a tar (zone/facts.py) ---------------------
def _tar(members: list[tarfile.TarInfo], data: dict[str, bytes]) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info in members:
            body = data.get(info.name)
            if body is not None:
                info.size = len(body)
            tar.addfile(info, io.BytesIO(body) if body is not None else None)
    return base64.b64encode(buf.getvalue()).decode()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def test_a_symlink_in_the_remote_folder_is_refused_without_content() -> None:
    """`tar -C /pitrix/conf/settings -cf - .` records a link as a link: nothing it points at
    was read; it is refused rather than silently skipped."""
    b64 = _tar([_member("."), _member("./proxy0"), _member("./proxy9", tarfile.SYMTYPE,
                                                           "/etc/shadow")],
               {"./proxy0": b'role="proxy"\n'})
    with pytest.raises(SettingsError) as exc:
        parse_settings_tar(b64)
    (p,) = exc.value.problems
    assert p.file == "/pitrix/conf/settings/proxy9" and "symbolic link" in p.message
    assert "shadow" not in str(exc.value)


@pytest.mark.parametrize(("kind", "why"), [(tarfile.LNKTYPE, "hard link"),
                                           (tarfile.FIFOTYPE, "not a regular file"),
                                           (tarfile.CHRTYPE, "not a regular file")])
def test_links_and_special_files_in_the_remote_folder_are_refused(kind: bytes, why: str) -> None:
    b64 = _tar([_member("./proxy0"), _member("./proxy9", kind, "./proxy0")],
               {"./proxy0": b'role="proxy"\n'})
    with pytest.raises(SettingsError, match=why):
        parse_settings_tar(b64)


def test_remote_bytes_must_be_utf8_and_bad_names_are_escaped() -> None:
    b64 = _tar([_member("./px\x1b[2J")], {"./px\x1b[2J": b'a="\xff"\n'})
    with pytest.raises(SettingsError) as exc:
        parse_settings_tar(b64)
    (p,) = exc.value.problems
    assert p.file == "/pitrix/conf/settings/px\\x1b[2J" and p.line == 1 and "UTF-8" in p.message


def test_remote_settings_get_the_same_validation_as_offline() -> None:
    texts = zone_texts()
    texts["proxy0"] = texts["proxy0"].replace('physical_host_network_interface="br0"',
                                              'physical_host_network_interface="br0 -o X=y"')
    b64 = _tar([_member(f"./{n}") for n in texts], {f"./{n}": t.encode() for n, t in
                                                   texts.items()})
    with pytest.raises(InputError) as exc:
        bare_zone({"settings": parse_settings_tar(b64), "version": "4.3.1"})
    (p,) = exc.value.problems
    assert (p.file, p.key) == ("/pitrix/conf/settings/proxy0", "physical_host_network_interface")
