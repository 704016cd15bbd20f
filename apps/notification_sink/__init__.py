"""Notification sink: receives Slack, PagerDuty Events v2, webhook and SMTP notifications and lets tools query them."""
