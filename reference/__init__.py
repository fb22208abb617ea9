"""zkref reference layer (see ../shared/DESIGN.md)."""
