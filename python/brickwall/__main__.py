"""``python -m brickwall``: the ``brickwall`` command."""

from .cli import main

main()
