"""The plumbing the demo apps share (`service`): JSON log lines, the JSON HTTP handler base and serving it.

Copied next to each app in its container (/app/common, by the demo_platform and notification_sink roles), as it
sits next to them here."""
