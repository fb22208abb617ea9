"""zkref bench: measure any ZooKeeper server, and two of them against each other in one run.

``python -m bench run --hosts H[,H...]`` drives the classic ZooKeeper workloads (create,
setData, getData, exists, getChildren of 1,000 children, a 90 % read mix, connect+close,
ephemeral churn, watch fan-out) with a pipelined raw-protocol client and prints ops/s and
latency percentiles per workload; ``python -m bench compare A=hosts B=hosts`` runs the same
workloads against both, alternating, and reports the ratio B/A with its spread over rounds.
It speaks only the wire protocol (``reference.jute``), so it measures Apache ZooKeeper and
zkref alike; it never imports ``server``. A target is a list of servers already running or,
``start:KIND[:SIZE]``, servers the command starts as processes and stops (``launch``); the
clients of a run are spread over a target's servers, as a real deployment's are.
``python -m bench failover`` kills the leader of an ensemble while a client writes and times
how soon writes are acknowledged again, zkref's and Apache ZooKeeper's in one run.

Modules: ``wire`` (precompiled requests, the pipelined and the request/reply session),
``workloads`` (what each workload sends and the znodes it uses), ``znodes`` (setup and
bounded teardown), ``worker`` (a load-generating process), ``runner`` (the worker pool and
one run from setup to teardown), ``histogram`` (latency percentiles), ``report`` (tables and
JSON), ``svg`` (the comparison chart), ``launch`` (servers and ensembles started as processes),
``failover`` (the leader-failover harness), ``cli`` (the command line).
"""
