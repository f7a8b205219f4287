"""The ``flo`` command: it parses the command line, chooses the account (the built-in
sandbox when there is none), calls the runner's API and prints; no logic of its own."""

from flo_twilio.cli.main import main

__all__ = ["main"]
