"""gunicorn reads this file from the directory it starts in: the service's settings for `gunicorn main:app`."""

from chatgate.gunicorn_conf import *  # noqa: F403
