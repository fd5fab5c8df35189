"""Local development tools (not imported by a deployed function): the Runtime API emulator."""
