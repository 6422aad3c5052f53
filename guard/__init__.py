"""Who may call, with which key, how much, and at what cost: access, credentials, limits, the usage ledger, metrics."""
