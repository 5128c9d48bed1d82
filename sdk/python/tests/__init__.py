"""Tests of the Atelier Python SDK (run: python3 -m unittest discover sdk/python)."""
