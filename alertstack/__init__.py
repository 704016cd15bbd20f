"""alertstack: the logic behind the invoke tasks and the Ansible filters of the AI alerting stack."""
