"""The smallest Stellate app: core only."""
