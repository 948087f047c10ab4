#!/usr/bin/python3
"""install_nodes.sh stand-in: network component (interfaces, rc.local files) per node."""
import sys

sys.path.insert(0, "/lab/lib")
import pitrixlab as pl  # noqa: E402

args = [a for a in sys.argv[1:] if a != "-f"]
if len(args) != 1:
    sys.exit("Usage: install_nodes.sh <nodes|groups>")
nodes, unknown = pl.resolve_targets(args[0])
if unknown:
    sys.exit(f"Error: the settings file of node {unknown} does not exist!")
rc = 0
with (pl.log_dir("install_nodes") / "install_nodes.log").open("a") as logf:
    for node in nodes:
        for comp in ("os", "network", "disk", "optimize", "post"):
            print(f"Installing [{comp}] on [{node}] ...", flush=True)
        try:
            pl.call("install_node", name=node)
        except SystemExit as exc:
            print(f"Error! {exc}")
            rc = 1
            continue
        print(f"Install [{node}] OK.")
        logf.write(f"{node} OK\n")
sys.exit(rc)
