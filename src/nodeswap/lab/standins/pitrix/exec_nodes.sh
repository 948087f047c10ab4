#!/bin/bash
# exec_nodes.sh stand-in: run a command on nodes (reference.md section 4).
# Like the real script: ping each node's settings address (2 tries), then ssh to it BY HOST
# NAME (3 s timeout), 10 at a time; a node fails only if it is unknown or does not answer
# ping: a remote command's own exit status is lost in the pipe through tee. The name resolves
# through firstbox's /etc/hosts (files only); host keys stay checked as in _update_node.sh
# (StrictHostKeyChecking=accept-new: an unknown name is learned, a changed key refused).
force=0
if [ "$1" = "-f" ]; then force=1; shift; fi
targets="$1"; cmd="$2"
if [ -z "$targets" ] || [ -z "$cmd" ]; then
    echo "Usage: $0 [-f] <nodes|groups> \"<command>\""; exit 1
fi
case "$cmd" in *'#'*) echo "Error: the command can not contain '#'."; exit 1;; esac
LOG_DIR=/pitrix/log/exec_nodes
mkdir -p "$LOG_DIR"
resolved=$(python3 -c 'import sys; sys.path.insert(0, "/lab/lib"); import pitrixlab as pl
nodes, unknown = pl.resolve_targets(sys.argv[1])
print(" ".join(nodes)); print(" ".join(unknown))' "$targets")
nodes=$(echo "$resolved" | sed -n 1p)
unknown=$(echo "$resolved" | sed -n 2p)
echo "Nodes: [ $nodes ]"
echo "Command: [ $cmd ]"
rc=0
for u in $unknown; do
    echo "Error: the settings file of node [$u] does not exist!" | tee -a "$LOG_DIR/exec_nodes.log"
    rc=1
done
[ $rc -eq 0 ] || exit 1
if [ $force -eq 0 ]; then
    echo -n "Are you sure to exec the command on the above nodes [y/N]? "
    read -r answer
    case "$answer" in y|Y|yes|YES) ;; *) exit 0;; esac
fi
work=$(mktemp -d)
run_one() {
    local node=$1 out=$work/$1
    local addr
    addr=$(sed -n 's/^mgmt_network_address="\(.*\)"/\1/p' "/pitrix/conf/settings/$node")
    if ! ping -c 1 -W 1 "$addr" >/dev/null 2>&1 && ! ping -c 1 -W 1 "$addr" >/dev/null 2>&1; then
        echo "Error: the node [$node] ($addr) is unreachable!" > "$out"
        echo 1 > "$out.rc"
        return
    fi
    ssh -o ConnectTimeout=3 -o BatchMode=yes -o StrictHostKeyChecking=accept-new "root@$node" "$cmd" 2>&1 | tee -a "$LOG_DIR/exec_$node.log" > "$out"
    echo 0 > "$out.rc"
}
running=0
for node in $nodes; do
    run_one "$node" &
    running=$((running + 1))
    if [ $running -ge 10 ]; then wait -n; running=$((running - 1)); fi
done
wait
for node in $nodes; do
    echo "Execing [$node] with [$cmd] ..."
    cat "$work/$node"
    [ "$(cat "$work/$node.rc")" = 0 ] || rc=1
done | tee -a "$LOG_DIR/exec_nodes.log"
for node in $nodes; do [ "$(cat "$work/$node.rc")" = 0 ] || rc=1; done
rm -rf "$work"
echo "Done."
exit $rc
