from ..cudart import *  # noqa: F401,F403
from ..cudart import __all__, __getattr__  # noqa: F401
