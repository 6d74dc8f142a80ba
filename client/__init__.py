"""coledger Python SDK: connection, keys, transaction pipeline, contract bindings, CLI."""
