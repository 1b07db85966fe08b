"""Data shapes: database tables and the federated vocabulary. No queries, no I/O."""
