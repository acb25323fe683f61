"""The distribution's version, in a module of its own so that setup.cfg reads it without
importing the package and the FiC client names itself without importing the root package."""

__version__ = "0.1.0"
