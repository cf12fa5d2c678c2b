"""The package's version (light: imported by run records and exports without importing the package's API)."""
__version__ = "0.1.0"
