"""What Ansible rendered, read back: the one place tests, `invoke docs` and the drills get the Alertmanager
configuration, the Prometheus rule files and the SLOs from.

Nothing here builds a configuration. The inventory and the role defaults are resolved by Ansible itself:
- `for_env(env)`: the stack root `invoke render` wrote for ENV (out/<env>/<host>/<stack_root>), rendered again only
  when the inputs changed since (fingerprint of the roles, playbooks, plugins, package and the env's inventory);
- `deployed(root)`: the stack root a deploy wrote (/opt/ai-alerting for `local`), which the drills read;
- `role_policy(overrides)`: alertmanager.yml as the alertmanager role assembles it from its own defaults with no
  inventory (its template, run by ansible-playbook; `overrides` are extra vars): the policy as the role ships it,
  which docs/alerting-policy.md documents.

A StackRoot gives alertmanager.yml, the rule files and the SLO list the prometheus role wrote next to them
(prometheus/slos.json, validated by alertstack.slo on load).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import yaml

from alertstack.paths import INVENTORIES, REPO_ROOT, ROLES

if TYPE_CHECKING:
    from alertstack import slo as slo_types

DEFAULT_CACHE = REPO_ROOT / "out"
CACHE_ENV_VAR = "ALERTSTACK_RENDER_CACHE"  # another cache directory than out/ (tests, parallel sessions)
STAMP = ".render-inputs"                    # fingerprint of the inputs, written next to the hosts' directories
DEPLOYED_ROOT = Path("/opt/ai-alerting")    # stack_root of inventories/local

# Everything a render reads besides the inventory (molecule scenarios and READMEs do not change what is rendered).
_INPUTS = ("site.yml", "ansible.cfg", "pyproject.toml", "playbooks", "roles", "plugins", "filter_plugins",
           "alertstack", "apps", "files")
_SKIP_DIRS = {"__pycache__", "molecule", ".pytest_cache"}


class RenderedError(RuntimeError):
    """A rendered file that is missing or unreadable, or a render that failed; the message says which and why."""


@dataclass(frozen=True)
class StackRoot:
    """One host's stack root as Ansible wrote it (rendered or deployed)."""
    path: Path

    def _file(self, relative: str) -> Path:
        path = Path(self.path) / relative
        if not path.is_file():
            raise RenderedError(f"{path} does not exist (render or deploy the environment first)")
        return path

    @property
    def alertmanager_file(self) -> Path:
        return self._file("alertmanager/alertmanager.yml")

    def alertmanager_config(self) -> dict:
        """alertmanager.yml as a dict."""
        return yaml.safe_load(self.alertmanager_file.read_text())

    def service_command(self, component: str, service: str) -> list[str]:
        """The command line (flags) of `service` in compose/<component>.yml."""
        path = self._file(f"compose/{component}.yml")
        services = (yaml.safe_load(path.read_text()) or {}).get("services") or {}
        if service not in services:
            raise RenderedError(f"{path} defines no service {service!r}; services: {', '.join(services)}")
        return [str(arg) for arg in services[service].get("command") or []]

    @property
    def rules_dir(self) -> Path:
        return Path(self.path) / "prometheus" / "rules"

    def rule_files(self) -> dict[str, dict]:
        """{file name: parsed rule file} of prometheus/rules/."""
        files = {p.name: yaml.safe_load(p.read_text()) for p in sorted(self.rules_dir.glob("*.yml"))}
        if not files:
            raise RenderedError(f"{self.rules_dir} holds no rule file")
        return files

    def alert_rules(self) -> list[dict]:
        """Every alerting rule of the rule files, in file and group order."""
        return [rule for doc in self.rule_files().values() for group in doc.get("groups") or []
                for rule in group.get("rules") or [] if "alert" in rule]

    def slos(self) -> list[slo_types.SLO]:
        """The SLOs the rules were generated from (prometheus/slos.json, written by the prometheus role, with the
        burn-rate tiers their alerts refer to), parsed by alertstack.slo."""
        from alertstack import slo
        path = Path(self.path) / "prometheus" / "slos.json"
        if not path.is_file():
            raise RenderedError(f"{path} does not exist: the stack was rendered or deployed before the prometheus "
                                f"role wrote its SLOs there; render or deploy it again")
        try:
            written = json.loads(path.read_text())
            return slo.validate_slos(written["prometheus_slos"], written.get("prometheus_slo_burn_rate_tiers"))
        except (ValueError, KeyError, TypeError, slo.SLOError) as exc:
            raise RenderedError(f"{path}: {exc}") from exc

    def slos_by_name(self) -> dict[str, slo_types.SLO]:
        return {s.name: s for s in self.slos()}


def deployed(root: str | Path = DEPLOYED_ROOT) -> StackRoot:
    """The stack root a deploy wrote on this machine (read only)."""
    return StackRoot(Path(root))


def cache_dir(out: str | Path | None = None) -> Path:
    return Path(out or os.environ.get(CACHE_ENV_VAR) or DEFAULT_CACHE)


def fingerprint(env: str | None) -> str:
    """sha256 over the render's inputs: the files of _INPUTS and, for an env, its inventory."""
    digest = hashlib.sha256()
    roots = [REPO_ROOT / p for p in _INPUTS] + ([INVENTORIES / env] if env else [])
    for root in roots:
        paths = [root] if root.is_file() else sorted(
            p for p in root.rglob("*") if p.is_file() and not _SKIP_DIRS & set(p.relative_to(root).parts))
        for path in paths:
            if path.suffix in (".pyc", ".md"):
                continue
            digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One render per cache entry at a time (parallel test workers wait for the first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_rendered(env: str, out: str | Path | None = None) -> Path:
    """out/<env>, rendered by alertstack.render (the real site.yml) unless it is up to date with the inputs."""
    from alertstack import render
    base = cache_dir(out)
    target = base / env
    with _locked(base / f".{env}.lock"):
        wanted = fingerprint(env)
        stamp = target / STAMP
        if stamp.is_file() and stamp.read_text().strip() == wanted:
            return target
        try:
            render.render(env, base)
        except render.RenderError as exc:
            raise RenderedError(str(exc)) from exc
        stamp.write_text(wanted + "\n")
    return target


def alertmanager_configs(envs: list[str] | None = None, out: str | Path | None = None,
                         say=lambda _line: None) -> dict[str, dict]:
    """{env: the alertmanager.yml `invoke render` wrote for it} of `envs` (default: every inventory), each rendered
    first if stale (`say` tells which, since that takes a minute or more)."""
    from alertstack.paths import environments
    configs = {}
    for env in envs or environments():
        say(f"reading the alertmanager.yml rendered for {env} (rendering {env} first if its render is stale)")
        configs[env] = for_env(env, out).alertmanager_config()
    return configs


def stack_roots(rendered: str | Path) -> dict[str, StackRoot]:
    """{host: StackRoot} of a directory `invoke render` wrote for one environment."""
    from alertstack.render import host_roots
    return {host: StackRoot(root) for host, root in host_roots(Path(rendered)).items()}


def for_env(env: str, out: str | Path | None = None, host: str | None = None) -> StackRoot:
    """The rendered stack root of `host` in ENV (default: the first host with an Alertmanager), rendered if stale."""
    roots = stack_roots(ensure_rendered(env, out))
    if host is not None:
        if host not in roots:
            raise RenderedError(f"{env} rendered nothing for host {host!r}; hosts: {', '.join(roots)}")
        return roots[host]
    for root in roots.values():
        if (root.path / "alertmanager" / "alertmanager.yml").is_file():
            return root
    raise RenderedError(f"no host of {env} got an Alertmanager configuration")


# ---------------------------------------------------------------------------------------------------------------
# The policy as the alertmanager role ships it (role defaults only), assembled by Ansible.

_POLICY_PLAY = """\
- name: alertmanager.yml as the alertmanager role assembles it from its defaults alone (no inventory)
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: alertmanager
      tags: [never]  # only its defaults; none of its tasks run
  tasks:
    - name: Write the configuration of roles/alertmanager/templates/alertmanager-config.j2
      ansible.builtin.copy:
        content: "{{ lookup('ansible.builtin.template', rendered_policy_template) | from_yaml | to_json }}"
        dest: "{{ rendered_policy_dest }}"
        mode: "0644"
"""


def role_policy(overrides: dict | None = None, out: str | Path | None = None) -> dict:
    """alertmanager.yml (as a dict) that roles/alertmanager/templates/alertmanager-config.j2 renders from the role's
    defaults, with `overrides` as extra variables; resolved and templated by ansible-playbook, cached by input.

    Raises alertstack.routing.RoutingError with Ansible's message when the policy cannot be rendered.
    """
    overrides = overrides or {}
    key = hashlib.sha256((fingerprint(None) + json.dumps(overrides, sort_keys=True)).encode()).hexdigest()[:24]
    base = cache_dir(out) / ".role-policy"
    cached = base / f"{key}.json"
    with _locked(base / ".lock"):
        if not cached.is_file():
            cached.write_text(json.dumps(_run_policy_play(overrides)))
    return json.loads(cached.read_text())


def _run_policy_play(overrides: dict) -> dict:
    from alertstack.routing import RoutingError
    with tempfile.TemporaryDirectory(prefix="role-policy-") as tmp:
        play, result = Path(tmp) / "policy.yml", Path(tmp) / "alertmanager.json"
        play.write_text(_POLICY_PLAY)
        extra = {**overrides, "rendered_policy_dest": str(result), "ansible_python_interpreter": sys.executable,
                 "rendered_policy_template": str(ROLES / "alertmanager" / "templates" / "alertmanager-config.j2")}
        run = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(play),
                              "--skip-tags", "always", "-e", json.dumps(extra)],
                             cwd=REPO_ROOT, capture_output=True, text=True,
                             env=dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
                                      ANSIBLE_FORCE_COLOR="0", ANSIBLE_STRATEGY="linear"))
        if run.returncode:
            raise RoutingError(f"the alertmanager role's policy does not render: {_ansible_error(run.stdout)}")
        return json.loads(result.read_text())


def _ansible_error(output: str) -> str:
    """The failure message of an ansible-playbook run (its error line), else its last lines."""
    lines = [line.strip() for line in output.splitlines()]
    return next((line for line in lines if line.startswith(("[ERROR]", "ERROR!", "fatal:"))), "\n".join(lines[-20:]))
