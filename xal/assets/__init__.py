"""What a run created: the run ledger, the inventory of an asset's AWS resources, and their cleanup."""
