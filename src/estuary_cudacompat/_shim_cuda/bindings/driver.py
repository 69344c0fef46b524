from ..cuda import *  # noqa: F401,F403
from ..cuda import __all__, __getattr__  # noqa: F401
