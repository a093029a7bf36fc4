"""How to run on this hardware: locations, user settings, launch profiles and the resolver
that turns (model, hardware, profile, flags) into engine options.

Imported here: `Locations` and the settings (cheap: every CLI command needs them). The
profile machinery loads the catalog and hardware discovery, so it is imported from its
modules where used: `profiles.library.ProfileLibrary`, `profiles.resolver.resolve_options`
and `Resolution`, `profiles.planning.plan_options`, `profiles.profile.CostSettings`.
"""

from profiles.locations import Locations
from profiles.settings import EngineSettings, ServerSettings, Settings

__all__ = ["EngineSettings", "Locations", "ServerSettings", "Settings"]
