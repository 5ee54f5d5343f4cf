"""Test support shipped with the package (pytest plugin, throwaway PostgreSQL)."""
