"""Sub-commands of the ``benefed`` command line, one module per group."""
