"""Thin Lambda entry points: parse, call one pipeline function, map the result."""
