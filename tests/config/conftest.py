"""Every environment rendered once per session with `invoke render`'s code path (the real site.yml, render-only)."""
from __future__ import annotations

import pytest

from alertstack import render


@pytest.fixture(scope="session")
def rendered_envs(tmp_path_factory):
    """{env: {host: rendered stack root}} for staging and production (local is validated by its real deploy)."""
    out = tmp_path_factory.mktemp("rendered")
    return {env: render.host_roots(render.render(env, out)) for env in ("staging", "production")}
