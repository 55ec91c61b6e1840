"""`python -m app.cli`: the same as the `rung` command."""

from app.cli import main

main()
