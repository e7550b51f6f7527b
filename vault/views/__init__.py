"""The vault's pages, one module per area."""
