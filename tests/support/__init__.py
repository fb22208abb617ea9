"""Shared test fixtures: zkref servers (subprocess and in-process) and a raw jute client."""
