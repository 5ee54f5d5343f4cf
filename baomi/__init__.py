"""Baomi (保密): confidential records for accounting and company-services firms."""

__version__ = "0.1.0"
