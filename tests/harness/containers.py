# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real container engines for the tests, kept apart from anything else on the machine.

No registry is reachable here, so images are imported from a folder: a busybox image holds only
the static busybox binary (enough for a container that sleeps under limits). Podman runs with a
configuration and a storage of its own (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF: runc and
cgroupfs, which work on this hybrid cgroup v1 host where crun does not). Docker is a dockerd of its
own, on a socket, data and exec root in a folder of its own and without networking (no bridge, no
iptables): the tests reach it with DOCKER_HOST, and stop it by its PID.
Every container a test starts is removed by its name at the end.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time

BUSYBOX = "/bin/busybox"
BUSYBOX_COMMANDS = ("sh", "sleep", "cat", "nproc")


class ContainerError(Exception):
    pass


def busybox_image_tar():
    """The tar of a root filesystem with busybox and a few of its commands, as bytes."""
    if not os.path.exists(BUSYBOX):
        raise ContainerError("%s is missing: apt-get install busybox-static" % BUSYBOX)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for folder in ("bin", "tmp"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            archive.addfile(info)
        archive.add(BUSYBOX, arcname="bin/busybox")
        for command in BUSYBOX_COMMANDS:
            info = tarfile.TarInfo("bin/" + command)
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            archive.addfile(info)
    return buffer.getvalue()


class Engine:
    """What both engines share: a command with an environment of its own, and the containers
    started through it, removed by name at the end."""

    name = None
    image = "localhost/mcpgw-test-busybox:1"

    def __init__(self):
        self.folder = tempfile.mkdtemp(prefix="mcpgw-%s-" % self.name)
        self.env = dict(os.environ)
        self.containers = []

    def command(self, *arguments, check=True, stdin=None, timeout=120):
        completed = subprocess.run([self.name, *arguments], env=self.env, input=stdin, capture_output=True,
                                   timeout=timeout, check=False)
        if check and completed.returncode != 0:
            raise ContainerError("%s %s failed: %s" % (self.name, " ".join(arguments),
                                                       completed.stderr.decode(errors="replace")[-2000:]))
        return completed.stdout.decode(errors="replace").strip()

    def import_busybox(self):
        self.command("import", "--change", 'CMD ["/bin/sleep", "3600"]', "-", self.image, stdin=busybox_image_tar())
        return self.image

    def run(self, name, *options, start=True):
        """A container of the busybox image that sleeps, created with these options."""
        self.containers.append(name)
        self.command("create", "--name", name, "--network", "none", *options, self.image)
        if start:
            self.command("start", name)
        return name

    def remove_containers(self):
        for name in self.containers:
            self.command("rm", "-f", name, check=False)
        self.containers = []

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def stop(self):
        raise NotImplementedError


class Podman(Engine):
    name = "podman"

    def __init__(self):
        super().__init__()
        if shutil.which("podman") is None:
            raise ContainerError("podman is not installed: apt-get install podman runc")
        configuration = os.path.join(self.folder, "containers.conf")
        with open(configuration, "w") as handle:
            handle.write('[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
                         '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
        storage = os.path.join(self.folder, "storage.conf")
        with open(storage, "w") as handle:
            handle.write('[storage]\ndriver = "overlay"\ngraphroot = "%s/graph"\nrunroot = "%s/run"\n'
                         % (self.folder, self.folder))
        self.env.update(CONTAINERS_CONF=configuration, CONTAINERS_STORAGE_CONF=storage)

    def stop(self):
        self.remove_containers()
        self.command("image", "rm", "-f", self.image, check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


class Docker(Engine):
    name = "docker"

    def __init__(self):
        super().__init__()
        dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
        if not os.path.exists(dockerd) or shutil.which("docker") is None:
            raise ContainerError("dockerd is not installed: apt-get install docker.io")
        socket = os.path.join(self.folder, "docker.sock")
        self.env["DOCKER_HOST"] = "unix://" + socket
        self.log_path = os.path.join(self.folder, "dockerd.log")
        with open(self.log_path, "wb") as log:
            self.daemon = subprocess.Popen(  # pylint: disable=consider-using-with
                [dockerd, "--data-root", os.path.join(self.folder, "data"), "--exec-root",
                 os.path.join(self.folder, "exec"), "--pidfile", os.path.join(self.folder, "dockerd.pid"),
                 "--host", self.env["DOCKER_HOST"], "--bridge", "none", "--iptables=false", "--ip6tables=false",
                 "--containerd-namespace", "mcpgw-test", "--containerd-plugins-namespace", "mcpgw-test-plugins"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while self.command("version", "--format", "{{.Server.Version}}", check=False, timeout=10) == "":
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                self.stop()
                with open(self.log_path) as handle:
                    raise ContainerError("dockerd did not start: %s" % handle.read()[-2000:])
            time.sleep(0.5)

    def stop(self):
        if self.daemon.poll() is None:
            self.remove_containers()
            self.command("image", "rm", "-f", self.image, check=False)
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait(timeout=30)
        shutil.rmtree(self.folder, ignore_errors=True)
