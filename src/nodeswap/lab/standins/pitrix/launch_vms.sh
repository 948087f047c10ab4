#!/usr/bin/python3
"""launch_vms.sh stand-in: create VMs from their settings files on their physical hosts."""
import sys
import time

sys.path.insert(0, "/lab/lib")
import pitrixlab as pl  # noqa: E402

args = sys.argv[1:]
force = bool(args) and args[0] == "-f"
args = args[1:] if force else args
if len(args) != 1:
    sys.exit("Usage: launch_vms.sh [-f] <vms|groups>")
nodes, unknown = pl.resolve_targets(args[0])
if unknown:
    sys.exit(f"Error: the settings file of node {unknown} does not exist!")
log = pl.log_dir("launch_vms") / "launch_vms.log"
rc = 0
with log.open("a") as logf:
    for node in nodes:
        s = pl.read_settings(node)
        if not s.get("physical_host_network_interface"):
            print(f"Skip [{node}]: not a VM.")
            continue
        print(f"Launching [{node}] on [{s.get('physical_host')}] ...", flush=True)
        try:
            r = pl.call("launch", name=node, force=force)
        except SystemExit as exc:
            print(f"Error! {exc}")
            logf.write(f"{time.ctime()} {node} error {exc}\n")
            rc = 1
            continue
        if r.get("skipped"):
            print(f"The vm [{node}] has been launched already (found {node}.Done), skip.")
        else:
            print(f"Launch [{node}] OK: {r['address']} on {r['physical']}.")
        logf.write(f"{time.ctime()} {node} {r}\n")
sys.exit(rc)
