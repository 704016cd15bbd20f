"""Each role README's Variables and Tags sections are generated (alertstack/role_docs.py, `invoke docs`) from the
role's argument specs, defaults and tasks/main.yml: this fails when one of them changed and the README did not, or when
a default has no argument spec entry (or a different default there)."""
from __future__ import annotations

import pytest

from alertstack import role_docs
from alertstack.paths import ROLES


def test_every_role_has_an_argument_spec_and_a_readme():
    roles = sorted(p.name for p in ROLES.iterdir() if (p / "tasks" / "main.yml").is_file())
    assert role_docs.role_names() == roles
    assert [r for r in roles if not (ROLES / r / "README.md").is_file()] == []


@pytest.mark.parametrize("role", role_docs.role_names())
def test_readme_matches_argument_spec_defaults_and_tags(role):
    assert role_docs.check(role) == []


def test_a_default_without_spec_entry_is_reported(monkeypatch):
    real = role_docs.defaults
    monkeypatch.setattr(role_docs, "defaults", lambda r: {**real(r), "runbooks_undocumented": ("x", ROLES / r)})
    problems = role_docs.check("runbooks")
    assert any("`runbooks_undocumented`" in p and "no entry in meta/argument_specs.yml" in p for p in problems)


def test_a_stale_readme_is_reported(monkeypatch, tmp_path):
    stale = tmp_path / "README.md"
    stale.write_text(role_docs.readme("runbooks").read_text().replace("| `runbooks_port` | int | `8088`",
                                                                        "| `runbooks_port` | int | `8089`"))
    monkeypatch.setattr(role_docs, "readme", lambda role: stale)
    assert any("README.md is out of date" in p for p in role_docs.check("runbooks"))


def test_every_phase_tag_is_documented():
    for role in role_docs.role_names():
        text = role_docs.readme(role).read_text()
        for phase in role_docs.tags(role):
            assert f"`{role}_{phase}`, `{phase}`" in text, (role, phase)


def test_shared_urls_are_defined_once_in_the_stack_role():
    holders = {r: sorted({"runbooks_base_url", "grafana_external_url"} & set(role_docs.defaults(r)))
               for r in role_docs.role_names()}
    assert {r: names for r, names in holders.items() if names} == {
        "stack": ["grafana_external_url", "runbooks_base_url"]}


def test_a_defaults_comment_that_drifted_from_the_spec_is_reported_and_rewritten(monkeypatch, tmp_path):
    drifted = tmp_path / "main.yml"
    original = role_docs.commented_defaults("runbooks", role_docs.defaults_files("runbooks")[0])
    drifted.write_text(original.replace("# Port the server listens on", "# Port the server once listened on"))
    monkeypatch.setattr(role_docs, "defaults_files", lambda role: [drifted])
    assert any("differs from its variable's description" in p for p in role_docs.check("runbooks"))
    assert role_docs.commented_defaults("runbooks", drifted) == original
    # A hand-written note separated from the variable by a blank line is kept.
    drifted.write_text(original.replace("runbooks_port:", "# Note kept as written.\n\n# stale\nrunbooks_port:"))
    assert "# Note kept as written.\n\n# Port the server listens on" in role_docs.commented_defaults("runbooks", drifted)
