"""The `lab` environment's machines: pristine Debian 12 hosts as privileged containers on a Docker network of the
project's own, reached by Ansible over real SSH, and the image registry they pull from.

Everything is read from inventories/lab (one source): the hosts and their addresses (hosts.yml), the network and
subnet (`lab_network`, `lab_subnet`), the SSH user (`ansible_user`), and the registry (`images_registry`: the address
the hosts pull from; `images_registry_push`: the published port the controller pushes to).

- `up()` creates the network, the lab's SSH key (build/lab/ssh, never committed, mode 0600), the registry's TLS
  certificate (build/lab/registry), the registry container and one container per host (the pristine image plus sshd,
  python3, sudo and a non-root user: files/lab/Dockerfile), records each host's key in build/lab/ssh/known_hosts
  (read from the container, so Ansible keeps checking host keys), then proves SSH and `sudo` on every host;
- `down()` removes all of it; `status()` prints each machine's state and whether it answers.
Nothing here deploys: `ansible-playbook -i inventories/lab site.yml` does (alertstack.stack.deploy).
"""
from __future__ import annotations

import io
import os
import shutil
import ssl
import subprocess
import tarfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from alertstack import ansible, pristine
from alertstack.images import OFFLINE, REGISTRY
from alertstack.paths import IMAGES_DIR, REPO_ROOT
from alertstack.progress import say, wait_until

ENV = "lab"
PREFIX = "ai-alerting-"  # every container, volume and network of the lab starts with ai-alerting-lab
HOST_IMAGE = "ai-alerting-lab/host:bookworm"
HOST_DOCKERFILE = REPO_ROOT / "files" / "lab" / "Dockerfile"
LAB_DIR = REPO_ROOT / "build" / "lab"
SSH_DIR = LAB_DIR / "ssh"
KEY = SSH_DIR / "id_ed25519"
KNOWN_HOSTS = SSH_DIR / "known_hosts"
TLS_DIR = LAB_DIR / "registry"
REGISTRY_CONTAINER = f"{PREFIX}lab-registry"
REGISTRY_PORT = 5000


class LabError(RuntimeError):
    """The lab cannot be brought up (a command failed, the inventory is incomplete, a host does not answer)."""


@dataclass(frozen=True)
class Lab:
    network: str
    subnet: str
    user: str
    hosts: dict[str, str]          # inventory name -> address on the lab network
    registry_address: str          # where the hosts reach the registry (host part of images_registry)
    registry_push_port: int        # the registry's port published on 127.0.0.1 for the controller's pushes

    def container(self, host: str) -> str:
        return f"{PREFIX}{host}"


def _endpoint(value: str, what: str) -> tuple[str, int]:
    host, _, port = str(value).partition(":")
    if not host or not port.isdigit():
        raise LabError(f"inventories/{ENV}: {what} must be ADDRESS:PORT, got {value!r}")
    return host, int(port)


def read_spec() -> Lab:
    """The lab's machines as inventories/lab describes them."""
    inventory = ansible.inventory_vars(ENV)
    hostvars = inventory["_meta"]["hostvars"]
    hosts = {name: str(hv.get("ansible_host", "")) for name, hv in sorted(hostvars.items())}
    missing = [name for name, address in hosts.items() if not address]
    if not hosts or missing:
        raise LabError(f"inventories/{ENV}: every host needs an ansible_host address (missing: {', '.join(missing)})")
    first = next(iter(hostvars.values()))
    for key in ("lab_network", "lab_subnet", "ansible_user", "images_registry", "images_registry_push"):
        if not first.get(key):
            raise LabError(f"inventories/{ENV}: {key} is not set")
    registry, port = _endpoint(first["images_registry"], "images_registry")
    push_host, push_port = _endpoint(first["images_registry_push"], "images_registry_push")
    if port != REGISTRY_PORT or push_host != "127.0.0.1":
        raise LabError(f"inventories/{ENV}: the lab registry listens on port {REGISTRY_PORT} and is published on "
                       f"127.0.0.1 (images_registry ADDRESS:{REGISTRY_PORT}, images_registry_push 127.0.0.1:PORT)")
    return Lab(network=first["lab_network"], subnet=first["lab_subnet"], user=first["ansible_user"], hosts=hosts,
               registry_address=registry, registry_push_port=push_port)


def _docker(*args: str, check: bool = True, timeout: int = 900, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise LabError(f"docker {' '.join(args[:3])} failed: {(proc.stderr or proc.stdout).strip()[-1500:]}")
    return proc


def _exists(kind: str, name: str) -> bool:
    return _docker(kind, "inspect", name, check=False).returncode == 0


def _running(name: str) -> bool:
    proc = _docker("inspect", "-f", "{{.State.Running}}", name, check=False)
    return proc.returncode == 0 and proc.stdout.strip() == "true"


# --- files on the controller: the SSH key, the registry's certificate ----------------------------------------------

def ensure_key() -> Path:
    """The lab's SSH key pair (ed25519, no passphrase), private file 0600 in a 0700 directory."""
    SSH_DIR.mkdir(parents=True, exist_ok=True)
    SSH_DIR.chmod(0o700)
    if not KEY.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ai-alerting-lab", "-f", str(KEY)],
                       check=True, capture_output=True)
    KEY.chmod(0o600)
    return KEY


def ensure_certificate(lab: Lab) -> Path:
    """A self-signed certificate for the registry's lab address (the hosts trust it: images_registry_ca)."""
    cert, key = TLS_DIR / "cert.pem", TLS_DIR / "key.pem"
    TLS_DIR.mkdir(parents=True, exist_ok=True)
    TLS_DIR.chmod(0o755)
    if not cert.exists() or not key.exists():
        proc = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-days", "30", "-subj", f"/CN={REGISTRY_CONTAINER}", "-keyout", str(key), "-out", str(cert),
             "-addext", f"subjectAltName=IP:{lab.registry_address},IP:127.0.0.1,DNS:localhost"],
            capture_output=True, text=True)
        if proc.returncode != 0:
            raise LabError(f"openssl could not make the registry certificate: {proc.stderr.strip()[-500:]}")
    # The registry runs as 65534: it alone (and root) reads the key.
    os.chown(key, 65534, 65534)
    key.chmod(0o600)
    cert.chmod(0o644)
    return cert


# --- images -------------------------------------------------------------------------------------------------------

def _settings_context(dockerfile: Path) -> bytes:
    """A build context: the Dockerfile and, under settings/, what every fresh machine here is given."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:  # what `docker build -` reads
        tar.add(dockerfile, arcname="Dockerfile")
        with tarfile.open(fileobj=io.BytesIO(pristine.host_settings())) as settings:
            for member in settings.getmembers():
                data = settings.extractfile(member) if member.isfile() else None
                member.name = f"settings/{member.name}"
                tar.addfile(member, data)
    return buffer.getvalue()


def ensure_host_image() -> str:
    """HOST_IMAGE: the pristine Debian 12 image plus sshd, python3, sudo and the deploy user (built once)."""
    if _exists("image", HOST_IMAGE):
        return HOST_IMAGE
    base = pristine.ensure_image()
    say(f"lab: building {HOST_IMAGE} from {base} (sshd, python3, sudo)")
    proc = subprocess.run(["docker", "build", "--network", "host", "-q", "-t", HOST_IMAGE,
                           "--build-arg", f"BASE_IMAGE={base}", "-"], input=_settings_context(HOST_DOCKERFILE),
                          capture_output=True, timeout=900)
    if proc.returncode != 0:
        raise LabError(f"building {HOST_IMAGE} failed: {proc.stderr.decode(errors='replace')[-1500:]}")
    return HOST_IMAGE


def ensure_registry_image() -> str:
    """REGISTRY: Debian's docker-registry on the offline base (files/images/registry), built once."""
    if _exists("image", REGISTRY):
        return REGISTRY
    base = OFFLINE["base"]
    if not _exists("image", base):
        raise LabError(f"the offline base image {base} is missing: build the offline images first "
                       "(ansible-playbook -i inventories/local tests/images.yml, or invoke up)")
    say(f"lab: building {REGISTRY} from Debian's docker-registry package")
    _docker("build", "--network", "host", "-q", "-t", REGISTRY, "--build-arg", f"BASE_IMAGE={base}",
            "-f", str(IMAGES_DIR / "registry" / "Dockerfile"), str(IMAGES_DIR))  # context: the shared install step
    return REGISTRY


# --- machines -----------------------------------------------------------------------------------------------------

def ensure_network(lab: Lab) -> None:
    if _exists("network", lab.network):
        subnet = _docker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", lab.network)
        if subnet.stdout.strip() != lab.subnet:
            raise LabError(f"network {lab.network} exists with subnet {subnet.stdout.strip()}, not {lab.subnet}: "
                           "run `invoke lab down` first")
        return
    _docker("network", "create", "--driver", "bridge", "--subnet", lab.subnet, "--label", "ai-alerting.lab=1",
            lab.network)


def start_registry(lab: Lab) -> None:
    if _running(REGISTRY_CONTAINER):
        return
    _docker("rm", "-f", REGISTRY_CONTAINER, check=False)
    _docker("run", "-d", "--name", REGISTRY_CONTAINER, "--network", lab.network, "--ip", lab.registry_address,
            "--label", "ai-alerting.lab=1", "--restart", "unless-stopped",
            "-p", f"127.0.0.1:{lab.registry_push_port}:{REGISTRY_PORT}",
            "-v", f"{REGISTRY_CONTAINER}:/var/lib/registry", "-v", f"{TLS_DIR}:/certs:ro",
            "-e", "REGISTRY_HTTP_TLS_CERTIFICATE=/certs/cert.pem", "-e", "REGISTRY_HTTP_TLS_KEY=/certs/key.pem",
            ensure_registry_image())


def registry_answers(lab: Lab) -> bool:
    """The registry's API answers over TLS with the lab's certificate (what a host's Docker checks)."""
    context = ssl.create_default_context(cafile=str(TLS_DIR / "cert.pem"))
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{lab.registry_push_port}/v2/", timeout=5,
                                    context=context) as resp:
            return resp.status == 200
    except OSError:
        return False


def _authorized_keys(user: str) -> bytes:
    buffer = io.BytesIO()
    data = KEY.with_suffix(".pub").read_bytes()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(f"home/{user}/.ssh/authorized_keys")
        info.size, info.mode = len(data), 0o600
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def start_host(lab: Lab, host: str) -> None:
    """One pristine host: privileged (it runs its own Docker engine), /var/lib/docker on a volume of its own."""
    name = lab.container(host)
    if _running(name):
        return
    _docker("rm", "-f", name, check=False)
    _docker("run", "-d", "--privileged", "--init", "--name", name, "--hostname", host, "--label", "ai-alerting.lab=1",
            "--network", lab.network, "--ip", lab.hosts[host], "-v", f"{name}-docker:/var/lib/docker",
            ensure_host_image())
    pristine.copy_into(name, _authorized_keys(lab.user), "/")
    _docker("exec", name, "sh", "-c", f"chown -R {lab.user}: /home/{lab.user}/.ssh && chmod 0700 /home/{lab.user}/.ssh")


def host_key(lab: Lab, host: str) -> str | None:
    """The host's ed25519 public key ("ssh-ed25519 AAAA..."), once sshd's start has made it."""
    proc = _docker("exec", lab.container(host), "cat", "/etc/ssh/ssh_host_ed25519_key.pub", check=False)
    fields = proc.stdout.split()
    return " ".join(fields[:2]) if proc.returncode == 0 and len(fields) >= 2 else None


def write_known_hosts(lab: Lab) -> None:
    """Each host's key, read from the container itself (not trusted on first use over the network)."""
    lines = []
    for host, address in lab.hosts.items():
        key = wait_until(f"{host}'s SSH host key", lambda h=host: host_key(lab, h), 60, 1)
        if not key:
            raise LabError(f"{host} made no SSH host key: docker logs {lab.container(host)}")
        lines.append(f"{address} {key}\n")
    KNOWN_HOSTS.write_text("".join(lines))
    KNOWN_HOSTS.chmod(0o644)


def ssh_command(lab: Lab, host: str, command: str) -> list[str]:
    """ssh to a lab host as Ansible does: the lab key, its known_hosts, strict host key checking."""
    return ["ssh", "-i", str(KEY), "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={KNOWN_HOSTS}",
            "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=5", f"{lab.user}@{lab.hosts[host]}", command]


def fetch(lab: Lab, host: str, path: str, dest: Path) -> Path:
    """Copy what `host` holds at `path` (a directory, read as root: what Ansible deployed there) into `dest`
    on the controller; returns dest/<basename of path>. The tests and the drills read deployed files this way."""
    parent, _, name = str(path).rstrip("/").rpartition("/")
    proc = subprocess.run(ssh_command(lab, host, f"sudo -n tar -C {parent or '/'} -cf - {name}"), capture_output=True,
                          timeout=120)
    if proc.returncode != 0:
        raise LabError(f"{host}: cannot read {path}: {proc.stderr.decode(errors='replace').strip()[-500:]}")
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest / name


def can_become(lab: Lab, host: str) -> bool:
    """SSH as the lab user works and `sudo` makes it root."""
    proc = subprocess.run(ssh_command(lab, host, "sudo -n id -u"), capture_output=True, text=True, timeout=30)
    return proc.returncode == 0 and proc.stdout.strip() == "0"


def up() -> int:
    """Bring up the network, the registry and every host; 0 once every host answers SSH and `sudo`."""
    start = time.monotonic()
    lab = read_spec()
    ensure_key()
    ensure_certificate(lab)
    ensure_network(lab)
    say(f"lab: network {lab.network} ({lab.subnet}); registry {lab.registry_address}:{REGISTRY_PORT} "
        f"(pushed to on 127.0.0.1:{lab.registry_push_port})")
    start_registry(lab)
    for host in lab.hosts:
        start_host(lab, host)
    write_known_hosts(lab)
    if not wait_until("the registry answers over TLS", lambda: registry_answers(lab), 60, 1):
        raise LabError(f"the registry does not answer: docker logs {REGISTRY_CONTAINER}")
    for host in lab.hosts:
        if not wait_until(f"ssh {lab.user}@{lab.hosts[host]} ({host}) and sudo", lambda h=host: can_become(lab, h),
                          60, 1):
            raise LabError(f"{host} does not answer SSH with the lab key, or sudo fails: docker logs "
                           f"{lab.container(host)}")
    say(f"lab: {len(lab.hosts)} hosts up in {time.monotonic() - start:.1f}s; "
        f"deploy with: ansible-playbook -i inventories/{ENV} site.yml")
    return 0


def down() -> int:
    """Remove every host, the registry, their volumes, the network, the controller's push tags and build/lab (key,
    certificate)."""
    lab = read_spec()
    names = [lab.container(h) for h in lab.hosts] + [REGISTRY_CONTAINER]
    _docker("rm", "-f", *names, check=False)
    _docker("volume", "rm", "-f", *[f"{lab.container(h)}-docker" for h in lab.hosts], REGISTRY_CONTAINER, check=False)
    if _exists("network", lab.network):
        _docker("network", "rm", lab.network)
    # The controller's tags for pushing to the registry (the images keep their own names).
    pushed = _docker("images", "--format", "{{.Repository}}:{{.Tag}}", "--filter",
                     f"reference=127.0.0.1:{lab.registry_push_port}/*/*", check=False).stdout.split()
    if pushed:
        _docker("rmi", *pushed, check=False)
    shutil.rmtree(LAB_DIR, ignore_errors=True)
    say(f"lab: removed {len(names)} containers, their volumes, network {lab.network} and {len(pushed)} push tags")
    return 0


def status() -> int:
    """Print each machine's state; 0 when every host answers SSH and sudo and the registry answers."""
    lab = read_spec()
    ok = True
    say(f"{'machine':22} {'address':14} {'container':10} answers")
    for host, address in lab.hosts.items():
        running = _running(lab.container(host))
        answers = running and KEY.exists() and KNOWN_HOSTS.exists() and can_become(lab, host)
        ok = ok and answers
        say(f"{host:22} {address:14} {'running' if running else 'absent':10} {'ssh+sudo' if answers else 'no'}")
    running = _running(REGISTRY_CONTAINER)
    answers = running and registry_answers(lab)
    ok = ok and answers
    say(f"{'registry':22} {lab.registry_address:14} {'running' if running else 'absent':10} "
        f"{'https /v2/' if answers else 'no'}")
    return 0 if ok else 1

