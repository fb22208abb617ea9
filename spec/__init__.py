"""zkref spec: the executable specification of ZooKeeper. See spec/README.md."""
