#!/usr/bin/python3
"""update.sh stand-in: install packages on nodes (reference.md section 4).

Checks the packages against firstbox's repos, then per node runs _update_node.sh (which
pings the node, picks the apt options for its os_version and runs apt over ssh); the node's
status IS apt's result ("OK." or "Error!").
"""
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, "/lab/lib")
import pitrixlab as pl  # noqa: E402

args = sys.argv[1:]
force = bool(args) and args[0] == "-f"
args = args[1:] if force else args
if not args or len(args) > 2:
    sys.exit("Usage: update.sh [-f] <nodes|groups> [packages]")
targets = args[0]
packages = (args[1] if len(args) == 2 else args[0]).replace(",", " ").split()
expanded = []
for p in packages:
    group = Path("/pitrix/upgrade/packages") / p
    if group.exists():
        expanded += pl.read_group(p) or []
    else:
        expanded.append(p)
repo_files = [f.name for f in Path("/pitrix/repo").rglob("*") if f.is_file()]
for p in expanded:
    if not any(f.startswith(p) for f in repo_files):
        sys.exit(f"Error: the package [{p}] does not exist in the repos of firstbox!")
nodes, unknown = pl.resolve_targets(targets)
if unknown:
    sys.exit(f"Error: the settings file of node {unknown} does not exist!")
print(f"Nodes: [ {' '.join(nodes)} ]\nPackages: [ {' '.join(expanded)} ]")
if not force and not pl.confirm("Are you sure to update the packages on the above nodes [y/N]?"):
    sys.exit(0)
pl.log_dir("update_nodes")
rc = 0
for node in nodes:
    print(f"Updating [{' '.join(expanded)}] on [{node}] ...", flush=True)
    pl.pause("update_node")
    done = subprocess.run(["/pitrix/upgrade/_update_node.sh", node, *expanded],
                          capture_output=True, text=True)
    if done.returncode == 0:
        print(f"Update [{node}] OK.")
    else:
        print(f"Update [{node}] Error!\n{(done.stdout + done.stderr).strip()}")
        rc = 1
sys.exit(rc)
