"""Names of the offline images (built from Debian packages) and of their pinned upstream equivalents.

The Ansible `images` role builds the offline ones; tests and tools use them to run promtool and amtool.
"""
OFFLINE = {
    "base": "ai-alerting/debian-base:sid",
    "prometheus": "ai-alerting/prometheus:3.5",
    "alertmanager": "ai-alerting/alertmanager:0.33",
    "node-exporter": "ai-alerting/node-exporter:1.11",
    "python-runtime": "ai-alerting/python-runtime:1",
}

# The image registry of the lab environment (alertstack/lab.py), from Debian's docker-registry package; not part of
# OFFLINE (no deployed host runs it: it serves the images to hosts that cannot pull from the internet).
REGISTRY = "ai-alerting/registry:2.8"
