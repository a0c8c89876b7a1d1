"""Service connectors: a declarative contract, a registry and one module per service."""
