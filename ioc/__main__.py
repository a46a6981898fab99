"""`python -m ioc`: the `ioc` command (the supervisor starts its children this way)."""

from ioc.cli import main

main()
