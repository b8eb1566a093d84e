"""Shared plumbing for the Not-Just-Scaling-Laws toolkit: the `njsl` CLI, paths, atomic output, document readers."""
