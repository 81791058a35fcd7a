"""The `surfaced` command: its subcommands, the terminal meters and monitor/learn."""

from surfaced.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
