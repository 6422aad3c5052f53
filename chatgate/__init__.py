"""chatgate: OpenAI chat models behind one small REST service that keeps the key (the app is `chatgate.app`)."""

__version__ = "1.0.0"
