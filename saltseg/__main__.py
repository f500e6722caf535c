"""`python -m saltseg` runs the command-line app."""

from saltseg.cli import main

main()
