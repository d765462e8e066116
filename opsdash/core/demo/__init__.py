"""Demo data for opsdash: tenants, traffic with stories in it, evals and documents.

``generator.generate(seed, anchor, sizes)`` builds everything in memory without touching
the database; ``load.load(data)`` writes it, events and eval results through the same
ingest functions the API uses.
"""
