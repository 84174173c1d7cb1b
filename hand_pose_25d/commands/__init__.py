"""Subcommands of the ``hand-pose-25d`` CLI, one module each (``add_parser`` + ``run``)."""
