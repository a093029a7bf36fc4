"""How to run on this hardware: locations, user settings, launch profiles."""

from profiles.locations import Locations
from profiles.settings import EngineSettings, ServerSettings, Settings

__all__ = ["EngineSettings", "Locations", "ServerSettings", "Settings"]
