"""Plumbing every layer shares: one-line usage errors, atomic writes, console helpers."""
