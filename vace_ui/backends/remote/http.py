"""HTTP for the hosted backends: bounded retries with backoff and jitter, clear errors, atomic downloads.

Every request goes through `HttpClient.call`. It retries timeouts, connection failures, 429 (honouring
Retry-After) and 5xx, a bounded number of times, sleeping through an injectable `sleep` so tests run instantly.
Everything that turns a response into text passes through `redact`, so an API key a provider might echo never
reaches a message, a log line or an exception. Logs carry method, host/path and status only: no headers, no
bodies, no query strings (result links carry signatures).
"""

from __future__ import annotations

import email.utils
import functools
import logging
import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from ...core.errors import BackendUnavailable

log = logging.getLogger("vace_ui.backends.remote")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
EXPIRED_STATUSES = frozenset({403, 404, 410})


@functools.cache
def _tls_context():
    """The default verifying TLS context (certifi roots), built once: building one costs ~0.1 s per client."""
    return httpx.create_ssl_context()


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. `attempts` is the total number of tries per request (1 = never retry). Before retry n
    (1-based) the client waits min(max_delay, base_delay * 2**(n-1)), plus up to `jitter` (a fraction) of that
    at random. A Retry-After header replaces the computed wait (capped at max_retry_after seconds)."""

    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0
    jitter: float = 0.25
    max_retry_after: float = 300.0

    def backoff(self, retry: int, rng: random.Random) -> float:
        delay = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        return delay * (1.0 + self.jitter * rng.random())


class ProviderError(RuntimeError):
    """The provider answered, and the answer is an error the user can read (validation, failed task...)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class MalformedResponse(ProviderError):
    """The provider's answer could not be understood (not JSON, or a required field missing)."""


class ResultExpired(ProviderError):
    """The result link answered 403/404/410: the provider no longer keeps the file."""


class AuthError(BackendUnavailable):
    """401/403 from the provider's API: the key is missing, wrong, or for another region/account."""


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def short_url(url: str) -> str:
    """host/path without the query (which may hold signatures) for logs and messages."""
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}"


def retry_after_seconds(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds from a Retry-After header: either a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


@dataclass
class HttpClient:
    """One provider's connection. `key` is read at each request (so a key entered in Settings applies at once);
    `auth_header` formats it. Auth is sent only to URLs under `base_url` unless a call says otherwise, so a key
    never travels to storage hosts (OSS, CDN) that serve uploads and results. `error_message` pulls the
    provider's own message out of an error body (parsed JSON, or text when not JSON)."""

    label: str
    base_url: str
    key: Callable[[], str | None]
    key_hint: str
    retry: RetryPolicy
    timeout: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    error_message: Callable[[object], str | None] = lambda body: None
    auth_header: tuple[str, str] = ("Authorization", "Bearer {}")
    transport: httpx.BaseTransport | None = None
    rng: random.Random | None = None

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.rng = self.rng or random.Random()
        self._client = httpx.Client(timeout=self.timeout, transport=self.transport, follow_redirects=True,
                                    verify=_tls_context())

    def close(self) -> None:
        self._client.close()

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"

    def under_base(self, url: str) -> bool:
        return url == self.base_url or url.startswith(self.base_url + "/")

    def redact(self, text: str) -> str:
        return redact(text, [self.key() or ""])

    def _headers(self, url: str, auth: bool | None, extra: dict | None) -> dict:
        headers = dict(extra or {})
        key = self.key()
        if (self.under_base(url) if auth is None else auth) and key:
            name, template = self.auth_header
            headers[name] = template.format(key)
        return headers

    def call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        json: object = None,
        data: dict | None = None,
        files: dict | None = None,
        params: dict | None = None,
        headers: dict | None = None,
        auth: bool | None = None,
        idempotent: bool | None = None,
        parse: bool = True,
        ok: frozenset[int] = frozenset(),
        expired_is_error: bool = False,
    ) -> object:
        """Send one request with retries and return the parsed JSON (or the response when parse=False).

        `idempotent` (default: GET/HEAD/PUT/DELETE) decides whether a timeout after the request was sent may be
        retried: retrying a task submission that may already have been created would create (and bill) a second
        task, so a non-idempotent call reports the ambiguity instead. `ok` adds statuses treated as success.
        """
        url = self.url(path)
        idempotent = method in ("GET", "HEAD", "PUT", "DELETE") if idempotent is None else idempotent
        attempts = max(1, self.retry.attempts)
        problem = ""
        for attempt in range(1, attempts + 1):
            wait = None
            try:
                response = self._client.request(
                    method, url, json=json, data=data, files=files, params=params,
                    headers=self._headers(url, auth, headers),
                )
            except httpx.TimeoutException as error:
                if not idempotent and not isinstance(error, httpx.ConnectTimeout):
                    raise BackendUnavailable(
                        f"{self.label} did not answer within {self.timeout:g} s while {what}. The request may have "
                        f"been received: check your {self.label} dashboard before running the job again."
                    ) from None
                problem = f"did not answer within {self.timeout:g} s"
            except httpx.TransportError as error:
                if not idempotent and not isinstance(error, httpx.ConnectError):
                    raise BackendUnavailable(
                        f"The connection to {self.label} broke while {what} ({type(error).__name__}). The request "
                        f"may have been received: check your {self.label} dashboard before running the job again."
                    ) from None
                problem = f"could not be reached at {urlsplit(url).netloc} ({type(error).__name__})"
            else:
                status = response.status_code
                log.info("%s %s %s -> %s", self.label, method, short_url(url), status)
                if status < 400 or status in ok:
                    if not parse:
                        return response
                    try:
                        return response.json()
                    except ValueError:
                        problem = "returned a malformed answer (not JSON)"
                        if not idempotent or attempt == attempts:
                            raise MalformedResponse(
                                f"{self.label} {problem} while {what} (HTTP {status}, "
                                f"{response.headers.get('content-type', 'no content type')})."
                            ) from None
                elif status in RETRY_STATUSES:
                    problem = self._describe(response)
                    if status == 429:
                        after = retry_after_seconds(response.headers.get("Retry-After"))
                        if after is not None:
                            wait = min(after, self.retry.max_retry_after)
                elif status in (401, 403) and not (expired_is_error and status == 403):
                    raise AuthError(
                        f"{self.label} refused the request while {what} ({self._describe(response)}): check the "
                        f"API key for {self.label} ({self.key_hint})."
                    )
                elif expired_is_error and status in EXPIRED_STATUSES:
                    raise ResultExpired(
                        f"The result of {self.label} is no longer available (HTTP {status} on the result link): "
                        "providers keep results only for a limited time (DashScope 24 h). Run the job again.",
                        status,
                    )
                else:
                    raise ProviderError(f"{self.label} rejected the request while {what}: {self._describe(response)}.",
                                        status)
            if attempt == attempts:
                break
            if wait is None:
                wait = self.retry.backoff(attempt, self.rng)
            log.warning("%s %s while %s; retry %d/%d in %.1f s", self.label, problem, what, attempt,
                        attempts - 1, wait)
            self.sleep(wait)
        raise BackendUnavailable(
            f"{self.label} {problem} while {what}, {attempts} attempt(s) in a row. Try again later"
            + (" (the service is rate-limiting requests)." if "429" in problem else ".")
        )

    def _describe(self, response: httpx.Response) -> str:
        try:
            body: object = response.json()
        except ValueError:
            body = response.text
        message = None
        try:
            message = self.error_message(body)
        except Exception:  # a provider's odd error body must not hide the status
            message = None
        if not message and isinstance(body, str) and body.strip() and len(body) < 300:
            message = body.strip()
        text = f"HTTP {response.status_code}" + (f": {message}" if message else "")
        return self.redact(text)

    def download(
        self, url: str, dest: Path, *, what: str = "downloading the result", auth: bool | None = None
    ) -> Path:
        """Fetch `url` into `dest` atomically (temp file in the same folder, then os.replace): a failed or broken
        download leaves nothing behind. 403/404/410 mean the link expired (ResultExpired)."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        response = self.call("GET", url, what=what, auth=auth, parse=False, expired_is_error=True)
        assert isinstance(response, httpx.Response)
        handle, temp_name = tempfile.mkstemp(prefix=".partial-", suffix=dest.suffix, dir=dest.parent)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(response.content)
            if os.path.getsize(temp_name) == 0:
                raise MalformedResponse(f"{self.label} returned an empty file while {what}.")
            os.replace(temp_name, dest)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return dest
