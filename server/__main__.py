"""`python -m relance.server` is the `relance` command."""
from relance.server.cli import main

main()
