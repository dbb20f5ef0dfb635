"""The stacks, in deployment order: network, data, identity, matcher, ops, edge."""
