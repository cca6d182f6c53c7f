"""What every hosted backend shares: configuration from the environment, the upload -> submit -> poll -> download
flow with cancel checks, resume after a restart, and result checking.

A provider implements the low-level protocol as methods: `validate` (its own documented limits, before anything
is sent), `uploads` (which local files it needs), `upload` (its own upload path), `submit`, `poll`, `cancel` and
`fetch_result`. `RemoteBackend.generate` strings them together.
"""

from __future__ import annotations

import contextlib
import copy
import enum
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from ...config import PROVIDER_ENV, ProviderConfig
from ...core.errors import BackendUnavailable, GenerationCancelled, InputError, MediaError
from ..base import Backend, BackendJob, BackendResult, JobReporter, Phase
from .http import AuthError, HttpClient, ProviderError, RetryPolicy
from .media import is_public_url

RESULT_NAME = "remote_result.mp4"
CHECK_TIMEOUT_S = 2.0


class TaskState(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class TaskStatus:
    """One poll's answer. progress is 0-1 when the provider reports it; result_url is set on success;
    message carries the provider's own words on failure; info is copied into BackendResult.info."""

    state: TaskState
    progress: float | None = None
    message: str = ""
    result_url: str | None = None
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Upload:
    """A file the provider needs under request field `key`: `source` is a local path (uploaded through the
    provider's own upload path) or a public http(s) URL (passed through unchanged)."""

    key: str
    source: str
    kind: str = "video"  # "video" or "image"


class RemoteBackend(Backend):
    """Base of the hosted backends. Configuration: constructor arguments win, then `provider` (the operator's
    ProviderConfig; read from the environment variables `base_url_env` / `key_env` when not given), then
    `default_base_url`. `set_api_key` / `set_base_url` change the operator's settings at run time (scripts,
    tests). A visitor's own key and URL never change this object: `for_session` gives a copy for one job. Keys are
    never logged, stored or put in messages."""

    key_env: str = ""
    base_url_env: str = ""
    default_base_url: str = ""
    key_required: bool = True
    default_poll_interval: float = 5.0
    # send the key with the result download? False: never (public CDN/OSS links); None: only under base_url
    result_auth: bool | None = False
    check_path: str | None = None  # a cheap GET that tells whether the server answers (None: none documented)

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        poll_interval: float | None = None,
        max_wait: float = 6 * 3600.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
        provider: ProviderConfig | None = None,
    ):
        if provider is None:
            provider = ProviderConfig.from_env(self.name) if self.name in PROVIDER_ENV else ProviderConfig()
        self.provider = provider
        self._base_url = base_url or provider.base_url
        self._api_key = api_key or provider.api_key or None
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        if poll_interval is None:
            poll_interval = provider.poll_seconds or self.default_poll_interval
        self.poll_interval = poll_interval
        self.max_wait = max_wait
        self.sleep = sleep
        self.clock = clock
        self._transport = transport
        self._http: HttpClient | None = None
        self._contact: tuple[str, str] | None = None  # the last check's or job's answer: (state, words)

    # -- configuration ------------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return (self._base_url or self.default_base_url).rstrip("/")

    def set_base_url(self, base_url: str | None) -> None:
        if (base_url or None) != self._base_url:
            self._contact = None  # what was learnt about the old URL says nothing about the new one
        self._base_url = base_url or None  # the client is rebuilt on next use

    def set_api_key(self, api_key: str | None) -> None:
        if (api_key or None) != self._api_key:
            self._contact = None
        self._api_key = api_key or None

    def api_key(self) -> str | None:
        return self._api_key or None

    def for_session(self, api_key: str | None, base_url: str | None) -> "RemoteBackend":
        """This backend with a visitor's own key and/or URL, for one job. The operator's key goes only to the
        operator's URL: with another URL, only the visitor's key is sent (none when they typed none)."""
        other_url = bool(base_url) and base_url.rstrip("/") != self.base_url
        if not api_key and not other_url:
            return self
        session = copy.copy(self)
        session._http = None
        if other_url:
            session._base_url = base_url
            session._api_key = api_key or None
            if self.key_required and not api_key:
                raise BackendUnavailable(f"{self.label}: a base URL typed in Settings is used only with an API key "
                                         "typed in Settings in the same session; enter your key there.")
        else:
            session._api_key = api_key
        return session

    @property
    def key_hint(self) -> str:
        return f"environment variable {self.key_env} or the Settings tab"

    def status(self) -> str:
        if self.key_required and not self.api_key():
            return f"API key missing: set {self.key_env} or enter it in Settings."
        if self._contact is not None:
            state, detail = self._contact
            return f"unreachable: {detail}" if state == "unreachable" else f"{state} ({self.base_url}): {detail}"
        if self.check_path is not None:
            return f"not checked ({self.base_url}): press Check backends"
        return f"key set, not checked ({self.base_url}): it is checked when a job reaches {self.label}"

    def check(self) -> str:
        """Ask the server (GET `check_path`, 2 s timeout, no retries) where the provider has a cheap endpoint."""
        if self.check_path is None or (self.key_required and not self.api_key()):
            return self.status()
        url = self.base_url + self.check_path
        where = urlsplit(url).netloc or self.base_url
        key = self.api_key()
        name, template = self.auth_header()
        try:
            with httpx.Client(timeout=CHECK_TIMEOUT_S, transport=self._transport) as client:
                response = client.get(url, headers={name: template.format(key)} if key else {})
        except httpx.ConnectError as error:
            reason = "connection refused" if "refused" in str(error).lower() else f"cannot connect ({error})"
            self._contact = ("unreachable", f"{reason} at {where}")
        except httpx.TimeoutException:
            self._contact = ("unreachable", f"no answer within {CHECK_TIMEOUT_S:g} s at {where}")
        except httpx.HTTPError as error:
            self._contact = ("unreachable", f"{type(error).__name__} at {where}")
        else:
            if response.status_code in (401, 403):
                self._contact = ("token refused", f"HTTP {response.status_code}; check {self.key_env}")
            elif response.status_code >= 400:
                self._contact = ("not usable", f"HTTP {response.status_code} to {self.check_path}")
            else:
                self._contact = ("ready", f"answered at {time.strftime('%H:%M:%S')}")
        return self.status()

    def _reached(self, what: str) -> None:
        """A job got an answer from the provider: the key and URL work (as of now)."""
        self._contact = ("ready", f"{what} at {time.strftime('%H:%M:%S')}")

    def error_message(self, body: object) -> str | None:
        """The provider's own message from an error body (parsed JSON or text)."""
        if isinstance(body, dict):
            for name in ("message", "detail", "error", "reason"):
                if isinstance(body.get(name), str) and body[name]:
                    return body[name]
        return None

    @property
    def http(self) -> HttpClient:
        if self._http is None or self._http.base_url != self.base_url:
            if self._http is not None:
                self._http.close()
            self._http = HttpClient(
                label=self.label, base_url=self.base_url, key=self.api_key, key_hint=self.key_hint,
                retry=self.retry, timeout=self.timeout, sleep=self.sleep, error_message=self.error_message,
                auth_header=self.auth_header(), transport=self._transport,
            )
        return self._http

    def auth_header(self) -> tuple[str, str]:
        return ("Authorization", "Bearer {}")

    # -- the protocol each provider implements ---------------------------------------------------------------------
    def validate(self, job: BackendJob) -> None:
        """Check the job against the provider's documented limits; raise InputError(field, message)."""
        if job.capability not in self.capabilities().capabilities:
            raise InputError("capability", f"{self.label} does not offer '{job.capability.value}'.")

    def uploads(self, job: BackendJob, folder: Path) -> list[Upload]:
        """The files to send (writing them into `folder` when they come from job.inputs)."""
        return []

    def upload(self, path: Path, kind: str) -> str:
        raise NotImplementedError

    def submit(self, job: BackendJob, refs: dict[str, str]) -> str:
        raise NotImplementedError

    def poll(self, task_id: str) -> TaskStatus:
        raise NotImplementedError

    def cancel(self, task_id: str) -> bool:
        """Ask the provider to stop the task. False when the provider documents no way to cancel."""
        return False

    def fetch_result(self, task_id: str, status: TaskStatus, dest: Path) -> Path:
        if not status.result_url:
            raise ProviderError(f"{self.label} reported task {task_id} as finished but gave no result link.")
        return self.http.download(status.result_url, dest, auth=self.result_auth)

    def describe(self, job: BackendJob) -> dict:
        """What this backend sent, for BackendResult.info (never a key)."""
        return {}

    # -- the shared flow ----------------------------------------------------------------------------------------
    def generate(self, job: BackendJob, reporter: JobReporter) -> BackendResult:
        self.validate(job)
        self._require_key()
        timings: dict[str, float] = {}
        started = self.clock()
        reporter.phase(Phase.PREPARE, message=f"preparing files for {self.label}")
        folder = Path(job.workdir) / "upload"
        items = self.uploads(job, folder)
        refs: dict[str, str] = {}
        local = [item for item in items if not is_public_url(item.source)]
        for item in items:
            self._stop_before_submit(reporter)
            if is_public_url(item.source):
                refs[item.key] = item.source
                continue
            reporter.phase(Phase.UPLOAD, local.index(item), len(local), f"uploading {Path(item.source).name}")
            refs[item.key] = self.upload(Path(item.source), item.kind)
        timings["upload_s"] = self.clock() - started
        self._stop_before_submit(reporter)
        reporter.phase(Phase.QUEUED, message=f"submitting to {self.label}")
        task_id = self.submit(job, refs)
        self._reached(f"accepted task {task_id}")
        shutil.rmtree(folder, ignore_errors=True)  # the provider has the files now; the job keeps its own inputs
        reporter.remote_task(task_id)
        return self._follow(job, task_id, reporter, timings)

    def resume(self, job: BackendJob, remote_task_id: str, reporter: JobReporter) -> BackendResult:
        """Continue polling a task submitted before a restart: only the task id is needed."""
        self._require_key()
        return self._follow(job, remote_task_id, reporter, {})

    def _require_key(self) -> None:
        if self.key_required and not self.api_key():
            raise BackendUnavailable(f"No API key for {self.label}: set {self.key_env} or enter it in Settings.")

    def _stop_before_submit(self, reporter: JobReporter) -> None:
        if reporter.cancelled:
            raise GenerationCancelled(f"Cancelled before anything was submitted to {self.label}.")

    def _follow(self, job: BackendJob, task_id: str, reporter: JobReporter, timings: dict) -> BackendResult:
        started = self.clock()
        while True:
            self._check_cancel(task_id, reporter)
            with self._resumable(task_id):
                status = self.poll(task_id)
            if status.state is TaskState.SUCCEEDED:
                break
            if status.state is TaskState.FAILED:
                reason = status.message.strip().rstrip(".") or "no reason given"
                raise ProviderError(f"{self.label} task {task_id} failed: {reason}.")
            if status.state is TaskState.CANCELLED:
                raise ProviderError(f"{self.label} reports task {task_id} as cancelled"
                                    + (f": {status.message}" if status.message else "") + ".")
            if status.state is TaskState.QUEUED:
                reporter.phase(Phase.QUEUED, message=f"waiting in the {self.label} queue")
            else:
                percent = round(100 * status.progress) if status.progress is not None else 0
                reporter.phase(Phase.DENOISE, percent, 100 if status.progress is not None else 0,
                               f"generating on {self.label}")
            if self.clock() - started > self.max_wait:
                raise ProviderError(
                    f"{self.label} task {task_id} is still not finished after {self.max_wait / 60:.0f} min; it may "
                    "still complete: resume the job later."
                )
            self._wait(self.poll_interval, task_id, reporter)
        timings["remote_s"] = self.clock() - started
        reporter.phase(Phase.DOWNLOAD, message=f"downloading the result from {self.label}")
        started = self.clock()
        dest = Path(job.workdir) / RESULT_NAME
        with self._resumable(task_id):
            path = self.fetch_result(task_id, status, dest)
        timings["download_s"] = self.clock() - started
        fps = self._check_video(path)
        info = {"provider": self.name, "task_id": task_id, **self.describe(job), **status.info}
        return BackendResult(video_path=path, fps=fps, remote_task_id=task_id, timings=timings, info=info)

    @contextlib.contextmanager
    def _resumable(self, task_id: str):
        """Connection trouble after submission: the task lives on at the provider, so say the job can resume."""
        try:
            yield
        except AuthError:
            raise
        except BackendUnavailable as error:
            raise BackendUnavailable(f"{error} Task {task_id} may still be running (or finished) at {self.label}: "
                                     "resume the job later.") from None

    def _check_cancel(self, task_id: str, reporter: JobReporter) -> None:
        if not reporter.cancelled:
            return
        stopped = False
        try:
            stopped = self.cancel(task_id)
        except Exception as error:  # the job is cancelled either way; say what happened remotely
            note = f" ({self.http.redact(str(error))})"
        else:
            note = "" if stopped else f" ({self.label} offers no cancel; the task may still finish and be billed)"
        raise GenerationCancelled(f"Cancelled; {self.label} task {task_id} "
                                  + ("was asked to stop." if stopped else "was left to run") + note)

    def _wait(self, seconds: float, task_id: str, reporter: JobReporter) -> None:
        """Sleep in short slices so a cancel is noticed within half a second."""
        end = self.clock() + seconds
        while True:
            self._check_cancel(task_id, reporter)
            left = end - self.clock()
            if left <= 0:
                return
            self.sleep(min(0.5, left))

    def _check_video(self, path: Path) -> float:
        from ...media.video import probe_video

        try:
            return probe_video(path, field="result").fps
        except MediaError as error:
            path.unlink(missing_ok=True)
            raise ProviderError(f"{self.label} returned a file that is not a playable video "
                                f"({error.message})") from None
