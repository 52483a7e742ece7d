"""One module per command-line command (see :mod:`convexpoison.cli`)."""
