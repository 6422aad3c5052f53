"""The one door to the upstream: the only package that imports `openai`."""
