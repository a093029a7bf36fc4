"""How to run on this hardware: locations, user settings, launch profiles."""

from profiles.locations import Locations
from profiles.settings import CostSettings, EngineSettings, ServerSettings, Settings

__all__ = ["CostSettings", "EngineSettings", "Locations", "ServerSettings", "Settings"]
