"""Every environment rendered once per session with `invoke render`'s code path (the real site.yml, render-only)."""
from __future__ import annotations

import pytest

from alertstack import render
from alertstack.paths import environments


@pytest.fixture(scope="session")
def rendered_envs(tmp_path_factory):
    """{env: {host: rendered stack root}} for local, staging and production."""
    out = tmp_path_factory.mktemp("rendered")
    return {env: render.host_roots(render.render(env, out)) for env in environments()}
