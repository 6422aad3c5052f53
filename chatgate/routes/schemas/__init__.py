"""The request and response models of every surface, and each surface's error shape, one module per surface."""
