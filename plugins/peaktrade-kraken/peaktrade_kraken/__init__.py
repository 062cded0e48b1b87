"""peaktrade venue adapter for Kraken spot: the ``kraken`` venue."""
