"""The service's settings: the one place that reads the environment (and `.env`), and never writes it."""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
import urllib.parse
from collections.abc import Mapping

from dotenv import dotenv_values
from flask import current_app

MIB = 1024 * 1024
# A price per 1M tokens beyond any model's (o1-pro's output is $600): a larger one is a typo, and nan or inf none.
MOST_PRICE_PER_1M = 10_000
PLACEHOLDER_KEY = "sk-REPLACE_ME"  # .env.example's: a key nobody has
DEMO_URL = "http://demo.chatgate.invalid/v1"  # the demo model's: never resolved, its transport answers first
DEMO_KEY = "demo-needs-no-key"
SERVICE_NAME = "OpenAI Chat API"
VERSION = "1.0.0"
_KEY = "settings"


class ConfigError(ValueError):
    """A setting in the environment has a value the service cannot use."""


@dataclasses.dataclass(frozen=True)
class UpstreamSpec:
    """One upstream of the UPSTREAMS_FILE (or the one that OPENAI_BASE_URL and the server key make)."""

    name: str
    base_url: str | None  # None: OpenAI's own API
    api_key: str | None
    kind: str = "openai"  # or "azure": deployments in the path, api-version in the query, the key in api-key
    models: tuple[str, ...] | None = None  # None: every model of the catalogue (the single upstream of old)
    models_auto: bool = False  # this upstream's own list
    weight: int = 1
    client_keys: bool = False  # a caller's own key may be sent here
    api_version: str | None = None  # azure
    deployments: tuple[tuple[str, str], ...] = ()  # azure: model name -> deployment
    failover_on_timeout: bool = False

    def serves(self, model: str) -> bool:
        """Whether a call on `model` may come here by its settings (an auto list is the router's to know)."""
        return self.models is None or model in self.models

    def deployment(self, model: str) -> str:
        return dict(self.deployments).get(model, model)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the service can be told, with the defaults it runs with."""

    # The upstream OpenAI-compatible API.
    openai_api_key: str | None = None
    placeholder_key: bool = False  # the key was .env.example's placeholder, which counts as none
    openai_base_url: str | None = None  # None: OpenAI's own API
    upstream_timeout: float = 120.0
    upstream_max_retries: int = 1
    upstream_max_rest: float = 60.0  # the longest rest an upstream (or a model on it) takes, whatever it asks
    upstream_failures_to_rest: int = 3  # failed calls within the window that rest an upstream (a circuit breaker)
    upstream_failure_window: float = 30.0
    upstream_transport: str = "lean"  # or "httpx": the SDK's own transport
    upstreams_file: str | None = None  # several upstreams, from a TOML file: then the whole list
    upstreams: tuple[UpstreamSpec, ...] = ()  # read from it
    fallbacks: tuple[tuple[str, tuple[str, ...]], ...] = ()  # model -> the models to try when all of its fail
    uncached_models: tuple[str, ...] = ()  # UPSTREAMS_FILE's [models."<name>"] with cache = false

    # The model catalogue; None keeps the hardcoded list in models.py, models_auto asks the upstream.
    models: tuple[str, ...] | None = None
    models_auto: bool = False
    models_refresh: float = 600.0  # seconds between two reads of the upstream's list (MODELS=auto)
    default_model: str | None = None
    embedding_models: tuple[str, ...] | None = None

    # HTTP behaviour.
    port: int = 5000
    web_concurrency: int = 2  # gunicorn workers
    graceful_timeout: float | None = None  # seconds streams get to finish at SIGTERM; None: the upstream timeout
    trusted_proxy_hops: int = 0  # proxies in front whose X-Forwarded-For is believed
    allow_origins: tuple[str, ...] = ("*",)
    max_request_bytes: int = 10 * MIB
    max_messages: int = 2048  # messages in one request
    body_timeout: float = 15.0  # seconds to receive a request body
    max_concurrent_per_caller: int = 64  # requests in flight per caller, per worker process

    # Logging.
    log_level: str = "INFO"
    log_format: str = "text"  # or "json"
    log_message_contents: bool = False

    # Traces (OpenTelemetry): off without an OTLP endpoint; the SDK reads its other OTEL_* variables itself.
    otlp_traces_endpoint: str | None = None  # where spans go
    otlp_protocol: str = "http/protobuf"  # or "grpc", with opentelemetry-exporter-otlp-proto-grpc installed
    otlp_headers: tuple[tuple[str, str], ...] = ()  # sent with each export (an API key, say): never logged
    otel_service_name: str = "chatgate"
    capture_message_content: bool = False  # prompts and replies in spans: opt-in, as the GenAI conventions say

    # Alerts: a JSON POST (Slack-compatible `text`) at budget thresholds and upstream rests.
    alert_webhook_url: str | None = None
    alert_webhook_secret: str | None = None  # signs each body: HMAC-SHA256 in X-Chatgate-Signature
    alert_webhook_timeout: float = 5.0  # seconds for each try (three tries)

    # The response cache: off without CACHE_TTL.
    cache_ttl: int = 0  # seconds an answer is kept
    cache_scope: str = "caller"  # or "shared": every caller reads what any caller's call stored
    cache_max_entry_bytes: int = 1_000_000  # a bigger answer is not kept
    cache_max_bytes: int = 256_000_000  # all entries at most (SQLite; Redis expires them by their TTL)
    recent_calls: int = 1000  # the calls the admin page lists, across instances (0: none kept)

    # Resumable streams.
    resumable_streams: str = "on-request"  # or "always": every stream can be resumed
    stream_continuation: bool = True  # a chat stream the upstream cuts mid-reply is finished by another call
    stream_max_continuations: int = 2  # ...at most this many times
    stream_stall_seconds: float = 30.0  # no byte for this long, once a stream has started, counts as a cut
    background_poll_seconds: float = 2.0  # how often a background response is read until it has finished...
    background_deadline: float = 3600.0  # ...for at most this long (then it is settled on an estimate)
    websocket_idle_seconds: float = 600.0  # a WebSocket mode connection with no response for this long is closed
    websocket_max_seconds: float = 3600.0  # ...and one open this long takes no new response (OpenAI's 60 minutes)
    stream_retention: float = 300.0  # seconds a finished stream can still be read
    stream_resume_window: float = 30.0  # seconds generation goes on once its last reader left

    # Storage: the SQLite file every store shares, or Redis for several instances.
    db_path: str = "sessions.sqlite3"
    redis_url: str | None = None

    # Conversation sessions (/api).
    session_ttl: int = 24 * 3600
    session_max_messages: int = 100

    # Access control, limits and the usage ledger.
    api_tokens: tuple[str, ...] = ()
    admin_tokens: tuple[str, ...] = ()
    allow_client_keys: bool = True
    demo: bool = False  # DEMO=true (`chatgate serve --demo`): every answer from the offline demo model
    client_key_format: str = "auto"  # "openai": always check the shape, "any": never, "auto": when upstream is OpenAI
    rate_limit: str | None = None  # e.g. "60/minute"
    token_limit: str | None = None  # e.g. "100000/hour"
    completion_reservation: int = 1024  # tokens a call reserves for its reply when it sets no max_tokens
    spend_limit: str | None = None  # e.g. "5/day": US dollars per caller
    prices_file: str | None = None
    # model -> (input, output, cached input or None), US dollars per 1M tokens, over the built-in table
    price_overrides: tuple[tuple[str, tuple[float, float, float | None]], ...] = ()
    auth_failure_limit: str = "20/minute"  # failed authentications per client address

    # Signed-in users: the identity provider's JWTs.
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_jwks_url: str | None = None  # None: found by OpenID discovery from the issuer
    jwt_secret: str | None = None  # HS256 providers (Supabase's legacy keys)
    jwt_algorithms: tuple[str, ...] = ()  # (): the asymmetric ones, or HS256 with a secret
    jwt_user_claim: str = "sub"
    jwt_leeway: float = 30.0
    jwt_refetch_seconds: float = 5.0  # the least time between two fetches of the provider's keys
    jwt_fetch_timeout: float = 5.0  # the most a discovery or key-set fetch may take
    jwt_admin_claim: str | None = None  # a claim that makes a signed-in user an admin...
    jwt_admin_values: tuple[str, ...] = ("admin",)  # ...when it is (or, a list, holds) one of these
    metrics_dir: str | None = None  # prometheus multiprocess directory

    @property
    def stream_grace(self) -> float:
        """Seconds open streams get to finish when the server is told to stop."""
        return self.upstream_timeout if self.graceful_timeout is None else self.graceful_timeout

    def warnings(self, stored_tokens: tuple[int, int] | None = (0, 0)) -> list[str]:
        """What an operator should hear once at start: settings that work, but not as they may think.
        `stored_tokens` is how many tokens storage holds and how many of them are usable (None: storage did not
        answer)."""
        said = []
        if self.demo:
            said.append(
                "DEMO is on: every answer comes from chatgate's offline demo model; no upstream is called and no key "
                "is used. Start without --demo (DEMO unset) for real answers."
            )
        elif self.placeholder_key:
            said.append(
                "The upstream key is .env.example's placeholder (sk-REPLACE_ME): it counts as no key. "
                "Put your key in OPENAI_API_KEY_CYB_SEC."
            )
        elif not self.openai_api_key and not self.upstreams:  # the file's upstreams name their own keys
            said.append(
                "No upstream key (OPENAI_API_KEY_CYB_SEC or OPENAI_API_KEY): only callers who bring their "
                "own key can chat."
                if self.allow_client_keys
                else "No upstream key (OPENAI_API_KEY_CYB_SEC or OPENAI_API_KEY) and ALLOW_CLIENT_KEYS=false: "
                "no call can reach the upstream."
            )
        if stored_tokens is None:
            said.append(
                f"The storage ({'Redis' if self.redis_url else 'SQLite at ' + self.db_path}) does not answer: every "
                "call that needs it is a 503 until it does."
            )
        elif (
            not self.access_control
            and not self.demo
            and (self.openai_api_key or any(u.api_key for u in self.upstreams))
        ):
            stored, usable = stored_tokens
            if not stored:
                said.append("API_TOKENS is not set: anyone who can reach this service can spend its OpenAI key.")
            elif not usable:
                said.append(
                    f"Every stored token ({stored}) is revoked or expired, so every call is refused (401): create "
                    "one with `tokens create`, or open the service again with `tokens reopen` (sessions and "
                    "usage are kept)."
                )
        if self.upstreams and (self.openai_base_url or self.openai_api_key):
            said.append(
                f"UPSTREAMS_FILE ({self.upstreams_file}) is the whole list of upstreams: OPENAI_BASE_URL and the "
                "server key are not an upstream of their own."
            )
        return said

    @property
    def upstream_list(self) -> tuple[UpstreamSpec, ...]:
        """Every upstream: the demo model alone with DEMO, else the file's, or the one OPENAI_BASE_URL and the server
        key make."""
        if self.demo:
            return (UpstreamSpec("demo", DEMO_URL, DEMO_KEY, kind="demo", client_keys=True),)
        if self.upstreams:
            return self.upstreams
        single = UpstreamSpec("default", self.openai_base_url, self.openai_api_key, client_keys=self.allow_client_keys)
        return (single,)

    @property
    def takes_client_keys(self) -> bool:
        """Whether a caller's own key can go anywhere: allowed, and some upstream takes one."""
        return self.allow_client_keys and any(upstream.client_keys for upstream in self.upstream_list)

    @property
    def upstream_is_openai(self) -> bool:
        """Whether the upstream is OpenAI's own API (and so checks OpenAI key formats)."""
        return self.openai_base_url is None or "api.openai.com" in self.openai_base_url

    @property
    def checks_client_key_format(self) -> bool:
        """Whether a client's own key must have OpenAI's shape."""
        if self.client_key_format == "auto":
            return self.upstream_is_openai
        return self.client_key_format == "openai"

    @property
    def access_control(self) -> bool:
        """Tokens of either kind, or signed-in users, turn access control on: an admin token must never leave the
        service open."""
        return bool(self.api_tokens or self.admin_tokens or self.signed_in_users)

    @property
    def signed_in_users(self) -> bool:
        """Whether the identity provider's JWTs are accepted (JWT_ISSUER and JWT_AUDIENCE)."""
        return bool(self.jwt_issuer and self.jwt_audience)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, dotenv: bool = True) -> Settings:
        """Build settings from `environ` (default: the process environment plus `.env`)."""
        if environ is None:
            # `.env` fills in what the environment leaves unset, as load_dotenv would, without writing os.environ.
            # ENV_FILE names another file, or `none` for no file (the tests' servers read none).
            env_file = os.environ.get("ENV_FILE", "").strip()
            read = dotenv and env_file.lower() != "none"
            values = (dotenv_values(env_file) if env_file else dotenv_values()) if read else {}
            environ = {**{k: v for k, v in values.items() if v is not None}, **os.environ}
        return cls._read(_Env(environ))

    @classmethod
    def _read(cls, env: _Env) -> Settings:
        key_variable = env.first_set("OPENAI_API_KEY_CYB_SEC", "OPENAI_API_KEY")
        key = env.get(key_variable) if key_variable else None
        return cls(
            openai_api_key=None if key == PLACEHOLDER_KEY else key,
            placeholder_key=key == PLACEHOLDER_KEY,
            openai_base_url=env.get(env.first_set("OPENAI_BASE_URL", "OPENAI_API_BASE") or ""),
            upstream_timeout=env.number("UPSTREAM_TIMEOUT", cls.upstream_timeout, float),
            upstream_max_retries=env.number("UPSTREAM_MAX_RETRIES", cls.upstream_max_retries, int),
            upstream_max_rest=env.number("UPSTREAM_MAX_REST", cls.upstream_max_rest, float),
            upstream_failures_to_rest=max(
                1, env.number("UPSTREAM_FAILURES_TO_REST", cls.upstream_failures_to_rest, int)
            ),
            upstream_failure_window=env.number("UPSTREAM_FAILURE_WINDOW", cls.upstream_failure_window, float),
            upstream_transport=env.choice("UPSTREAM_TRANSPORT", ("lean", "httpx"), cls.upstream_transport),
            models=None if env.get("MODELS") == "auto" else env.csv("MODELS") or None,
            models_auto=env.get("MODELS") == "auto",
            models_refresh=env.number("MODELS_REFRESH", cls.models_refresh, float),
            embedding_models=env.csv("EMBEDDING_MODELS") or None,
            default_model=env.get(env.first_set("DEFAULT_MODEL", "OPENAI_MODEL") or ""),
            port=env.number("PORT", cls.port, int),
            web_concurrency=env.number("WEB_CONCURRENCY", cls.web_concurrency, int),
            graceful_timeout=env.number("GRACEFUL_TIMEOUT", None, float),
            trusted_proxy_hops=env.number("TRUSTED_PROXY_HOPS", cls.trusted_proxy_hops, int),
            allow_origins=env.csv(env.first_set("ALLOW_ORIGINS", "ALLOWED_ORIGIN") or "") or ("*",),
            max_request_bytes=env.number("MAX_REQUEST_BYTES", cls.max_request_bytes, int),
            max_messages=env.number("MAX_MESSAGES", cls.max_messages, int),
            body_timeout=env.number("BODY_TIMEOUT", cls.body_timeout, float),
            max_concurrent_per_caller=env.number("MAX_CONCURRENT_PER_CALLER", cls.max_concurrent_per_caller, int),
            log_level=(env.get("LOG_LEVEL") or cls.log_level).upper(),
            log_format=env.choice("LOG_FORMAT", ("text", "json"), cls.log_format),
            log_message_contents=env.flag("LOG_MESSAGE_CONTENTS", False),
            otlp_protocol=_traces_protocol(env),
            otlp_headers=_otlp_headers(env),
            otlp_traces_endpoint=_traces_endpoint(env, _traces_protocol(env)),
            otel_service_name=env.get("OTEL_SERVICE_NAME") or cls.otel_service_name,
            capture_message_content=env.flag("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", False),
            alert_webhook_url=env.url("ALERT_WEBHOOK_URL", _HTTP, "https://hooks.slack.com/services/..."),
            alert_webhook_secret=env.get("ALERT_WEBHOOK_SECRET"),
            alert_webhook_timeout=env.number("ALERT_WEBHOOK_TIMEOUT", cls.alert_webhook_timeout, float),
            resumable_streams=env.choice("RESUMABLE_STREAMS", ("on-request", "always"), cls.resumable_streams),
            stream_continuation=env.choice("STREAM_CONTINUATION", ("on", "off"), "on") == "on",
            stream_max_continuations=env.number("STREAM_MAX_CONTINUATIONS", cls.stream_max_continuations, int),
            stream_stall_seconds=env.number("STREAM_STALL_SECONDS", cls.stream_stall_seconds, float),
            background_poll_seconds=env.number("BACKGROUND_POLL_SECONDS", cls.background_poll_seconds, float),
            background_deadline=env.number("BACKGROUND_DEADLINE", cls.background_deadline, float),
            websocket_idle_seconds=env.number("WEBSOCKET_IDLE_SECONDS", cls.websocket_idle_seconds, float),
            websocket_max_seconds=env.number("WEBSOCKET_MAX_SECONDS", cls.websocket_max_seconds, float),
            stream_retention=env.number("STREAM_RETENTION", cls.stream_retention, float),
            stream_resume_window=env.number("STREAM_RESUME_WINDOW", cls.stream_resume_window, float),
            db_path=env.get(env.first_set("DB_PATH", "SESSION_DB_PATH") or "") or cls.db_path,
            redis_url=env.url("REDIS_URL", ("redis://", "rediss://", "unix://")),
            session_ttl=env.number("SESSION_TTL", cls.session_ttl, int),
            cache_ttl=env.duration("CACHE_TTL"),
            cache_scope=env.choice("CACHE_SCOPE", ("caller", "shared"), cls.cache_scope),
            cache_max_entry_bytes=env.number("CACHE_MAX_ENTRY_BYTES", cls.cache_max_entry_bytes, int),
            cache_max_bytes=env.number("CACHE_MAX_BYTES", cls.cache_max_bytes, int),
            recent_calls=env.number("RECENT_CALLS", cls.recent_calls, int),
            session_max_messages=env.number("SESSION_MAX_MESSAGES", cls.session_max_messages, int),
            api_tokens=env.csv("API_TOKENS") + env.lines_of_file("API_TOKENS_FILE"),
            admin_tokens=env.csv("ADMIN_TOKENS"),
            allow_client_keys=env.flag("ALLOW_CLIENT_KEYS", True),
            demo=env.flag("DEMO", False),
            client_key_format=env.choice("CLIENT_KEY_FORMAT", ("auto", "openai", "any"), cls.client_key_format),
            rate_limit=env.limit("RATE_LIMIT"),
            token_limit=env.limit("TOKEN_LIMIT"),
            completion_reservation=env.number("COMPLETION_RESERVATION", cls.completion_reservation, int),
            auth_failure_limit=env.limit("AUTH_FAILURE_LIMIT") or cls.auth_failure_limit,
            metrics_dir=env.get("PROMETHEUS_MULTIPROC_DIR"),
            **_jwt_settings(env),
            **_spend_settings(env),
            **_upstreams_of(env),
        )


_HTTP = ("http://", "https://")


def _traces_protocol(env: _Env) -> str:
    protocol = env.first_set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL") or ""
    return env.choice(protocol, ("http/protobuf", "grpc"), "http/protobuf")


def _otlp_headers(env: _Env) -> tuple[tuple[str, str], ...]:
    """OTEL_EXPORTER_OTLP_TRACES_HEADERS, else OTEL_EXPORTER_OTLP_HEADERS: `key=value,key2=value2`, values
    URL-encoded (OpenTelemetry's own format)."""
    raw = env.get(env.first_set("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS") or "") or ""
    pairs = [part.split("=", 1) for part in raw.split(",") if part.strip()]
    if any(len(pair) != 2 or not pair[0].strip() for pair in pairs):
        raise ConfigError("OTEL_EXPORTER_OTLP_HEADERS must be key=value pairs separated by commas")
    return tuple((key.strip(), urllib.parse.unquote(value.strip())) for key, value in pairs)


def _traces_endpoint(env: _Env, protocol: str) -> str | None:
    """Where spans go: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as written, else OTEL_EXPORTER_OTLP_ENDPOINT (with
    `/v1/traces` for HTTP: OpenTelemetry's own rule); None, tracing off, without either or with OTEL_SDK_DISABLED."""
    if env.flag("OTEL_SDK_DISABLED", False):
        return None
    if endpoint := env.url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", _HTTP, "http://localhost:4318/v1/traces"):
        return endpoint
    base = env.url("OTEL_EXPORTER_OTLP_ENDPOINT", _HTTP, "http://localhost:4318")
    if base is None or protocol == "grpc":
        return base
    return base.rstrip("/") + "/v1/traces"


class _Env:
    """Typed reads of environment variables; an empty value counts as unset. It notes every name it is asked."""

    def __init__(self, environ: Mapping[str, str]):
        self._environ = environ
        self.asked: list[str] = []

    def get(self, name: str) -> str | None:
        if name and name not in self.asked:
            self.asked.append(name)
        value = self._environ.get(name, "").strip() if name else ""
        return value or None

    def first_set(self, *names: str) -> str | None:
        return next((name for name in names if self.get(name)), None)

    def number(self, name: str, default, kind):
        raw = self.get(name)
        if raw is None:
            return default
        try:
            value = kind(raw)
        except ValueError:
            form = "a whole number" if kind is int else "a number"
            raise ConfigError(f"{name} must be {form}, not {raw!r}") from None
        if not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, not {raw!r}")
        if value < 0:
            raise ConfigError(f"{name} must not be negative")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.get(name)
        if raw is None:
            return default
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false, not {raw!r}")

    def duration(self, name: str) -> int:
        """Whole seconds from `90`, `90s`, `30m`, `1h` or `2d` (0 when unset)."""
        raw = (self.get(name) or "0").lower()
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(raw[-1], 0)
        number = raw[:-1] if unit else raw
        if not number.isdigit():
            raise ConfigError(f"{name} must be a number of seconds, or of minutes, hours or days (90, 30m, 1h, 2d)")
        return int(number) * (unit or 1)

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        raw = (self.get(name) or default).lower()
        if raw not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, not {raw!r}")
        return raw

    def limit(self, name: str) -> str | None:
        """A limit such as 60/minute or 100000/day (limits' own notation), checked here, before any worker."""
        raw = self.get(name)
        if raw is None:
            return None
        from limits import parse  # the limits library reads it the same way when the limit is enforced

        try:
            parse(raw)
        except ValueError:
            raise ConfigError(
                f"{name} must be a limit such as 60/minute or 100000/day (second, minute, hour, day, month), "
                f"not {raw!r}"
            ) from None
        return raw

    def url(self, name: str, schemes: tuple[str, ...], example: str = "redis://localhost:6379/0") -> str | None:
        raw = self.get(name)
        if raw is not None and not raw.startswith(schemes):
            raise ConfigError(f"{name} must start with {', '.join(schemes)} (e.g. {example}), not {raw!r}")
        return raw

    def csv(self, name: str) -> tuple[str, ...]:
        raw = self.get(name) or ""
        return tuple(part.strip() for part in raw.split(",") if part.strip())

    def lines_of_file(self, name: str) -> tuple[str, ...]:
        path = self.get(name)
        if not path:
            return ()
        with open(path, encoding="utf-8") as handle:
            return tuple(line.strip() for line in handle if line.strip() and not line.startswith("#"))


def _spend_settings(env: _Env) -> dict:
    limit, path = env.get("SPEND_LIMIT"), env.get("PRICES_FILE")
    if limit:
        spend_amount(limit, "SPEND_LIMIT")
    return {"spend_limit": limit, "prices_file": path, "price_overrides": _prices_of(path) if path else ()}


def spend_amount(limit: str, name: str) -> tuple[float, str]:
    """`5/day`, `0.50/hour`, `100/month`: dollars and a period, or a ConfigError naming `name`."""
    amount, _, period = limit.partition("/")
    try:
        dollars = float(amount)
    except ValueError:
        dollars = -1.0
    if dollars < 0 or period.strip() not in ("second", "minute", "hour", "day", "month", "year"):
        raise ConfigError(f"{name} must be dollars per period, such as 5/day or 0.50/hour, not {limit!r}")
    return dollars, period.strip()


def _toml_file(variable: str, path: str) -> dict:
    """The TOML file a variable names, or one ConfigError naming both."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{variable} {path}: {error}") from None


def _prices_of(path: str) -> tuple[tuple[str, tuple[float, float, float | None]], ...]:
    document = _toml_file("PRICES_FILE", path)
    models = document.get("models")
    if not isinstance(models, dict):
        raise ConfigError(f'PRICES_FILE {path}: no [models."<name>"] table')
    read = []
    for name, fields in models.items():
        where = f'PRICES_FILE {path}: [models."{name}"]'
        if not isinstance(fields, dict) or (
            unknown := set(fields) - {"input_per_1m", "output_per_1m", "cached_input_per_1m"}
        ):
            raise ConfigError(
                f"{where}: unknown field {sorted(unknown)[0]!r}"
                if isinstance(fields, dict)
                else f"{where}: not a table"
            )
        for field in ("input_per_1m", "output_per_1m"):
            if field not in fields:
                raise ConfigError(f"{where}: {field} is required")
        for field, value in fields.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MOST_PRICE_PER_1M:
                raise ConfigError(
                    f"{where}: {field} must be a number of dollars from 0 to {MOST_PRICE_PER_1M:,}, not {value!r}"
                )
        read.append(
            (
                name,
                (
                    float(fields["input_per_1m"]),
                    float(fields["output_per_1m"]),
                    float(fields["cached_input_per_1m"]) if "cached_input_per_1m" in fields else None,
                ),
            )
        )
    return tuple(read)


def _jwt_settings(env: _Env) -> dict:
    issuer, audience = env.get("JWT_ISSUER"), env.get("JWT_AUDIENCE")
    secret, algorithms = env.get("JWT_SECRET"), tuple(a.strip() for a in env.csv("JWT_ALGORITHMS"))
    read = {
        "jwt_issuer": issuer,
        "jwt_audience": audience,
        "jwt_jwks_url": env.get("JWT_JWKS_URL"),
        "jwt_secret": secret,
        "jwt_algorithms": algorithms,
        "jwt_user_claim": env.get("JWT_USER_CLAIM") or "sub",
        "jwt_leeway": env.number("JWT_LEEWAY", 30.0, float),
        "jwt_refetch_seconds": env.number("JWT_REFETCH_SECONDS", 5.0, float),
        "jwt_fetch_timeout": env.number("JWT_FETCH_TIMEOUT", 5.0, float),
        "jwt_admin_claim": env.get("JWT_ADMIN_CLAIM"),
        "jwt_admin_values": tuple(v.strip() for v in env.csv("JWT_ADMIN_VALUES")) or ("admin",),
    }
    if bool(issuer) != bool(audience):
        raise ConfigError("JWT_ISSUER and JWT_AUDIENCE go together: set both to accept signed-in users")
    if any(a.lower() == "none" for a in algorithms):
        raise ConfigError("JWT_ALGORITHMS must not allow none: an unsigned token proves nothing")
    if any(a.startswith("HS") for a in algorithms) and not secret:
        raise ConfigError("JWT_ALGORITHMS names an HS algorithm, which needs JWT_SECRET")
    if read["jwt_fetch_timeout"] == 0:
        raise ConfigError("JWT_FETCH_TIMEOUT must be more than 0: a fetch with no time to answer always fails")
    return read


_UPSTREAM_FIELDS = {
    "name",
    "base_url",
    "kind",
    "api_key_env",
    "models",
    "weight",
    "client_keys",
    "api_version",
    "deployments",
    "failover_on_timeout",
}


def _upstreams_of(env: _Env) -> dict:
    """UPSTREAMS_FILE read: its upstreams and fallbacks, each mistake one ConfigError naming the file, the table
    and the field (and a missing environment variable by its name)."""
    path = env.get("UPSTREAMS_FILE")
    if not path:
        return {}
    document = _toml_file("UPSTREAMS_FILE", path)
    tables = document.get("upstreams")
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"UPSTREAMS_FILE {path}: no [[upstreams]] table")
    upstreams = tuple(_upstream(path, number, table, env) for number, table in enumerate(tables, start=1))
    names = [upstream.name for upstream in upstreams]
    if len(set(names)) != len(names):
        raise ConfigError(f"UPSTREAMS_FILE {path}: two [[upstreams]] have the same name")
    fallbacks = document.get("fallbacks", {})
    if not isinstance(fallbacks, dict) or not all(
        isinstance(models, list) and all(isinstance(m, str) for m in models) for models in fallbacks.values()
    ):
        raise ConfigError(f'UPSTREAMS_FILE {path}: [fallbacks]: each entry is "model" = ["model", ...]')
    return {
        "upstreams_file": path,
        "upstreams": upstreams,
        "fallbacks": tuple((model, tuple(chain)) for model, chain in fallbacks.items()),
        "uncached_models": _uncached_models(path, document.get("models", {})),
    }


def _uncached_models(path: str, models: object) -> tuple[str, ...]:
    """The models whose `[models."<name>"]` table in UPSTREAMS_FILE says `cache = false`."""
    if not isinstance(models, dict) or not all(isinstance(table, dict) for table in models.values()):
        raise ConfigError(f'UPSTREAMS_FILE {path}: [models."<name>"] tables hold a model\'s settings')
    for name, table in models.items():
        if unknown := sorted(set(table) - {"cache"}):
            raise ConfigError(f'UPSTREAMS_FILE {path}: [models."{name}"]: unknown field {unknown[0]!r}')
        if not isinstance(table.get("cache", True), bool):
            raise ConfigError(f'UPSTREAMS_FILE {path}: [models."{name}"]: cache must be true or false')
    return tuple(name for name, table in models.items() if table.get("cache", True) is False)


def _upstream(path: str, number: int, table: object, env: _Env) -> UpstreamSpec:
    where = f"UPSTREAMS_FILE {path}: [[upstreams]] #{number}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: not a table")
    if unknown := sorted(set(table) - _UPSTREAM_FIELDS):
        raise ConfigError(f"{where}: unknown field {unknown[0]!r}")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: name is required (a string)")
    where = f"UPSTREAMS_FILE {path}: [[upstreams]] {name!r}"

    def field(key: str, kind: type, default=None):
        value = table.get(key, default)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool) and kind is not bool):
            raise ConfigError(f"{where}: {key} must be a {kind.__name__}")
        return value

    kind = field("kind", str, "openai")
    if kind not in ("openai", "azure"):
        raise ConfigError(f"{where}: kind must be openai or azure, not {kind!r}")
    base_url = field("base_url", str)
    if kind == "azure" and not base_url:
        raise ConfigError(f'{where}: base_url is required for kind = "azure"')
    key_variable = field("api_key_env", str)
    api_key = None
    if key_variable:
        api_key = env.get(key_variable)
        if not api_key:
            raise ConfigError(f"{where}: api_key_env names {key_variable}, which is not set")
    models = table.get("models")
    if not (models == "auto" or isinstance(models, list) and models and all(isinstance(m, str) for m in models)):
        raise ConfigError(f'{where}: models must be a list of model names, or "auto"')
    weight = field("weight", int, 1)
    if weight < 1:
        raise ConfigError(f"{where}: weight must be 1 or more")
    deployments = field("deployments", dict, {})
    if not all(isinstance(v, str) for v in deployments.values()):
        raise ConfigError(f"{where}: deployments maps model names to deployment names (strings)")
    return UpstreamSpec(
        name=name.strip(),
        base_url=base_url.rstrip("/") if base_url else None,
        api_key=api_key,
        kind=kind,
        models=None if models == "auto" else tuple(models),
        models_auto=models == "auto",
        weight=weight,
        client_keys=bool(field("client_keys", bool, False)),
        api_version=field("api_version", str, "2024-10-21" if kind == "azure" else None),
        deployments=tuple(deployments.items()),
        failover_on_timeout=bool(field("failover_on_timeout", bool, False)),
    )


def _variables() -> tuple[str, ...]:
    env = _Env({})
    Settings._read(env)
    return tuple(env.asked)


# Every environment variable the service reads, derived from the reading itself: the tests clear
# these, and the live servers and the benchmark set only the ones they mean.
VARIABLES = ("ENV_FILE", *_variables())


def install(app, settings: Settings) -> None:
    """Make `settings` the app's settings."""
    app.extensions[_KEY] = settings


def current_settings() -> Settings:
    """The current app's settings."""
    return current_app.extensions[_KEY]
