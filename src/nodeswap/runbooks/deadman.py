"""The dead-man at the switch (issue 11): a deadline armed on firstbox before R32 stops the
old node, disarmed once the switched node is confirmed (R33's pinned key at the old address,
R35's services). Pure: the job's full script text and the steps that arm and disarm it.

Why on firstbox: it is the one host that stays up through the switch and that the runbook
already drives the zone from (it reaches every node and physical host by name over ssh, as
the Pitrix scripts do); the operator's machine, and nodeswap on it, may die at any moment.

The job (``job_script``) is a bash script whose whole text is the arm step's ``stdin``: the
reviewed plan is the plan that runs. The arm step writes it atomically to
``/var/lib/nodeswap/deadman/NODE.sh`` (mode 0700, folder 0700) and starts it detached
(``setsid nohup``); the job writes its state file ``NODE.state`` (0600: ``state=``
armed|firing|fired|disarmed, ``pid=``, ``armed=``/``deadline=`` epoch seconds, ``script=`` the
sha256 of its own text), sleeps until the deadline, and then, unless a disarm came first,
reverts the node with no nodeswap process: the new VM destroyed on its physical host, the old
VM's autostart restored and the old VM started on its host (waiting until its address
answers), the node's settings file restored to its content before the upgrade (the old VM
serves again: the settings must describe it) and ``build_global_conf.sh`` run. Every action
and its outcome goes to ``NODE.log`` (0600); state transitions are made under ``flock`` on
``NODE.lock``, so a disarm and a firing job never both win.

The deadline (seconds) is not in the plan: it is the run's (``apply --switch-deadline``,
default 600), given to the arm command as ``NODESWAP_SWITCH_DEADLINE`` by the executor
(nodeswap.run.deadman), and the default is written in the command itself. How long a node
may stay out of service is the operator's call at apply time; the revert it triggers is
fully in the plan.
"""

from __future__ import annotations

import hashlib
import shlex

from nodeswap.i18n import N_
from nodeswap.plan.model import Step
from nodeswap.shell import chain, cmd, write_file_atomic

from .base import NodeContext
from .commands import (
    PING_WAIT,
    destroy_if_running,
    settings_path,
    start_unless_running,
    virsh,
)

DIR = "/var/lib/nodeswap/deadman"
DEADLINE_VAR = "NODESWAP_SWITCH_DEADLINE"
DEFAULT_DEADLINE = 600  # seconds (10 min)
ARM, DISARM = "deadman-arm-", "deadman-disarm-"
ARM_WAIT = 10  # seconds the arm step waits for the job to say it is armed
STATES = ("armed", "firing", "fired", "disarmed")
# step titles: plan data, in English; shown translated (i18n.retranslate, issue 13)
ARM_TITLE = N_("arm the dead-man on firstbox: {node} is reverted (new VM destroyed, old VM "
               "started on {host}, settings restored) unless confirmed in time")
DISARM_TITLE = N_("disarm the dead-man of {node}: the switched {node} answers with its pinned "
                  "key and its services pass (R33, R35)")


def arm_id(node: str) -> str:
    return f"{ARM}{node}"


def disarm_id(node: str) -> str:
    return f"{DISARM}{node}"


def node_of(step_id: str) -> str | None:
    """The node of an arm or disarm step id, else None."""
    for prefix in (ARM, DISARM):
        if step_id.startswith(prefix):
            return step_id.removeprefix(prefix)
    return None


def paths(node: str) -> dict[str, str]:
    """The job's files on firstbox: script, state, log, lock."""
    return {k: f"{DIR}/{node}.{ext}" for k, ext in
            (("script", "sh"), ("state", "state"), ("log", "log"), ("lock", "lock"))}


def job_script(n: NodeContext, old_settings: str) -> str:
    """The job's full text for node ``n`` (see the module docstring); ``$1``: the deadline in
    seconds. Every value is quoted (shlex) before it reaches the script."""
    p = paths(n.name)
    q = shlex.quote
    remote = {
        "destroy": destroy_if_running(n.name),
        "autostart": virsh("autostart", n.name),
        "start": start_unless_running(n.name, n.old_address),
    }
    up = cmd("timeout", str(PING_WAIT), "sh", "-c",
             f"until {cmd('ping', '-c', '1', '-W', '1', n.old_address)} >/dev/null 2>&1; "
             "do sleep 0.2; done")
    settings = settings_path(n.name)
    return f"""#!/bin/bash
# nodeswap dead-man for {n.name} (issue 11; R32-R35): reverts the switch of {n.name} when the
# deadline passes before nodeswap disarms it. Written by the plan's {arm_id(n.name)} step.
set -u
umask 077
NODE={q(n.name)}
OLD_ADDR={q(n.old_address)}
TEMP_ADDR={q(n.temp_address)}
OLD_HOST={q(n.old_host_name)}
NEW_HOST={q(n.new_host_name)}
STATE={q(p["state"])}
LOG={q(p["log"])}
deadline=${{1:?deadline in seconds}}
script_sha=$(sha256sum "$0" | cut -d' ' -f1)
armed_at=$(date +%s)
due=$((armed_at + deadline))
log() {{ printf '%s %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >> "$LOG"; }}
put_state() {{
    printf 'state=%s\\npid=%s\\narmed=%s\\ndeadline=%s\\nscript=%s\\n%s' "$1" "$$" \\
        "$armed_at" "$due" "$script_sha" "${{2:-}}" > "$STATE.tmp" && mv -f "$STATE.tmp" "$STATE"
}}
state_now() {{ sed -n 's/^state=//p' "$STATE" 2>/dev/null; }}
answers() {{ ping -c 1 -W 1 "$1" >/dev/null 2>&1; }}
on() {{ ssh -o BatchMode=yes -o ConnectTimeout=10 "root@$1" "$2"; }}
failed=0
act() {{
    local what=$1 out rc
    shift
    out=$("$@" 2>&1); rc=$?
    if [ "$rc" -eq 0 ]; then log "done: $what"; else log "FAILED (exit $rc): $what: $out"
        failed=$((failed + 1)); fi
}}
restore_settings() {{
    printf '%s' {q(old_settings)} > {q(settings + ".nodeswap-tmp")} &&
        mv -f {q(settings + ".nodeswap-tmp")} {q(settings)}
}}
exec 9>>{q(p["lock"])}
flock 9
put_state armed
flock -u 9
log "armed by pid $$: $NODE is reverted at $(date -u -d "@$due" +%H:%M:%SZ)" \
    "(${{deadline}}s) unless disarmed"
sleep "$deadline" &
nap=$!
trap 'kill "$nap" 2>/dev/null; log "disarmed: ended by signal"; exit 0' TERM INT HUP
wait "$nap"
trap '' TERM INT HUP
flock 9
if [ "$(state_now)" != armed ]; then
    flock -u 9; log "deadline passed, not armed: nothing to do"; exit 0
fi
put_state firing
flock -u 9
why="the deadline (${{deadline}}s) passed before nodeswap confirmed $NODE"
why="$why (R33 pinned key at $OLD_ADDR, R35 services)"
if answers "$OLD_ADDR"; then why="$why; $OLD_ADDR answered"
else why="$why; $OLD_ADDR did not answer"; fi
if answers "$TEMP_ADDR"; then why="$why; $TEMP_ADDR (temporary) answered"; fi
log "fired: $why"
started=$(date +%s%N)
act "destroy the new $NODE on $NEW_HOST" on "$NEW_HOST" {q(remote["destroy"])}
act "autostart of the old $NODE on $OLD_HOST" on "$OLD_HOST" {q(remote["autostart"])}
act "start the old $NODE on $OLD_HOST" on "$OLD_HOST" {q(remote["start"])}
act "wait until $OLD_ADDR answers" {up}
back=$(date +%s%N)
tenths=$(( (back - started) / 100000000 ))
act "restore {settings} (its content before the upgrade)" restore_settings
act "build_global_conf.sh" /pitrix/upgrade/build_global_conf.sh
flock 9
put_state fired "why=$why
failed=$failed
revert_seconds=$((tenths / 10)).$((tenths % 10))
"
flock -u 9
log "fired: revert ended with $failed failed action(s)"
"""


def script_sha(script: str) -> str:
    return hashlib.sha256(script.encode()).hexdigest()


def _state_is(state_file: str, *states: str) -> str:
    return cmd("grep", "-qxE", f"state=({'|'.join(states)})", state_file)


def alive(script: str) -> str:
    """Shell: exit 0 iff the pid of the state file runs the job's script (``ps``; firstbox
    may have no /proc in a chroot, and a pid alone may have been recycled)."""
    return ('test -n "$pid" && ps -eo pid=,ppid=,args= | grep -E "^ *$pid " | '
            + cmd("grep", "-qF", script))


def arm(n: NodeContext, old_settings: str, phase: str) -> Step:
    """Right before R32 stops the old node: write the job and start it detached; its state
    file, printed, is the step's output (the journal keeps its pid and deadline)."""
    p = paths(n.name)
    text = job_script(n, old_settings)
    sha = script_sha(text)
    pid = f'pid=$(sed -n "s/^pid=//p" {cmd(p["state"])})'
    busy = cmd("echo", f"another dead-man job is armed for {n.name} ({p['state']}): "
                       "disarm it or let it end first")
    other = (f"if {_state_is(p['state'], 'armed', 'firing')} && ! "
             f"{cmd('grep', '-qx', f'script={sha}', p['state'])} && "
             f"{{ {pid}; {alive(p['script'])}; }}; then {busy} >&2; false; fi")
    wait = cmd("timeout", str(ARM_WAIT), "sh", "-c",
               f"until {_state_is(p['state'], 'armed')}; do sleep 0.1; done")
    command = chain(
        f'd="${{{DEADLINE_VAR}:-{DEFAULT_DEADLINE}}}"',
        cmd("mkdir", "-p", DIR), cmd("chmod", "0700", DIR), "umask 077", other,
        write_file_atomic(p["script"], 0o700), cmd("rm", "-f", p["state"]),
        "(" + cmd("setsid", "nohup", "bash", p["script"]) + ' "$d" </dev/null >/dev/null 2>&1 &)',
        wait, cmd("cat", p["state"]))
    # took effect: this very script's state file, and the job alive while it says armed
    check = chain(cmd("grep", "-qx", f"script={sha}", p["state"]),
                  f"{{ {_state_is(p['state'], 'firing', 'fired', 'disarmed')} || "
                  f"{{ {pid}; {alive(p['script'])}; }}; }}")
    return Step(
        id=arm_id(n.name), phase=phase, rule="R32",
        title=ARM_TITLE.format(node=n.name, host=n.old_host_name),
        target="firstbox", command=command, stdin=text, check=check,
        undo=disarm_command(n.name, strict=False), timeout=60.0)


def disarm_command(node: str, *, strict: bool = True) -> str:
    """Disarm under the job's lock: an armed job is marked disarmed and ended (its process
    group); disarmed already or no job: nothing; firing or fired: ``strict`` exits 1 saying so
    (the revert ran: the switch is not confirmed), else (rollback's undo) says it and exits 0."""
    p = paths(node)
    pid = f'pid=$(sed -n "s/^pid=//p" {cmd(p["state"])})'
    fired = cmd("echo", f"the dead-man of {node} fired: see {p['log']}") \
        + (" >&2; exit 1" if strict else "; exit 0")
    body = (f"if {_state_is(p['state'], 'firing', 'fired')}; then {fired}; fi; "
            f"if {_state_is(p['state'], 'armed')}; then {pid}; "
            f"sed -i 's/^state=armed$/state=disarmed/' {cmd(p['state'])}; "
            f"if {alive(p['script'])}; then kill -TERM -- \"-$pid\" 2>/dev/null || "
            f"kill -TERM \"$pid\"; fi; fi; true")
    return (f"test ! -e {cmd(p['state'])} || "
            f"( exec 9>>{cmd(p['lock'])} && flock 9 && {{ {body}; }} )")


def disarm(node: str, phase: str) -> Step:
    """After R33 (the pinned key at the old address) and R35 (the services): the switch is
    confirmed, the deadline is lifted."""
    p = paths(node)
    return Step(
        id=disarm_id(node), phase=phase, rule="R35",
        title=DISARM_TITLE.format(node=node),
        target="firstbox", command=disarm_command(node),
        check=_state_is(p["state"], "disarmed"), timeout=60.0)
