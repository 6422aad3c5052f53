"""The API's blueprints, one module per resource, each exposing `bp`."""

import importlib
import pkgutil

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the blueprint of every module in this package."""
    # Discovered rather than listed, so adding a resource means adding one module.
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        if hasattr(module, "init_app"):
            module.init_app(app)
        else:
            app.register_blueprint(module.bp)
