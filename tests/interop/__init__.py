"""Interop: real ZooKeeper clients (kazoo, zkCli.sh, cli_mt) against a zkref process."""
