"""``python -m streams`` is the ``berthwatch`` command."""

from streams.cli import main

main()
