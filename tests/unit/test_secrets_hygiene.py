"""Secrets never reach git in clear text (issue 7)."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

SECRET_SHAPES = {
    "Slack webhook URL": re.compile(r"hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+"),
    "Slack token": re.compile(r"xox[abprs]-[0-9A-Za-z-]{10,}"),
    "PagerDuty integration key": re.compile(r"\b[0-9a-f]{32}\b"),
    "private key": re.compile(r"-----BEGIN (RSA |EC |OPENSSH |)PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
    "bcrypt hash": re.compile(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}"),
}
# Files whose job is to contain such shapes as test data.
ALLOWED = {"tests/unit/test_secrets_hygiene.py",
           "tests/unit/redaction_corpus.yml"}  # fake secrets that the log redaction must mask


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.split("\n")
    return [REPO / f for f in out if f and (REPO / f).is_file()]


def vault_files() -> list[Path]:
    return [p for p in tracked_files() if "group_vars" in p.parts and p.name.startswith("vault")]


def is_encrypted(path: Path) -> bool:
    return path.read_text(errors="replace").startswith("$ANSIBLE_VAULT;")


def test_the_checks_recognise_clear_and_encrypted_vaults(tmp_path):
    clear = tmp_path / "vault.yml"
    clear.write_text("vault_stack_api_password: hunter2hunter2\n")
    encrypted = tmp_path / "vault2.yml"
    encrypted.write_text("$ANSIBLE_VAULT;1.1;AES256\n6162\n")
    assert not is_encrypted(clear) and is_encrypted(encrypted)
    assert SECRET_SHAPES["Slack webhook URL"].search("https://hooks.slack.com/services/T0123ABC/B0456DEF/abcdEFGH1234")


def test_every_committed_vault_file_is_encrypted():
    clear = [str(p.relative_to(REPO)) for p in vault_files() if not is_encrypted(p)]
    assert clear == [], f"vault files committed in clear text: {clear}"


@pytest.mark.parametrize("env", ["staging", "production"])
def test_real_environments_take_every_secret_from_the_vault(env):
    main = yaml.safe_load((REPO / "inventories" / env / "group_vars" / "all" / "main.yml").read_text())
    for name in ("alertmanager_secrets", "stack_api_password", "grafana_admin_password"):
        assert name in main, f"{env} does not define {name}"
        assert re.fullmatch(r"\{\{ vault_[a-z_]+ \}\}", str(main[name])), f"{env}: {name} is not a vault reference"
    example = yaml.safe_load((REPO / "inventories" / env / "vault.example.yml").read_text())
    referenced = {re.search(r"vault_[a-z_]+", str(v)).group(0) for v in main.values()
                  if isinstance(v, str) and "vault_" in v}
    assert referenced <= set(example), f"vault.example.yml does not document {referenced - set(example)}"


def test_no_known_secret_shape_in_tracked_files():
    found = []
    for path in tracked_files():
        rel = str(path.relative_to(REPO))
        if rel in ALLOWED or path.suffix in (".png", ".ico") or ".venv" in path.parts:
            continue
        text = path.read_text(errors="replace")
        for name, shape in SECRET_SHAPES.items():
            if shape.search(text):
                found.append(f"{rel}: {name}")
    assert found == []
