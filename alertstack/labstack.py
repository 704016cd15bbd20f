"""The drills' stack in the `lab` environment: the LocalStack the faults and the drill runner act on, with its
files and its docker commands on the lab's hosts, reached over SSH as Ansible reaches them (alertstack.lab).

- URLs: the inventory's (alertstack.endpoints.for_env): the first monitoring host's Prometheus and Alertmanager, the
  notification sink, the first inference host's gateway (`demo_gateway_url`).
- `root`: a copy of what Ansible deployed on the first monitoring host (its stack root's prometheus/ and
  alertmanager/: SLOs, rule files, alertmanager.yml), fetched into build/lab/deployed/<host>; the drills read it.
- The drills' history (alertstack.drills.history): its TSDB blocks go into every monitoring host's Prometheus.
- The gateway's release files and the demo containers: on every inference host, since a release rolls out to the
  whole fleet (each host's own steady traffic then sees the same error share). Files are written as root
  (`sudo -n`), atomically (a new inode, which the gateway's directory mount sees at once), mode 0644.
"""
from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from alertstack import ansible, endpoints, lab
from alertstack.localstack import LocalStack

DEPLOYED_DIR = lab.LAB_DIR / "deployed"


class LabStackError(RuntimeError):
    """A command on a lab host failed (the message names the host and the command)."""


@dataclass
class LabStack(LocalStack):
    spec: lab.Lab | None = None
    remote_root: PurePosixPath = PurePosixPath("/opt/ai-alerting")
    inference_hosts: tuple[str, ...] = field(default_factory=tuple)
    monitoring_hosts: tuple[str, ...] = field(default_factory=tuple)

    # The release directory is the hosts' (remote) path, so LocalStack's release_file and previous_release_file
    # are remote too; the controller-side state stays under the local copy.
    @property
    def release_dir(self) -> PurePosixPath:
        return self.remote_root / "demo" / "gateway"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    def _run(self, host: str, command: str, stdin: str | None = None) -> str:
        proc = subprocess.run(lab.ssh_command(self.spec, host, command), input=stdin, capture_output=True, text=True,
                              timeout=120)
        if proc.returncode != 0:
            raise LabStackError(f"{host}: `{command}` failed: {(proc.stderr or proc.stdout).strip()[-500:]}")
        return proc.stdout

    def _each(self, command: str, stdin: str | None = None) -> list[str]:
        return [self._run(host, command, stdin) for host in self.inference_hosts]

    def read_file(self, path) -> str:
        """The file on the first inference host (every host holds the same release)."""
        try:
            return self._run(self.inference_hosts[0], f"sudo -n cat {shlex.quote(str(path))}")
        except LabStackError as exc:
            raise FileNotFoundError(str(exc)) from None

    def write_file(self, path, text: str) -> None:
        target = PurePosixPath(str(path))
        tmp = shlex.quote(str(target.with_name(f".{target.name}.tmp")))
        self._each(f"sudo -n sh -c 'cat > {tmp} && chmod 0644 {tmp} && mv -f {tmp} {shlex.quote(str(target))}'",
                   stdin=text)

    def move_file(self, source, target) -> None:
        self._each(f"sudo -n mv -f {shlex.quote(str(source))} {shlex.quote(str(target))}")

    def file_exists(self, path) -> bool:
        return any(out.strip() == "yes" for out in
                   self._each(f"sudo -n test -e {shlex.quote(str(path))} && echo yes || echo no"))

    def load_prometheus_block(self, block: Path) -> None:
        """A TSDB block (alertstack.drills.history) into the data directory of every monitoring host's Prometheus:
        sent over SSH, copied into the container under a staging name, then renamed (never seen half-copied)."""
        name = shlex.quote(block.name)
        container = shlex.quote(self.container("prometheus"))
        data = subprocess.run(["tar", "-C", str(block.parent), "-cf", "-", block.name], capture_output=True,
                              check=True).stdout
        script = (f"set -e; d=$(mktemp -d); trap 'rm -rf $d' EXIT; tar -x -C $d; "
                  f"docker cp -a $d/{name} {container}:/prometheus/{name}.backfill; "
                  f"docker exec {container} mv /prometheus/{name}.backfill /prometheus/{name}")
        for host in self.monitoring_hosts:
            proc = subprocess.run(lab.ssh_command(self.spec, host, f"sudo -n sh -c {shlex.quote(script)}"), input=data,
                                  capture_output=True, timeout=300)
            if proc.returncode != 0:
                raise LabStackError(f"{host}: loading block {block.name} into Prometheus failed: "
                                    f"{proc.stderr.decode(errors='replace').strip()[-500:]}")

    def docker(self, *args: str, timeout: int = 60) -> str:
        """`docker ARGS` on every inference host (as root); the first host's output."""
        return self._each("sudo -n docker " + shlex.join(args))[0].strip()


def from_inventory(env: str = lab.ENV) -> LabStack:
    """The lab as its inventory declares it, with the deployed configuration fetched from the first monitoring
    host (read again on each call: what is deployed now)."""
    inventory = ansible.inventory_vars(env)
    hostvars = inventory["_meta"]["hostvars"]
    monitoring = inventory["monitoring"]["hosts"][0]
    spec = lab.read_spec()
    remote_root = PurePosixPath(hostvars[monitoring].get("stack_root", "/opt/ai-alerting"))
    local_root = DEPLOYED_DIR / monitoring
    shutil.rmtree(local_root, ignore_errors=True)
    for part in ("prometheus", "alertmanager"):
        lab.fetch(spec, monitoring, str(remote_root / part), local_root)
    ep = endpoints.for_env(env)
    hv = hostvars[monitoring]
    stack = LabStack(root=local_root, project=hv.get("stack_project", "ai-alerting"),
                     prometheus_url=ep.prometheus_url, alertmanager_url=ep.alertmanager_url, auth=ep.auth,
                     spec=spec, remote_root=remote_root,
                     inference_hosts=tuple(inventory.get("inference", {}).get("hosts", [])),
                     monitoring_hosts=tuple(inventory["monitoring"]["hosts"]))
    if ep.sink_url:
        stack.sink_url = ep.sink_url
    if ep.gateway_url:
        stack.gateway_url = ep.gateway_url
    return stack
