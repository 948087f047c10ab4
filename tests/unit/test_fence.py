"""R20 fence (issue 14): firstbox's processes and cron entries, parsed purely."""

from __future__ import annotations

from nodeswap.live.fence import (
    CROND,
    CRONTAB,
    SELF,
    Seen,
    cron_pushes,
    foreign_jobs,
    parse,
    warnings,
)

PS = """\
    1     0 /sbin/init
  800     1 /usr/sbin/sshd -D
  900   800 sshd: root@notty
  901   900 bash -c echo "== self $$"; ps -eo pid=,ppid=,args=
  902   901 ps -eo pid=,ppid=,args=
 1200   800 sshd: root@pts/1
 1201  1200 -bash
 1300  1201 /bin/bash /pitrix/upgrade/update.sh -f all pitrix-hosts
 1301  1300 /bin/bash /pitrix/upgrade/update_nodes.sh all pitrix-hosts
 1302  1301 /bin/bash /pitrix/upgrade/_update_node.sh ks0 pitrix-hosts
 1400     1 /usr/bin/python3 /pitrix/build/build_pkgs_allinone.py -r proxy
 1500     1 vim /pitrix/upgrade/update.sh.notes
 1600     1 grep update.sh
 2000   901 /bin/bash /pitrix/upgrade/exec_nodes.sh -f all uptime
"""


def fence_output(ps: str = PS, crontab: str = "", crond: dict[str, str] | None = None) -> str:
    text = f"{SELF}901\n{ps}{CRONTAB}\n{crontab}"
    for path, body in (crond or {}).items():
        text += f"{CROND}{path}\n{body}"
    return text


def test_parse_reads_self_processes_and_cron() -> None:
    seen = parse(fence_output(crontab="# m h dom mon dow command\n*/5 * * * * /bin/true\n",
                              crond={"/etc/cron.d/x": "SHELL=/bin/sh\n0 1 * * * root a\n"}))
    assert seen.self_pid == 901
    assert len(seen.procs) == 14 and seen.procs[7].args.startswith("/bin/bash /pitrix")
    assert seen.cron == (("crontab", "*/5 * * * * /bin/true"),
                         ("/etc/cron.d/x", "SHELL=/bin/sh"), ("/etc/cron.d/x", "0 1 * * * root a"))


def test_foreign_jobs_are_the_topmost_of_each_job_not_ours() -> None:
    jobs = foreign_jobs(parse(fence_output()))
    # update.sh named once (its children are the same job), the build; not our own
    # session's exec_nodes.sh (a child of $$), not an editor or a grep naming a script
    assert [p.pid for p in jobs] == [1300, 1400]


def test_processes_the_caller_names_as_its_own_are_not_foreign() -> None:
    assert [p.pid for p in foreign_jobs(parse(fence_output()), ours=[1201])] == [1400]


def test_every_kind_of_job_is_seen() -> None:
    for args in ("/pitrix/upgrade/update.sh proxy", "bash _update_node.sh ks0 x",
                 "sh /pitrix/upgrade/build_global_conf.sh", "/pitrix/build/build_pkgs_allinone.sh",
                 "python3 /pitrix/build/build_pkgs.py -p pitrix-hosts",
                 "/pitrix/upgrade/exec_nodes.sh -f all true", "python /pitrix/bin/gen_node_list.py",
                 "/pitrix/bin/gen_node_list.sh"):
        seen = Seen(1, ((parse(f"5 2 {args}\n").procs[0]),), ())
        assert [p.pid for p in foreign_jobs(seen)] == [5], args


def test_cron_entries_that_push_pitrix_hosts() -> None:
    seen = parse(fence_output(
        ps="", crontab="0 3 * * * /pitrix/upgrade/update.sh -f all pitrix-hosts\n"
                       "0 4 * * * /usr/bin/backup.sh\n",
        crond={"/etc/cron.d/hosts": "PATH=/usr/bin:/pitrix-hosts\n"
                                    "*/10 * * * * root /opt/push-pitrix-hosts\n"}))
    assert cron_pushes(seen) == [
        ("crontab", "0 3 * * * /pitrix/upgrade/update.sh -f all pitrix-hosts"),
        ("/etc/cron.d/hosts", "*/10 * * * * root /opt/push-pitrix-hosts")]


def test_warnings_name_pid_args_and_cron_file() -> None:
    out = warnings(parse(fence_output(crond={"/etc/cron.d/p": "0 * * * * root update.sh all "
                                                                "pitrix-hosts\n"})))
    assert len(out) == 3 and all(w.startswith("R20: ") for w in out)
    assert "pid 1300: /bin/bash /pitrix/upgrade/update.sh -f all pitrix-hosts" in out[0]
    assert "(/etc/cron.d/p): 0 * * * * root update.sh all pitrix-hosts" in out[2]


def test_a_quiet_firstbox_gives_no_warning_and_no_ps_gives_none() -> None:
    assert warnings(parse(f"{SELF}10\n   10     1 bash\n{CRONTAB}\n")) == []
    assert warnings(parse("")) == []
