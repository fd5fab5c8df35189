"""Local development tools (not imported by a deployed function): the Runtime API emulator,
the front door events (``front_door``), runtime sandboxes (``sandbox``) and ``lambda-asgi
serve`` (``serve``)."""
