"""The lab controller writes lab.json and known_hosts from many request threads at once (two
virsh stand-ins on two physical hosts in the same R37 wave): every write must succeed and leave
a whole file. CI's stop 18: `virsh undefine` failed with the controller's 500 when two threads
renamed the same ``lab.json.tmp``."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from nodeswap.lab.controller import Controller


def test_concurrent_lab_json_writes_all_succeed(tmp_path: Path) -> None:
    ctl = Controller(tmp_path, {"topology": "default"})
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer() -> None:
        start.wait()
        for _ in range(150):
            try:
                ctl.write_lab_json()
            except BaseException as exc:  # collected, asserted below
                errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    data = json.loads((tmp_path / "lab.json").read_text())
    assert data["topology"] == "default" and data["state_dir"] == str(tmp_path)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("lab.json")] == ["lab.json"]
