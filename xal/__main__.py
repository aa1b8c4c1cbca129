"""``python -m xal``: same as the ``xal`` console script."""

from xal.cli.main import main

main()
