"""Lookup `grafana_dashboards`: every dashboard of the stack (alertstack.grafana.dashboards) as {file name: JSON text}.

    lookup('grafana_dashboards', prefix='dashboards/')

A generator with no input, so a lookup rather than a filter; feeds the `stack_files` module like
`stack_file_contents`.
"""
from __future__ import annotations

from ansible.plugins.lookup import LookupBase

from alertstack.grafana import dashboards

DOCUMENTATION = r"""
name: grafana_dashboards
short_description: "Every dashboard of the stack, as {<prefix><uid>.json: JSON text}."
options:
  prefix: {description: Put before every file name (a directory under the destination)., type: str, default: ""}
"""


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        return [dashboards.files(str(self.get_option("prefix")))]
