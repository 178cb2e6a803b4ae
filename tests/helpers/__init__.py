"""Helpers shared by test modules: scratch projects, float64 references, planted data.
Plain modules, no tests; shared fixtures are in the conftest.py files."""
