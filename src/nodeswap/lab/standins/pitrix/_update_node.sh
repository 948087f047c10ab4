#!/bin/bash
# _update_node.sh stand-in: install packages on one node (reference.md section 4).
#
# Called by update.sh once per node with the node's name and the expanded package list. As
# the Pitrix script does: source the node's settings, ping its settings address, pick the apt
# options with an `if` on os_version (one branch per OS release this installer knows; the lab
# writes the branches from the topology's `update_node_releases`), then over ssh clean and
# update apt and install. A release without a branch gets no options at all: apt-get install
# runs without --yes and aborts (R23). Exit 0 = "OK.", anything else = "Error!".
#
# As the real script, it reaches the node BY NAME (`ssh $node`): firstbox's /etc/hosts decides
# which VM that is (issue 10). Host keys stay checked: StrictHostKeyChecking=accept-new learns
# a name it does not know yet and refuses a changed key (the new VM under a name firstbox
# still knows with the old VM's key: forget it first, as nodeswap's r22-known-name does).

if [ $# -lt 2 ]; then
    echo "Usage: _update_node.sh <node> <packages>" >&2
    exit 1
fi
node=$1
shift
packages="$*"
if [ ! -f "/pitrix/conf/settings/$node" ]; then
    echo "Error: The node [$node] is invalid, can not find it in /pitrix/conf/settings!"
    exit 1
fi
. /pitrix/conf/templates/empty_setting >/dev/null 2>&1
. "/pitrix/conf/settings/$node" >/dev/null 2>&1

if ! ping -c 1 -W 1 "${mgmt_network_address}" >/dev/null 2>&1; then
    echo "Error: The node [$node] (${mgmt_network_address}) is unreachable."
    exit 1
fi

apt_options=""
# @APT_BRANCHES@

log_file="/pitrix/log/update_nodes/update_${node}.log"
echo "$(date +'%Y-%m-%d %H:%M:%S') Updating [$node] with [$packages] (apt options: [${apt_options}]) ..." >>"$log_file"
ssh -o ConnectTimeout=3 -o StrictHostKeyChecking=accept-new "root@${node}" \
    "dpkg --configure -a >/dev/null 2>&1; apt-get clean; apt-get update" >>"$log_file" 2>&1
ssh -o ConnectTimeout=3 -o StrictHostKeyChecking=accept-new "root@${node}" \
    "apt-get ${apt_options} install ${packages}" >>"$log_file" 2>&1 </dev/null
status=$?
if [ $status -ne 0 ]; then
    tail -n 3 "$log_file" >&2
fi
exit $status
