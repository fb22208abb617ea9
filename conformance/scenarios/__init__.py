"""The scenario suite: one module per spec chapter, each scenario one documented behaviour.

Importing this package registers every scenario in ``base.REGISTRY`` (in chapter order);
``conformance.suite`` runs them against a server and reports per chapter.
"""

from conformance.scenarios import (  # noqa: F401  (imported to register their scenarios)
    acl,
    limits,
    modes,
    multi,
    opcodes,
    paths,
    reaping,
    sessions,
    stat,
    tree,
    watches,
)
from conformance.scenarios.base import REGISTRY, Scenario, ScenarioResult, Target, run_one

CHAPTERS = (
    "opcodes",
    "paths",
    "stat",
    "modes",
    "acl",
    "tree",
    "multi",
    "watches",
    "sessions",
    "reaping",
    "limits",
)

__all__ = ["CHAPTERS", "REGISTRY", "Scenario", "ScenarioResult", "Target", "run_one"]
