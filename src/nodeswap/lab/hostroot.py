"""One lab host's root folder and its sshd: layout, mounts, host keys, sshd configuration.

Owns the host-root layout documented in lab/README.md. Must not: write outside the lab's
state directory, touch the machine's /root/.ssh, or mount anything without recording it.
"""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nodeswap.errors import LabError
from nodeswap.i18n import _

from .system import Records, bind_mount, safe_rmtree

# /usr and /dev come from the machine; on Debian's merged /usr these are links into usr/.
MERGED_LINKS = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"}
OPTIONAL_LIBS = ("lib32", "libx32")

# PATH of every session: injected faults first, then the lab's stand-ins, then the system.
HOST_PATH = "/lab/faults/bin:/lab/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

BASHRC = f"""# nodeswap lab host: plain .bashrc (the machine's runs a slow init)
export PATH={HOST_PATH}
export HOME=/root
export LANG=C.UTF-8
export PYTHONDONTWRITEBYTECODE=1
"""

NSSWITCH = """passwd:         files
group:          files
shadow:         files
hosts:          files
networks:       files
protocols:      files
services:       files
"""

ETC_PASSWD = "".join([
    "root:x:0:0:root:/root:/bin/bash\n",
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
])
GROUP = "root:x:0:\nnogroup:x:65534:\n"


@dataclass(frozen=True)
class HostPaths:
    """Where one host lives: its root (chroot) and its data outside the chroot."""

    iid: str
    root: Path  # STATE/hosts/<iid>: the host's own filesystem
    data: Path  # STATE/hostdata/<iid>: sshd config, pid file and log (not visible inside)

    @classmethod
    def of(cls, state_dir: Path, iid: str) -> HostPaths:
        return cls(iid, state_dir / "hosts" / iid, state_dir / "hostdata" / iid)

    @property
    def sshd_config(self) -> Path:
        return self.data / "sshd_config"

    @property
    def sshd_log(self) -> Path:
        return self.data / "sshd.log"

    @property
    def authorized_keys(self) -> Path:
        return self.root / "root/.ssh/authorized_keys"

    def host_key(self, kind: str) -> Path:
        return self.root / f"etc/ssh/ssh_host_{kind}_key"


def write(path: Path, text: str, mode: int = 0o644) -> None:
    """Write a file inside a host root, creating folders (content first, then mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def make_root(
    paths: HostPaths, hostname: str, hosts_text: str, authorized: Sequence[str]
) -> None:
    """Create the host's own folders and files (idempotent; mounts are separate)."""
    root = paths.root
    for sub in ("usr", "dev", "proc", "etc/ssh", "root/.ssh", "var/log", "var/lib", "run/sshd",
                "lab/bin", "lab/lib", "lab/faults/bin", "lab/state"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for name in ("tmp", "var/tmp"):
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name).chmod(0o1777)
    for link, target in MERGED_LINKS.items():
        if not (root / link).is_symlink():
            (root / link).symlink_to(target)
    (root / "root").chmod(0o700)
    (root / "root/.ssh").chmod(0o700)
    paths.data.mkdir(parents=True, exist_ok=True)
    write(root / "etc/passwd", ETC_PASSWD)
    write(root / "etc/group", GROUP)
    write(root / "etc/shadow", "root:*:19000:0:99999:7:::\n", 0o640)
    write(root / "etc/hostname", hostname + "\n")
    write(root / "etc/hosts", hosts_text)
    write(root / "etc/nsswitch.conf", NSSWITCH)
    write(root / "etc/ssh/ssh_config", SSH_CLIENT_CONFIG)
    write(root / "root/.bashrc", BASHRC)
    write(root / "root/.profile", ". /root/.bashrc\n")
    write(paths.authorized_keys, "".join(k.strip() + "\n" for k in authorized), 0o600)
    if not (root / "root/.ssh/known_hosts").exists():
        write(root / "root/.ssh/known_hosts", "", 0o600)


def mount_root(paths: HostPaths, records: Records) -> None:
    """Bind the machine's /usr read-only and /dev into the host root, recording each mount."""
    binds = [(Path("/usr"), "usr", True), (Path("/dev"), "dev", False)]
    for lib in OPTIONAL_LIBS:
        if Path("/" + lib).is_dir() and not Path("/" + lib).is_symlink():
            (paths.root / lib).mkdir(exist_ok=True)
            binds.append((Path("/" + lib), lib, True))
    for source, rel, readonly in binds:
        target = paths.root / rel
        records.add_mount(target)
        bind_mount(source, target, readonly=readonly)


KEY_TYPES = ("ed25519", "rsa")


def generate_host_keys(paths: HostPaths, kinds: Sequence[str]) -> None:
    """A new host key per type (ssh-keygen), replacing none that exists (reboot keeps keys)."""
    for kind in kinds:
        key = paths.host_key(kind)
        if key.exists():
            continue
        args = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"root@{paths.iid}", "-f", str(key)]
        if kind == "rsa":
            args[4:4] = ["-b", "2048"]
        done = subprocess.run(args, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise LabError(_("ssh-keygen for {iid} ({kind}) failed: {error}").format(iid=paths.iid,
                             kind=kind, error=done.stderr.strip()))


def public_keys(paths: HostPaths) -> list[str]:
    """'type base64' of each host key present, ed25519 first."""
    out = []
    for kind in KEY_TYPES:
        pub = paths.host_key(kind).with_suffix(".pub")
        if pub.exists():
            out.append(" ".join(pub.read_text().split()[:2]))
    return out


def known_hosts_lines(names: Sequence[str], keys: Sequence[str]) -> list[str]:
    """known_hosts lines: every key under the comma list of names/addresses."""
    label = ",".join(dict.fromkeys(names))
    return [f"{label} {key}" for key in keys]


SSH_CLIENT_CONFIG = """# nodeswap lab host: ssh client (fast kex, strict-ish host keys)
Host *
    KexAlgorithms curve25519-sha256
    StrictHostKeyChecking accept-new
    UserKnownHostsFile /root/.ssh/known_hosts
    ConnectTimeout 3
    BatchMode yes
    LogLevel ERROR
"""


def permit_open(addresses: Iterable[str], *, whole_24: bool) -> tuple[str, ...]:
    """sshd's PermitOpen list: port 22 of the lab's own addresses, nothing else. A zone lab
    (``whole_24``) allows every address of the /24 networks its hosts are in, because its new
    VMs come up later at addresses chosen in those networks (R16) and a jump connection
    keeps the PermitOpen it was opened with; a plain lab allows exactly its hosts. The /24's
    .0 and .255 too: in a wider network (a /23) they are host addresses R16 may choose."""
    if not whole_24:
        return tuple(f"{a}:22" for a in sorted(set(addresses)))
    nets = sorted({ipaddress.ip_network(f"{a}/24", strict=False) for a in addresses})
    return tuple(f"{h}:22" for net in nets for h in net)


def render_sshd_config(paths: HostPaths, address: str, kinds: Sequence[str],
                       permit: Sequence[str] = (), also: Sequence[str] = ()) -> str:  # fmt: skip
    """The sshd_config of one host: its address (and ``also``: a netns lab's firstbox on its
    /30 jump address), keys, chroot and generous limits. A jump host forwards only to
    ``permit`` (HOST:PORT; empty: no forwarding at all)."""
    keys = "\n".join(f"HostKey {paths.host_key(k)}" for k in kinds)
    opens = " ".join(permit) or "none"
    listen = "".join(f"ListenAddress {a}:22\n" for a in (address, *also))
    return f"""# nodeswap lab host {paths.iid}
{listen}{keys}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile {paths.authorized_keys}
StrictModes yes
ChrootDirectory {paths.root}
UsePAM no
PidFile {paths.data / "sshd.pid"}
PrintMotd no
PrintLastLog no
AllowTcpForwarding yes
PermitOpen {opens}
AllowAgentForwarding no
X11Forwarding no
PermitUserEnvironment no
UseDNS no
MaxStartups 1000:30:2000
MaxSessions 256
MaxAuthTries 6
LoginGraceTime 30
ClientAliveInterval 0
SetEnv PATH={HOST_PATH}
Subsystem sftp internal-sftp
LogLevel INFO
"""


def write_sshd_config(paths: HostPaths, address: str, kinds: Sequence[str],
                      permit: Sequence[str] = (), also: Sequence[str] = ()) -> None:  # fmt: skip
    paths.data.mkdir(parents=True, exist_ok=True)
    write(paths.sshd_config, render_sshd_config(paths, address, kinds, permit, also), 0o600)


def sshd_command(paths: HostPaths, hostname: str, netns: str | None = None) -> list[str]:
    """Run sshd in its own UTS namespace, so `hostname` inside prints the host's own name;
    in a netns lab also in the host's network namespace (``nsenter --net``, which changes
    nothing else: `ip netns exec` would also make a mount namespace and remount /sys).

    ``nsenter``, ``unshare`` and ``sh`` exec in place, so the PID of this command is sshd's.
    """
    script = 'hostname "$1" && exec /usr/sbin/sshd -D -e -f "$2"'
    conf = str(paths.sshd_config)
    enter = ["nsenter", f"--net=/run/netns/{netns}"] if netns else []
    return [*enter, "unshare", "--uts", "/bin/sh", "-c", script, "lab-host", hostname, conf]


def remove_root(paths: HostPaths) -> None:
    """Delete a host's files (only after its mounts are gone: never follow into /usr)."""
    safe_rmtree(paths.root)
    safe_rmtree(paths.data)
