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

import fcntl
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

import yaml

# tests/, where the harness package lives, when this file runs as a script.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness.throwaway import stop_process  # noqa: E402 pylint: disable=wrong-import-position

BUSYBOX = "/bin/busybox"
BUSYBOX_COMMANDS = ("sh", "sleep", "cat", "nproc")
HARNESS = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HARNESS))
STANDIN_CONTEXT = os.path.join(HARNESS, "standin")
# Built images and the Debian base, kept between runs.
CACHE = os.path.join(REPO_ROOT, ".build", "containers")
DEBIAN_BASE = "localhost/mcpgw-test-debian:trixie"
DEBIAN_MIRROR = "http://deb.debian.org/debian"


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
        # In the engine's own folder: Podman's conmon writes a file named "oom" into its working
        # directory when a container is OOM-killed.
        completed = subprocess.run([self.name, *arguments], env=self.env, input=stdin, capture_output=True,
                                   timeout=timeout, check=False, cwd=self.folder)
        if check and completed.returncode != 0:
            raise ContainerError("%s %s failed: %s" % (self.name, " ".join(arguments),
                                                       completed.stderr.decode(errors="replace")[-2000:]))
        return completed.stdout.decode(errors="replace").strip()

    def logs(self, name):
        """What the container wrote, stdout and stderr in one text (the engine splits them again)."""
        completed = subprocess.run([self.name, "logs", name], env=self.env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=60, check=False)
        return completed.stdout.decode(errors="replace")

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
    """Podman with a configuration of its own, and a storage of its own: a temporary one, or
    storage, a folder kept between runs (where built images are reused)."""

    name = "podman"

    def __init__(self, storage=None):
        super().__init__()
        if shutil.which("podman") is None:
            raise ContainerError("podman is not installed: apt-get install podman runc")
        self.storage = storage or self.folder
        configuration = os.path.join(self.folder, "containers.conf")
        with open(configuration, "w") as handle:
            handle.write('[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
                         '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
        storage = os.path.join(self.folder, "storage.conf")
        with open(storage, "w") as handle:
            handle.write('[storage]\ndriver = "overlay"\ngraphroot = "%s/graph"\nrunroot = "%s/run"\n'
                         % (self.storage, self.storage))
        self.env.update(CONTAINERS_CONF=configuration, CONTAINERS_STORAGE_CONF=storage)

    def stop(self):
        self.remove_containers()
        if self.storage == self.folder:
            self.command("image", "rm", "-f", self.image, check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


class Docker(Engine):
    """A dockerd of its own, on a socket in its folder, stopped by its PID. Without networks by
    default; with networks, the default bridge and docker-proxy publish ports (still no iptables
    rules on the host)."""

    name = "docker"

    def __init__(self, networks=False):
        super().__init__()
        # dockerd makes the bridge docker0 and leaves it: removed at the end when this made it.
        self.made_bridge = networks and not os.path.exists("/sys/class/net/docker0")
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
                 "--host", self.env["DOCKER_HOST"], *([] if networks else ["--bridge", "none"]),
                 "--iptables=false", "--ip6tables=false",
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
            stop_process(self.daemon, timeout=60)
        if self.made_bridge:
            subprocess.run(["ip", "link", "delete", "docker0"], capture_output=True, timeout=30, check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def copy_image(source, target, image):
    """image from one engine's storage into the other's (docker-archive through a pipe)."""
    save = [source.name, "save"] + (["--format", "docker-archive"] if source.name == "podman" else []) + [image]
    with subprocess.Popen(save, env=source.env, stdout=subprocess.PIPE) as saved:
        loaded = subprocess.run([target.name, "load"], env=target.env, stdin=saved.stdout, capture_output=True,
                                timeout=600, check=False)
        saved.stdout.close()
        saved_status = saved.wait(timeout=60)
    if saved_status != 0 or loaded.returncode != 0:
        problem = loaded.stderr.decode(errors="replace")[-2000:]
        raise ContainerError("%s could not load %s from %s: %s" % (target.name, image, source.name, problem))


def gateway_pins():
    """The gateway and uvicorn-worker versions the gateway role installs (its defaults)."""
    with open(os.path.join(REPO_ROOT, "roles", "gateway", "defaults", "main.yml")) as handle:
        defaults = yaml.safe_load(handle)
    pins = dict(gateway=str(defaults["gateway_version"]))
    for requirement in defaults["gateway_packages"]:
        if requirement.startswith("uvicorn-worker=="):
            pins["uvicorn_worker"] = requirement.split("==", 1)[1]
    return pins


def debian_base(podman, cache):
    """Debian trixie (minbase, from the mirror apt uses) as DEBIAN_BASE in Podman's storage; the
    tar of its root is kept in cache for the next run. debootstrap needs root. Test workers that
    ask at once wait on a lock: one makes it."""
    os.makedirs(cache, exist_ok=True)
    with open(os.path.join(cache, "debian-base.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if subprocess.run(["podman", "image", "exists", DEBIAN_BASE], env=podman.env, check=False).returncode != 0:
            import_debian_base(podman, os.path.join(cache, "debian-trixie-minbase.tar"), cache)


def import_debian_base(podman, archive, cache):
    """The root of a debootstrap (archive, made first where missing) imported as DEBIAN_BASE."""
    if not os.path.exists(archive):
        if shutil.which("debootstrap") is None:
            raise ContainerError("debootstrap is not installed: apt-get install debootstrap")
        root = tempfile.mkdtemp(prefix="debootstrap-", dir=cache)
        try:
            completed = subprocess.run(["debootstrap", "--variant=minbase", "trixie", root, DEBIAN_MIRROR],
                                       capture_output=True, text=True, timeout=900, check=False)
            if completed.returncode != 0:
                raise ContainerError("debootstrap failed: %s" % (completed.stdout + completed.stderr)[-2000:])
            for name in os.listdir(os.path.join(root, "var", "cache", "apt", "archives")):
                if name.endswith(".deb"):
                    os.remove(os.path.join(root, "var", "cache", "apt", "archives", name))
            subprocess.run(["tar", "--numeric-owner", "-C", root, "-cf", archive + ".part", "."], check=True,
                           timeout=300)
            os.rename(archive + ".part", archive)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    with open(archive, "rb") as handle:
        completed = subprocess.run(["podman", "import", "--change", 'CMD ["/bin/bash"]', "-", DEBIAN_BASE],
                                   stdin=handle, env=podman.env, capture_output=True, timeout=300, check=False)
    if completed.returncode != 0:
        raise ContainerError("podman import of the Debian base failed: %s" % completed.stderr.decode()[-2000:])


def copy_host_certificates(folder):
    """The host's extra CAs (of update-ca-certificates) into folder, for a build to reach the
    package indexes as the host does."""
    os.makedirs(folder)
    extra = "/usr/local/share/ca-certificates"
    for name in os.listdir(extra) if os.path.isdir(extra) else ():
        if name.endswith(".crt"):
            shutil.copy2(os.path.join(extra, name), folder)


def standin_tag():
    """The stand-in's tag: the gateway's version and a digest of the build context, so that a
    change of either builds a new image and an unchanged one is reused."""
    pins = gateway_pins()
    digest = hashlib.sha256(repr(sorted(pins.items())).encode())
    for name in sorted(os.listdir(STANDIN_CONTEXT)):
        with open(os.path.join(STANDIN_CONTEXT, name), "rb") as handle:
            digest.update(name.encode() + b"\0" + handle.read())
    return "localhost/mcpgw-standin:%s-%s" % (pins["gateway"], digest.hexdigest()[:12])


def build_standin(podman, cache):
    """The stand-in image of upstream's (tests/harness/standin) in Podman's storage, built once and
    reused while its context and the gateway's version stay the same; returns its tag. Several
    test workers may ask at once: one builds, the others wait on the lock."""
    tag = standin_tag()
    os.makedirs(cache, exist_ok=True)
    with open(os.path.join(cache, "standin.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if subprocess.run(["podman", "image", "exists", tag], env=podman.env, check=False).returncode == 0:
            return tag
        debian_base(podman, cache)
        context = tempfile.mkdtemp(prefix="standin-", dir=cache)
        try:
            for name in os.listdir(STANDIN_CONTEXT):
                shutil.copy2(os.path.join(STANDIN_CONTEXT, name), context)
            copy_host_certificates(os.path.join(context, "ca-certificates"))
            pins = gateway_pins()
            completed = subprocess.run(
                ["podman", "build", "--format", "docker", "--build-arg", "GATEWAY_VERSION=" + pins["gateway"],
                 "--build-arg", "UVICORN_WORKER_VERSION=" + pins["uvicorn_worker"], "-t", tag, context],
                env=podman.env, capture_output=True, text=True, timeout=1800, check=False)
            if completed.returncode != 0:
                output = completed.stdout + completed.stderr
                raise ContainerError("the stand-in image did not build: %s" % output[-3000:])
        finally:
            shutil.rmtree(context, ignore_errors=True)
    return tag


def standin_podman():
    """(Podman on the tests' kept storage, the stand-in image's tag), built on the first call of a
    run. Raises ContainerError when it cannot be: without root (debootstrap), or without Podman."""
    if os.geteuid() != 0:
        raise ContainerError("building the stand-in image needs root (debootstrap)")
    podman = Podman(storage=os.path.join(CACHE, "podman"))
    return podman, build_standin(podman, CACHE)


def main():
    """python tests/harness/containers.py standin OUT.json: build the stand-in image (or reuse it), and
    write its tag and the folder of the storage that holds it (Molecule's container scenario shows
    that folder read-only to the machine's Podman, as an additional image store)."""
    if len(sys.argv) != 3 or sys.argv[1] != "standin":
        sys.exit("usage: containers.py standin OUT.json")
    try:
        podman, image = standin_podman()
    except ContainerError as reason:
        sys.exit(str(reason))
    podman.stop()
    with open(sys.argv[2], "w") as handle:
        json.dump({"image": image, "store": os.path.join(CACHE, "podman", "graph")}, handle)


if __name__ == "__main__":
    main()
