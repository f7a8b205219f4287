"""Sub-commands beyond ``flo cards``: added as each part of flo lands."""

from __future__ import annotations

import argparse
from typing import Any


def add_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Register the remaining sub-commands on ``commands``."""
