"""The simulated SMSC's behaviour, kept apart from its asyncio shell (channels/simulator.py)."""
