"""zkref server layer: the asyncio shell around the core (see docs/ARCHITECTURE.md)."""
