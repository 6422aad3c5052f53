"""`python -m chatgate`: the same as the `chatgate` command."""

from chatgate.cli import main

main()
