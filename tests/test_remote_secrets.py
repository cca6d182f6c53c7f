"""A known key must never show up anywhere but the Authorization header: not in logs (DEBUG, every logger), not
in results' info, not in exceptions or their tracebacks, not in progress messages, not in files written - even
when a provider echoes it back in an error."""

from __future__ import annotations

import json
import logging
import traceback

import pytest

from tests.fakes.harness import KEY, FakeClock, Reporter, backend_options
from tests.fakes.providers import every_provider
from vace_ui.backends.remote import AuthError


def no_key_in(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


@every_provider
def test_the_key_never_leaks(case, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "sk-wrong-SECRET-99aa55"
    exposed: list[str] = []
    with case.fake() as fake:
        # 1. a successful job, the key taken from the environment
        monkeypatch.setenv(case.backend.key_env, KEY)
        reporter = Reporter()
        result = case.backend(**backend_options(fake, FakeClock(), api_key=None)).generate(case.job(tmp_path),
                                                                                           reporter)
        exposed.append(json.dumps(result.info, default=str))
        exposed.append(repr(result))
        exposed += [message for *_, message in reporter.phases]

        # 2. the provider echoes the key in an error body
        fake.inject("submit", "status", status=400, body={"message": f"bad request for key {KEY}",
                                                          "detail": f"key {KEY}", "error": f"key {KEY}"})
        with pytest.raises(Exception) as caught:
            case.backend(**backend_options(fake, FakeClock())).generate(case.job(tmp_path), Reporter())
        exposed += [str(caught.value), "".join(traceback.format_exception(caught.value))]
        assert "***" in str(caught.value)  # the echoed key was there, and was blanked

        # 3. a failed task whose reason quotes the key
        fake.fail_with = f"quota exceeded for {KEY}"
        with pytest.raises(Exception) as caught:
            case.backend(**backend_options(fake, FakeClock())).generate(case.job(tmp_path), Reporter())
        exposed += [str(caught.value), "".join(traceback.format_exception(caught.value))]
        fake.fail_with = None

        # 4. a wrong key
        with pytest.raises(AuthError) as caught:
            case.backend(**backend_options(fake, FakeClock(), api_key=wrong)).generate(case.job(tmp_path),
                                                                                     Reporter())
        exposed += [str(caught.value), "".join(traceback.format_exception(caught.value))]

        assert f"Bearer {KEY}" in fake.seen_auth  # the key was really used
    exposed.append(caplog.text)
    loggers = {record.name for record in caplog.records}
    assert "vace_ui.backends.remote" in loggers and "httpcore.http11" in loggers  # DEBUG was captured
    for text in exposed:
        no_key_in(text, KEY, wrong)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert KEY.encode() not in content and wrong.encode() not in content, path


@every_provider
def test_status_line_names_the_variable_not_the_key(case, monkeypatch):
    monkeypatch.delenv(case.backend.key_env, raising=False)
    backend = case.backend(base_url="http://127.0.0.1:9")
    if backend.key_required:
        assert case.backend.key_env in backend.status()
    backend.set_api_key(KEY)
    assert KEY not in backend.status() and backend.api_key() == KEY
