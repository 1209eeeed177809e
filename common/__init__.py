"""Plumbing every layer shares: one-line usage errors (and the argument parser that gives them),
atomic writes. Nothing here knows about environments, networks or agents."""
