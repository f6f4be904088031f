"""taxsms: asyncio SMS dispatcher for the 12366 taxpayer-service SMS platform."""

__version__ = "0.1.0"
