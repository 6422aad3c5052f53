"""The benchmark: what the service adds to every call, measured against calling the upstream directly."""
