# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real systemd test machines for the roles' Molecule scenarios, without Docker.

Each machine boots systemd as PID 1 with systemd-nspawn over a copy-on-write overlay of the
host's root (the host's root is never written), shares the host's network namespace, and
runs its own sshd on a loopback address of its own (127.0.0.11, 127.0.0.12, ...), reached
with a key made for the run: Ansible manages it over SSH like a VM. A "small VM" boots inside
a cpu and memory cgroup with real, kernel-enforced limits, while its /proc/meminfo and nproc
still show the host's. Needs root, systemd-container and openssh-server.

    python tests/harness/testvm.py up STATE_DIR NAME ADDRESS [--cpus 1.5] [--memory-mib 1536] [--bind-ro SRC:DST]
        [--bind SRC:DST]
    python tests/harness/testvm.py down STATE_DIR        (every machine recorded there, whatever state)

The state folder records each machine (its nspawn PID, mounts, cgroup) so that `down` removes
everything it made even after a failed run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

# tests/, where the harness package lives, when this file runs as a script.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness.cgroups import LimitedCgroup  # noqa: E402 pylint: disable=wrong-import-position

# Services of the host that would take the host's ports, or the machine's sshd port, if they
# started in every machine.
MASKED_SERVICES = ("postgresql.service", "redis-server.service", "pgbouncer.service", "ssh.service",
                   "ssh.socket", "systemd-networkd.service", "systemd-resolved.service")
BOOT_TIMEOUT = 90
SSH_OPTIONS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               "-o", "BatchMode=yes", "-o", "ConnectTimeout=3"]

SSHD_CONFIG = """\
ListenAddress {address}
Port 22
HostKey /etc/ssh/mcpgw_test_host_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AuthorizedKeysFile .ssh/authorized_keys
Subsystem sftp /usr/lib/openssh/sftp-server
"""

SSHD_UNIT = """\
[Unit]
Description=sshd of the mcpgateway.tuning test machine
After=network.target

[Service]
ExecStart=/usr/sbin/sshd -D -f /etc/ssh/mcpgw_test_sshd_config
RuntimeDirectory=sshd
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""


class MachineError(Exception):
    """A test machine could not be made or booted."""


def run(command, **options):
    return subprocess.run(command, check=True, capture_output=True, text=True, **options)


def machine_key(state_dir):
    """The run's SSH key pair, made once per state folder."""
    key = os.path.join(state_dir, "id_ed25519")
    if not os.path.exists(key):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mcpgateway.tuning test run", "-f", key])
    return key


def prepare_root(merged, name, address, public_key):
    """Write what the machine needs into its overlay: sshd on its address, the run's key, a name."""
    run(["systemctl", "--root=%s" % merged, "mask"] + list(MASKED_SERVICES))
    ssh_dir = os.path.join(merged, "etc", "ssh")
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(ssh_dir, "mcpgw_test_host_key")])
    with open(os.path.join(ssh_dir, "mcpgw_test_sshd_config"), "w") as handle:
        handle.write(SSHD_CONFIG.format(address=address))
    units = os.path.join(merged, "etc", "systemd", "system")
    with open(os.path.join(units, "mcpgw-test-sshd.service"), "w") as handle:
        handle.write(SSHD_UNIT)
    wants = os.path.join(units, "multi-user.target.wants")
    os.makedirs(wants, exist_ok=True)
    link = os.path.join(wants, "mcpgw-test-sshd.service")
    if not os.path.lexists(link):
        os.symlink("/etc/systemd/system/mcpgw-test-sshd.service", link)
    root_ssh = os.path.join(merged, "root", ".ssh")
    os.makedirs(root_ssh, mode=0o700, exist_ok=True)
    with open(os.path.join(root_ssh, "authorized_keys"), "w") as handle:
        handle.write(public_key)
    os.chmod(os.path.join(root_ssh, "authorized_keys"), 0o600)
    # A root account locked with '!' refuses key logins too; '*' only refuses passwords.
    shadow = os.path.join(merged, "etc", "shadow")
    with open(shadow) as handle:
        lines = handle.read().splitlines(True)
    with open(shadow, "w") as handle:
        for line in lines:
            if line.startswith("root:"):
                fields = line.split(":")
                fields[1] = "*"
                line = ":".join(fields)
            handle.write(line)
    with open(os.path.join(merged, "etc", "hostname"), "w") as handle:
        handle.write(name + "\n")


def ssh(key, address, command, timeout=20):
    return subprocess.run(["ssh", "-i", key] + SSH_OPTIONS + ["root@%s" % address, command],
                          capture_output=True, text=True, timeout=timeout, check=False)


def wait_booted(key, address, process, log_path):
    deadline = time.monotonic() + BOOT_TIMEOUT
    last = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise MachineError("systemd-nspawn exited with %s; its output:\n%s"
                               % (process.returncode, tail(log_path)))
        try:
            answer = ssh(key, address, "systemctl is-system-running", timeout=10)
        except subprocess.TimeoutExpired:
            answer = None
        if answer is not None:
            last = answer.stdout.strip() or answer.stderr.strip()
            if last in ("running", "degraded"):
                return last
        time.sleep(0.5)
    raise MachineError("the machine at %s did not finish booting in %d s (last answer: %r)\n%s"
                       % (address, BOOT_TIMEOUT, last, tail(log_path)))


def tail(path, lines=30):
    if not os.path.exists(path):
        return ""
    with open(path, errors="replace") as handle:
        return "".join(handle.readlines()[-lines:])


def record_path(state_dir, name):
    return os.path.join(state_dir, "machines", name + ".json")


def save(state_dir, record):
    with open(record_path(state_dir, record["name"]), "w") as handle:
        json.dump(record, handle, indent=1)


def machine_environment():
    """On a cgroup v1 or hybrid host, systemd in the machine cannot kill a unit's cgroup through the
    unified hierarchy nspawn would give it ("Failed to kill control group ... Input/output error"),
    so the processes a killed service leaves behind survive it. A legacy layout makes it kill them
    one by one, as KillMode=control-group promises."""
    env = dict(os.environ)
    if not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        env["SYSTEMD_NSPAWN_UNIFIED_HIERARCHY"] = "0"
    return env


def up(state_dir, name, address, cpus=None, memory_mib=None, binds=(), writable_binds=()):
    """Boot a machine and return what Molecule needs to reach it."""
    if os.geteuid() != 0:
        raise MachineError("test machines need root: overlay mounts, systemd-nspawn and cgroups")
    for tool in ("systemd-nspawn", "ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            raise MachineError("%s is missing: apt-get install -y systemd-container openssh-server openssh-client"
                               % tool)
    if not os.path.exists("/usr/sbin/sshd"):
        raise MachineError("sshd is missing: apt-get install -y openssh-server")
    os.makedirs(os.path.join(state_dir, "machines"), exist_ok=True)
    key = machine_key(state_dir)
    folder = os.path.join(state_dir, name)
    record = {"name": name, "address": address, "folder": folder, "merged": os.path.join(folder, "root"),
              "mounted": False, "nspawn_pid": None, "leader_pid": None, "cgroup": None, "cpus": cpus, "memory_mib": memory_mib,
              "slices_before": container_slices()}
    for part in ("upper", "work", "root"):
        os.makedirs(os.path.join(folder, part), exist_ok=True)
    save(state_dir, record)  # before anything is made, so that down() finds it after any failure
    run(["mount", "-t", "overlay", "overlay", "-o", "lowerdir=/,upperdir=%s,workdir=%s"
         % (os.path.join(folder, "upper"), os.path.join(folder, "work")), record["merged"]])
    record["mounted"] = True
    save(state_dir, record)
    with open(key + ".pub") as handle:
        prepare_root(record["merged"], name, address, handle.read())

    command = ["systemd-nspawn", "-D", record["merged"], "--register=no", "--keep-unit", "-M", name,
               "--hostname=%s" % name, "-b", "--console=passive"]
    # The machine gets a /tmp of its own: host folders it needs are bound in read-only.
    command += ["--bind-ro=%s" % bind for bind in binds]
    # A folder of the host's own file system where the machine needs one: Podman's storage cannot
    # be an overlay inside the machine's overlay root.
    command += ["--bind=%s" % bind for bind in writable_binds]
    cgroup = None
    if cpus or memory_mib:
        cgroup = LimitedCgroup("mcpgw-vm-%s" % name, cpus=cpus or os.cpu_count(),
                               memory_bytes=int((memory_mib or 1 << 20) * 1024 * 1024)).create()
        record["cgroup"] = {"name": cgroup.name, "dirs": cgroup.dirs}
        save(state_dir, record)
        command = cgroup.wrap(command)
    log_path = os.path.join(folder, "console.log")
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, env=machine_environment())
    record["nspawn_pid"] = process.pid
    save(state_dir, record)
    state = wait_booted(key, address, process, log_path)
    # The machine's own PID 1: if systemd-nspawn dies, killing it ends the whole machine.
    record["leader_pid"] = machine_leader(process.pid)
    save(state_dir, record)
    return {"instance": name, "address": address, "user": "root", "port": 22, "identity_file": key,
            "state": state}


def container_slices():
    """The machine.slice folders of the host's cgroup hierarchies. Podman inside a machine (the
    container scenario, with cgroup_manager systemd) makes them at the roots it sees, which on this
    cgroup v1 host are the host's own; down() removes the ones up() did not find, once empty."""
    found = []
    for folder, subfolders, dummy in os.walk("/sys/fs/cgroup"):
        depth = folder[len("/sys/fs/cgroup"):].count("/")
        if "machine.slice" in subfolders:
            found.append(os.path.join(folder, "machine.slice"))
        if depth >= 3:
            subfolders[:] = []
        else:
            subfolders[:] = [name for name in subfolders if name != "machine.slice"]
    return found


def remove_empty_tree(folder):
    """rmdir folder and its subfolders, deepest first; a cgroup that still holds a process stays."""
    for path, dummy, dummy_files in sorted(os.walk(folder, topdown=False), key=lambda entry: -len(entry[0])):
        try:
            os.rmdir(path)
        except OSError:
            pass
    return not os.path.exists(folder)


def down(state_dir):
    """Power off and remove every machine recorded in state_dir; report what could not be removed."""
    problems, slices_before = [], []
    machines = os.path.join(state_dir, "machines")
    for entry in sorted(os.listdir(machines)) if os.path.isdir(machines) else []:
        with open(os.path.join(machines, entry)) as handle:
            record = json.load(handle)
        problems += power_off(record)
        if record["mounted"]:
            for dummy in range(50):
                if subprocess.run(["umount", record["merged"]], capture_output=True, check=False).returncode == 0 \
                        or not os.path.ismount(record["merged"]):
                    break
                time.sleep(0.2)
            else:
                problems.append("%s is still mounted" % record["merged"])
        if record["cgroup"]:
            try:
                LimitedCgroup.existing(record["cgroup"]["name"], record["cgroup"]["dirs"]).remove()
            except OSError as error:
                problems.append("cgroup %s: %s" % (record["cgroup"]["name"], error))
        slices_before.append(set(record.get("slices_before", [])))
        if not os.path.ismount(record["merged"]):
            shutil.rmtree(record["folder"], ignore_errors=True)
            os.remove(os.path.join(machines, entry))
    # Once every machine is off: what was there before the first of them booted stays.
    if slices_before:
        for slice_folder in sorted(set(container_slices()) - set.intersection(*slices_before)):
            if not remove_empty_tree(slice_folder):
                problems.append("%s still holds processes" % slice_folder)
    return problems


def machine_leader(nspawn_pid):
    """The machine's PID 1 as seen from the host: the systemd child of systemd-nspawn."""
    for entry in os.listdir("/proc"):
        if entry.isdigit() and process_is(int(entry), "systemd") and parent_of(int(entry)) == nspawn_pid:
            return int(entry)
    return None


def parent_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (IOError, OSError, ValueError, IndexError):
        return None


def power_off(record):
    """SIGTERM to systemd-nspawn shuts the machine down cleanly. A machine that is not down within
    30 s (its shutdown sometimes waits on a lingering session) or whose nspawn is gone is stopped
    by SIGKILL to its PID 1, which ends every process of its PID namespace: its disk is thrown
    away anyway. Returns what survived."""
    pid = record["nspawn_pid"]
    if pid and process_is(pid, "systemd-nspawn"):
        os.kill(pid, 15)
        if wait_gone(pid, "systemd-nspawn", 30):
            return []
    leader = record.get("leader_pid")
    if leader and process_is(leader, "systemd"):
        os.kill(leader, 9)
    if pid and process_is(pid, "systemd-nspawn"):
        os.kill(pid, 9)
    survivors = [name for number, name in ((leader, "systemd"), (pid, "systemd-nspawn"))
                 if number and not wait_gone(number, name, 10)]
    return ["%s of %s survived SIGKILL" % (name, record["name"]) for name in survivors]


def wait_gone(pid, name, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_is(pid, name):
            return True
        time.sleep(0.2)
    return False


def process_is(pid, name):
    """Whether pid is alive and runs ``name`` (a recorded PID may have been reused)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return os.path.basename(handle.read().split(b"\0")[0].decode()) == name
    except (IOError, OSError):
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="boot a machine")
    start.add_argument("state_dir")
    start.add_argument("name")
    start.add_argument("address", help="a loopback address of its own, e.g. 127.0.0.11")
    start.add_argument("--cpus", type=float, help="CPU quota of a small VM, e.g. 1.5")
    start.add_argument("--memory-mib", type=int, help="memory limit of a small VM, e.g. 1536")
    start.add_argument("--bind-ro", action="append", default=[], metavar="HOST_PATH:MACHINE_PATH",
                       help="a host folder to show read-only inside the machine (repeatable)")
    start.add_argument("--bind", action="append", default=[], metavar="HOST_PATH:MACHINE_PATH",
                       help="a host folder the machine may write, made when missing (repeatable)")
    stop = commands.add_parser("down", help="power off and remove every machine of a state folder")
    stop.add_argument("state_dir")
    args = parser.parse_args()
    try:
        if args.command == "up":
            if not args.address.startswith("127."):
                raise MachineError("test machines listen on loopback addresses only (127.0.0.0/8), got %s"
                                   % args.address)
            for bind in args.bind:
                os.makedirs(bind.split(":", 1)[0], exist_ok=True)
            print(json.dumps(up(os.path.abspath(args.state_dir), args.name, args.address, args.cpus,
                                args.memory_mib, args.bind_ro, args.bind)))
        else:
            problems = down(os.path.abspath(args.state_dir))
            if problems:
                sys.exit("left behind: " + "; ".join(problems))
    except (MachineError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or ""
        sys.exit("%s%s" % (error, ("\n" + detail) if detail else ""))


if __name__ == "__main__":
    main()
