"""`pytest claims/` collects every claims/<key>.yaml through the engine's plugin (claimcheck/pytest_plugin.py)."""
from claimcheck.pytest_plugin import *  # noqa: F401,F403  (pytest finds the hooks by name)
