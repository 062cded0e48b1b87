"""``python -m peaktrade_core`` runs the CLI (the same as ``peaktrade``)."""

from peaktrade_core.cli import main

main()
