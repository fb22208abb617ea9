"""zkref conformance layer: check any ZooKeeper-compatible server (see docs/ARCHITECTURE.md).

Modules, in the order data flows through them:

* ``wire`` — spec operations as jute requests, jute replies as spec reply bodies;
* ``client`` — an asyncio client (one session over a list of servers: pipelining, pings,
  notifications, re-attach with setWatches, auth, bounded waits) that records a history;
* ``history`` / ``codec`` — the history format (JSON lines, ``HISTORY.md``), its recorder and
  loader, and the lossless JSON encoding of spec values;
* ``snapshot`` — reading the tree before a history begins on a server that is not fresh;
* ``checker`` — ``check(history, profile, mode) -> Verdict``: ``index`` (derived facts),
  ``ordering`` (zxid order, real time, FIFO, sync, sequences, ephemerals), ``replay`` and
  ``replaystate`` (the history through ``spec.machine.step``, with a bounded search over
  transactions nobody observed), ``explain`` and ``verdict`` (evidence for people and
  programs);
* ``scenarios`` — the scenario suite, one module per spec chapter (``scenarios/base.py``: how a
  scenario runs and is judged); ``model`` — the Hypothesis stateful model checker; ``suite`` —
  both against a live server, with the profile from its ``srvr`` answer, and the report;
* ``nemesis`` — servers the suite starts (Apache ZooKeeper, zkref) and kill -9 / pause /
  resume / restart of them, for fault tests;
* ``cli`` — ``python -m conformance check history.jsonl`` and
  ``python -m conformance run --hosts host:port[,...]``.

Imports point down only: ``spec`` and the wire codec in ``reference.jute``; never ``server``.
"""
