"""peaktrade venue plugin over ccxt: venue ``ccxt:<exchange id>`` for every exchange ccxt knows.

The entry module is :mod:`peaktrade_ccxt.hooks`; it never imports ccxt. ccxt is imported by
:mod:`peaktrade_ccxt.client`, when a session or a command builds the venue's client.
"""
