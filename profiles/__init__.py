"""How to run on this hardware: locations, user settings, launch profiles."""

from profiles.locations import Locations
from profiles.settings import CostDefaults, EngineSettings, ServerSettings, Settings

__all__ = ["CostDefaults", "EngineSettings", "Locations", "ServerSettings", "Settings"]
