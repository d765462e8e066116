"""The control API the product's gateway calls (opsdash.gateway.api)."""
