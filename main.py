"""The seed's entry point, kept so that `gunicorn main:app` serves from a checkout (and `python main.py` runs Flask's
development server); the service is the chatgate package, `chatgate serve` once installed."""

import chatgate.app as _service

create_app = _service.create_app


def __getattr__(name: str):
    """`main.app`: the service's app, built from the environment the first time it is asked for."""
    return getattr(_service, name)


if __name__ == "__main__":
    from chatgate.config import Settings

    _service.app_from_environment().run(host="0.0.0.0", port=Settings.from_env().port, threaded=True)
