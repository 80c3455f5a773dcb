"""What every ``berthwatch`` command shares: the settings of the invocation.

The root command (:mod:`streams.cli`) and the commands in their own modules all import
from here, so no command module imports the command line that assembles it.
"""

from __future__ import annotations

import click

from streams.settings import ConfigError, Settings, load_settings


def settings_from(ctx: click.Context) -> Settings:
    """The settings for this invocation, loaded once per command."""
    obj = ctx.find_root().ensure_object(dict)
    if "settings" not in obj:
        try:
            obj["settings"] = load_settings(obj.get("config"))
        except ConfigError as e:
            raise click.ClickException(f"configuration: {e}") from None
    settings: Settings = obj["settings"]
    return settings
