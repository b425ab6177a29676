"""Memory agents, one folder each; ``agents.registry`` lists them."""
