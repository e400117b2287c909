"""P2P tests: codec and protocol units, and multi-node scenarios on real loopback sockets."""
