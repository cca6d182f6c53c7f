"""The job store: one SQLite file under the output directory. Survives restarts; never holds secrets.

Every job records its `owner` (see ui/identity.py: a login name or a browser's hashed id). Lookups for a viewer
pass `owner`; a job of another owner is "not found", exactly like a job that does not exist."""

from __future__ import annotations

import enum
import json
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path


class JobStatus(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass
class Job:
    """One generation. `request` holds the capability request with paths to the job's own input copies;
    `settings` the GenerationSettings dict (seed as drawn once the job ran)."""

    id: str
    capability: str
    backend: str
    status: JobStatus = JobStatus.QUEUED
    request: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    output_path: str | None = None
    error: str | None = None
    progress: str = ""
    remote_task_id: str | None = None
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    owner: str = ""  # "" only for jobs recorded before owners existed

    @property
    def prompt(self) -> str:
        return self.settings.get("prompt", "")


_JSON_FIELDS = ("request", "settings", "notes", "timings", "info")
_COLUMNS = (
    "id", "capability", "backend", "status", "request", "settings", "created_at", "finished_at", "output_path",
    "error", "progress", "remote_task_id", "notes", "timings", "info", "owner",
)
ANYONE = None  # owner argument: no ownership filter (admins, the runner itself)
Owners = "str | tuple[str, ...] | None"


def _owners(owner) -> tuple[str, ...]:
    return (owner,) if isinstance(owner, str) else tuple(owner)


class JobStore:
    """Thread-safe SQLite store of jobs at `<output_dir>/jobs.sqlite`; job folders at `<output_dir>/jobs/<id>/`."""

    def __init__(self, output_dir: Path):
        self.output_dir = Path(output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.output_dir / "jobs.sqlite"
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        columns = ", ".join(f"{name} TEXT" if name != "id" else "id TEXT PRIMARY KEY" for name in _COLUMNS)
        self._db.execute(f"CREATE TABLE IF NOT EXISTS jobs ({columns})")
        present = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for name in _COLUMNS:
            if name not in present:  # a store written by an older version
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} TEXT")

    def job_dir(self, job_id: str) -> Path:
        path = self.output_dir / "jobs" / job_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def new_id(self) -> str:
        return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]

    def save(self, job: Job) -> None:
        values = []
        for name in _COLUMNS:
            value = getattr(job, name)
            if name in _JSON_FIELDS:
                value = json.dumps(value)
            elif isinstance(value, enum.Enum):
                value = value.value
            values.append(None if value is None else str(value))
        placeholders = ", ".join("?" for _ in _COLUMNS)
        with self._lock:
            self._db.execute(f"INSERT OR REPLACE INTO jobs ({', '.join(_COLUMNS)}) VALUES ({placeholders})", values)

    def update(self, job_id: str, **changes) -> Job:
        job = self.get(job_id)
        for key, value in changes.items():
            setattr(job, key, value)
        self.save(job)
        return job

    def get(self, job_id: str, owner: Owners = ANYONE) -> Job:
        """The job, or KeyError("no job ...") when it does not exist or belongs to none of `owner`."""
        with self._lock:
            row = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE id = ?", (str(job_id),)).fetchone()
        if row is None or (owner is not ANYONE and (row[_COLUMNS.index("owner")] or "") not in _owners(owner)):
            raise KeyError(f"no job {job_id}")
        return self._from_row(row)

    def list(self, limit: int = 200, owner: Owners = ANYONE) -> list[Job]:
        """Newest first; only the jobs of `owner` (one owner or a tuple of them) unless owner is ANYONE."""
        where, args = "", ()
        if owner is not ANYONE:
            args = _owners(owner)
            where = f"WHERE COALESCE(owner, '') IN ({', '.join('?' for _ in args)})"
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM jobs {where} ORDER BY CAST(created_at AS REAL) DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [self._from_row(row) for row in rows]

    def delete(self, job_id: str, owner: Owners = ANYONE) -> None:
        """Remove a finished job and its folder. KeyError ("no job ...") for a job `owner` may not see; ValueError
        (in words) for a job still queued or running: cancel it first."""
        job = self.get(job_id, owner)
        if not job.status.finished:
            raise ValueError(f"Job {job.id} is still {job.status.value}: cancel it first, then delete it.")
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job.id,))
        shutil.rmtree(self.output_dir / "jobs" / job.id, ignore_errors=True)

    def unfinished(self, owner: Owners = ANYONE) -> list[Job]:
        return [job for job in self.list(10_000, owner) if not job.status.finished]

    @staticmethod
    def _from_row(row) -> Job:
        data = dict(zip(_COLUMNS, row))
        for name in _JSON_FIELDS:
            data[name] = json.loads(data[name]) if data[name] else ({} if name not in ("notes",) else [])
        data["status"] = JobStatus(data["status"])
        data["created_at"] = float(data["created_at"])
        data["finished_at"] = float(data["finished_at"]) if data["finished_at"] else None
        data["owner"] = data["owner"] or ""
        return Job(**data)

    def close(self) -> None:
        with self._lock:
            self._db.close()
