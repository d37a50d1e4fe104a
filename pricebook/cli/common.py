"""What every command module shares: the handler and parser types, the engine."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from pricebook.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]
if TYPE_CHECKING:
    #: the ``pricebook COMMAND`` parsers each ``add_…`` adds its command to
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]


def open_engine(settings: Settings) -> Engine:
    from pricebook.db import make_engine

    return make_engine(settings)
