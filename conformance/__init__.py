"""zkref conformance layer (see ../shared/DESIGN.md)."""
