"""The console probe (issue 10; R32-R36): the console's availability through the VIP, measured
on firstbox every 0.25 s for the whole switch phase. Pure: the probe's full script text and the
steps that start and stop it.

Why on firstbox: it stays up through every switch and the runbook already checks the console
from there (R36's curl: nodeswap.checks.console); the operator's machine may be far away.

The job (``job_script``) is a bash script whose whole text is the start step's ``stdin`` (the
reviewed plan is the plan that runs). The start step writes it to ``DIR/console-probe.sh``
(0700) and starts it detached (``setsid nohup``), where DIR is the run's folder on firstbox
(``NODESWAP_RUN_DIR``, given by the executor: nodeswap.run.probe; folder 0700, files 0600).
The job writes ``console-probe.state`` (``state=`` running|stopped|ended, ``pid=``,
``started=`` epoch seconds, ``url=``) and appends one ``EPOCH_MS STATUS`` line per request to
``console-probe.samples``: ``curl`` with a short timeout (``downtime.TIMEOUT``), then 0.25 s
of sleep; STATUS is curl's ``%{http_code}`` (``000``: no answer). It ends by itself after
``NODESWAP_PROBE_MAX`` seconds (default 4 h) whatever happens to nodeswap.

A start step run again leaves a probe of this run that is alive as it is (adopted: resume);
one that is gone is started again and appends to the same samples (the pause shows as a gap,
never as downtime). The stop step (after the last switch's R36) ends it (its process group)
and prints the samples as runs (``downtime.runs``; ``COMPACT`` in bash) with firstbox's time.
"""

from __future__ import annotations

import shlex

from nodeswap.checks import downtime
from nodeswap.checks.console import pin
from nodeswap.i18n import N_
from nodeswap.plan.model import Step

DIR_VAR, MAX_VAR = "NODESWAP_RUN_DIR", "NODESWAP_PROBE_MAX"
DEFAULT_DIR = "/var/lib/nodeswap/console-probe"  # when run by hand, without the executor
DEFAULT_MAX = 4 * 3600  # seconds: the probe's lifetime, whatever happens to nodeswap
START, STOP = "console-probe-start", "console-probe-stop"
START_WAIT = 10  # seconds the start step waits for the job to say it runs
SCRIPT, STATE, SAMPLES = "console-probe.sh", "console-probe.state", "console-probe.samples"
# step titles: plan data, in English; shown translated (i18n.retranslate, issue 13)
START_TITLE = N_("start the console probe on firstbox: {url} every 0.25 s until the last "
                 "switch is checked (the downtime per switch in the report)")
STOP_TITLE = N_("stop the console probe on firstbox and collect its samples (the downtime per "
                "switch)")

# the samples as runs: FIRST_MS LAST_MS STATUS COUNT (nodeswap.checks.downtime.runs), in bash
# alone (awk is not on every host: the lab's hosts have none)
COMPACT = ("n=0; while read -r t c _; do "
           "case $t in ''|*[!0-9]*) continue ;; esac; "
           "case $c in [0-9][0-9][0-9]) ;; *) continue ;; esac; "
           'if [ "$n" -gt 0 ] && { [ "$c" != "$s0" ] || [ $((t - l)) -gt '
           + str(downtime.GAP_MS) + ' ]; }; then echo "$f $l $s0 $n"; n=0; fi; '
           'if [ "$n" -eq 0 ]; then f=$t; s0=$c; fi; l=$t; n=$((n + 1)); '
           'done < "$sm"; if [ "$n" -gt 0 ]; then echo "$f $l $s0 $n"; fi')

_VARS = (f'd="${{{DIR_VAR}:-{DEFAULT_DIR}}}"; m="${{{MAX_VAR}:-{DEFAULT_MAX}}}"; '
         f's="$d/{SCRIPT}"; st="$d/{STATE}"; sm="$d/{SAMPLES}"; ')
_PID = "pid=$(sed -n 's/^pid=//p' \"$st\" 2>/dev/null)"
# the pid of the state file runs this run's script (a pid alone may have been recycled;
# firstbox may have no /proc in a chroot: ps)
_ALIVE = ('{ test -n "$pid" && ps -eo pid=,ppid=,args= | grep -E "^ *$pid " | '
          'grep -qF "$s"; }')
_NOW = 'echo "now_ms=$(date +%s%3N)"'


def job_script(url: str, vip: str | None = None) -> str:
    """The probe's full text: ``$1`` the folder, ``$2`` its lifetime in seconds. A URL that
    names a host is asked of the VIP (``curl --resolve``, as R36: ``checks.console.pin``)."""
    q = shlex.quote
    resolve = pin(url, vip)
    return f"""#!/bin/bash
# nodeswap console probe (issue 10; R32-R36): $URL through the VIP every {downtime.INTERVAL:g} s,
# one "EPOCH_MS STATUS" line per request. Written by the plan's {START} step.
set -u
umask 077
URL={q(url)}
PIN=({"--resolve " + q(resolve) if resolve else ""})
dir=${{1:?folder}}
max=${{2:?lifetime in seconds}}
STATE="$dir/{STATE}"
SAMPLES="$dir/{SAMPLES}"
started=$(date +%s)
end=$((started + max))
put_state() {{
    printf 'state=%s\\npid=%s\\nstarted=%s\\nurl=%s\\n' "$1" "$$" "$started" "$URL" \\
        > "$STATE.tmp" && mv -f "$STATE.tmp" "$STATE"
}}
put_state running
trap 'put_state stopped; exit 0' TERM INT HUP
while :; do
    t=$(date +%s%3N)
    [ $((t / 1000)) -lt "$end" ] || break
    code=$(curl -s -o /dev/null --max-time {downtime.TIMEOUT:g} -w '%{{http_code}}' \\
        ${{PIN[@]+"${{PIN[@]}}"}} "$URL" 2>/dev/null)
    case $code in [0-9][0-9][0-9]) ;; *) code=000 ;; esac
    printf '%s %s\\n' "$t" "$code" >> "$SAMPLES"
    sleep {downtime.INTERVAL:g}
done
put_state ended
"""


def start(url: str, phase: str, vip: str | None = None) -> Step:
    """Before the first switch's R32 (and its dead-man): the probe runs, or runs already (a
    probe of this run alive is adopted); its state and firstbox's time are the output."""
    no_curl = "echo 'R36: no curl on firstbox: the console probe cannot run' >&2; exit 1"
    wait = (f"timeout {START_WAIT} sh -c 'until grep -qx state=running \"$1\" 2>/dev/null; "
            "do sleep 0.1; done' sh \"$st\"")
    launch = ('cat > "$s.tmp" && chmod 0700 "$s.tmp" && mv -f "$s.tmp" "$s" && rm -f "$st" && '
              '(setsid nohup bash "$s" "$d" "$m" </dev/null >/dev/null 2>&1 &) && ' + wait)
    command = (_VARS + f"if ! command -v curl >/dev/null; then {no_curl}; fi; "
               'mkdir -p "$d" && chmod 0700 "$d" && umask 077 || exit 1; '
               f"{_PID}; if {_ALIVE}; then echo 'the probe of this run runs already: adopted'; "
               "cat >/dev/null; "
               f"else {launch} || exit 1; fi; cat \"$st\" && {_NOW}")
    return Step(
        id=START, phase=phase, rule="R36", title=START_TITLE.format(url=url),
        target="firstbox", command=command, stdin=job_script(url, vip), undo=stop_command(),
        timeout=60.0,
        rerun_safe="a probe of this run still alive is left running (adopted); one that is "
                   "gone starts again and appends to the same samples")


def stop_command(*, collect: bool = True) -> str:
    """End the probe (its process group; nothing when none runs) and, with ``collect``,
    print its samples as runs and firstbox's time."""
    alive_wait = f"n=0; while {_ALIVE} && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done"
    end = (f'if [ -e "$st" ]; then {_PID}; if {_ALIVE}; then '
           'kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"; '
           f"{alive_wait}; if {_ALIVE}; then kill -KILL -- \"-$pid\" 2>/dev/null || "
           "kill -KILL \"$pid\"; fi; fi; "
           "sed -i 's/^state=running$/state=stopped/' \"$st\"; fi")
    if not collect:
        return _VARS + end + "; true"
    return (_VARS + end + '; if [ -e "$st" ]; then cat "$st"; fi; '
            f'if [ -e "$sm" ]; then {COMPACT}; fi; {_NOW}')


def stop(phase: str) -> Step:
    """After the last switch's checks (R36): the probe ends; its samples are the output."""
    return Step(
        id=STOP, phase=phase, rule="R36", title=STOP_TITLE, target="firstbox",
        command=stop_command(), timeout=60.0,
        rerun_safe="stopping a probe that ended changes nothing; the samples are printed again")
