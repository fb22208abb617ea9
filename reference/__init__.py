"""zkref reference layer: the deterministic, sans-IO core (see docs/ARCHITECTURE.md)."""
