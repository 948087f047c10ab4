#!/usr/bin/python3
"""build_global_conf.sh stand-in: snapshot variables/global, rebuild the global packages."""
import runpy
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, "/lab/lib")
glob = Path("/pitrix/conf/variables/global")
snap = glob.with_name(f"global_{time.strftime('%Y%m%d')}")
if glob.is_dir() and not snap.exists():
    shutil.copytree(glob, snap)
builder = next(Path("/pitrix/build").glob("build_pkgs_allinone.*"))
mod = runpy.run_path(str(builder), run_name="build_pkgs")
mod["build"](["pitrix-global-conf", "pitrix-alert-agent", "pitrix-hosts"])
print("Done.")
