"""What every hosted backend must survive, each against its own strict fake: rate limits (Retry-After honoured),
server errors and slow answers (bounded retries with backoff), malformed answers, failed tasks, provider
validation errors, bad keys, expired result links (nothing half-written), cancel, and resume after a restart."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fakes.common import result_video
from tests.fakes.harness import (
    Crash,
    CrashingReporter,
    FakeClock,
    Reporter,
    backend_options,
    decode,
    expected_result,
    leftovers,
)
from tests.fakes.providers import every_provider
from vace_ui.backends.base import Phase
from vace_ui.backends.remote import AuthError, MalformedResponse, ProviderError, ResultExpired
from vace_ui.backends.remote.base import RESULT_NAME
from vace_ui.core.errors import BackendUnavailable, GenerationCancelled


@pytest.fixture
def clock():
    return FakeClock()


def generate(case, fake, clock, tmp_path, reporter=None, **options):
    backend = case.backend(**backend_options(fake, clock, **options))
    return backend.generate(case.job(tmp_path), reporter or Reporter())


def assert_result(result):
    assert np.array_equal(decode(result.video_path), expected_result())


@every_provider
def test_rate_limit_waits_as_long_as_retry_after_says(case, clock, tmp_path):
    with case.fake() as fake:
        fake.inject("submit", "status", status=429, headers={"Retry-After": "7"})
        assert_result(generate(case, fake, clock, tmp_path))
        assert 7.0 in clock.sleeps
        assert fake.count("submit") == 2


@every_provider
def test_server_errors_are_retried_with_growing_backoff(case, clock, tmp_path):
    with case.fake() as fake:
        fake.inject("poll", "status", status=503, times=2)
        assert_result(generate(case, fake, clock, tmp_path))
        backoffs = [s for s in clock.sleeps if s >= 1.0]
        assert len(backoffs) == 2 and 1.0 <= backoffs[0] <= 1.25 and 2.0 <= backoffs[1] <= 2.5


@every_provider
def test_persistent_server_errors_give_up_after_the_attempt_budget(case, clock, tmp_path):
    with case.fake() as fake:
        fake.inject("poll", "status", status=500, times=50)
        reporter = Reporter()
        with pytest.raises(BackendUnavailable) as caught:
            generate(case, fake, clock, tmp_path, reporter)
        message = str(caught.value)
        assert "HTTP 500" in message and "3 attempt(s)" in message and reporter.task_ids[0] in message
        assert fake.count("poll") == 3


@every_provider
def test_a_slow_answer_times_out_and_is_retried(case, clock, tmp_path):
    with case.fake() as fake:
        fake.inject("poll", "slow", delay=1.5)
        assert_result(generate(case, fake, clock, tmp_path))


@every_provider
def test_a_slow_submission_is_not_resent(case, clock, tmp_path):
    with case.fake() as fake:
        fake.inject("submit", "slow", delay=1.5)
        with pytest.raises(BackendUnavailable, match="may have been received"):
            generate(case, fake, clock, tmp_path)
        assert fake.count("submit") == 1


@every_provider
def test_a_malformed_status_answer_is_retried(case, clock, tmp_path):
    with case.fake() as fake:
        fake.inject("poll", "malformed")
        assert_result(generate(case, fake, clock, tmp_path))


@every_provider
def test_a_malformed_submission_answer_is_reported(case, clock, tmp_path):
    with case.fake() as fake:
        fake.inject("submit", "malformed")
        with pytest.raises(MalformedResponse, match="malformed answer"):
            generate(case, fake, clock, tmp_path)


@every_provider
def test_a_failed_task_shows_the_providers_reason(case, clock, tmp_path):
    with case.fake() as fake:
        fake.fail_with = "The GPU ran out of memory (err 1711)"
        with pytest.raises(ProviderError, match=r"failed: .*The GPU ran out of memory \(err 1711\)"):
            generate(case, fake, clock, tmp_path)


@every_provider
def test_a_rejected_request_shows_the_providers_message(case, clock, tmp_path):
    with case.fake() as fake:
        fake.inject("submit", "status", status=case.error_status, body=case.error_body)
        with pytest.raises(ProviderError) as caught:
            generate(case, fake, clock, tmp_path)
        assert case.error_text in str(caught.value) and f"HTTP {case.error_status}" in str(caught.value)


@every_provider
def test_a_wrong_key_says_to_check_the_key(case, clock, tmp_path):
    with case.fake() as fake:
        with pytest.raises(AuthError, match=f"check the API key for {case.backend.label}"):
            generate(case, fake, clock, tmp_path, api_key="wrong-key-0000")
        assert fake.count("submit") + fake.count("poll") <= 1


@every_provider
def test_an_expired_result_link_leaves_no_file(case, clock, tmp_path):
    with case.fake() as fake:
        fake.expire_results = True
        with pytest.raises(ResultExpired, match="no longer available"):
            generate(case, fake, clock, tmp_path)
        workdir = tmp_path / "job"
        assert not (workdir / RESULT_NAME).exists() and leftovers(workdir) == []


@every_provider
def test_a_download_cut_short_is_retried_and_written_whole(case, clock, tmp_path):
    with case.fake() as fake:
        fake.inject("result", "truncate")
        result = generate(case, fake, clock, tmp_path)
        assert_result(result)
        assert result.video_path.read_bytes() == result_video()
        assert fake.count("result") == 2 and leftovers(tmp_path / "job") == []


@every_provider
def test_cancel_while_running(case, clock, tmp_path):
    with case.fake() as fake:
        fake.polls_to_finish = 1000
        reporter = Reporter(cancel_when=lambda r: r.seen(Phase.DENOISE))
        with pytest.raises(GenerationCancelled) as caught:
            generate(case, fake, clock, tmp_path, reporter)
        polls = fake.count("poll")
        assert ("asked to stop" in str(caught.value)) == case.can_cancel
        assert (fake.count("cancel") >= 1) == case.can_cancel
        assert fake.count("poll") == polls and not (tmp_path / "job" / RESULT_NAME).exists()


@every_provider
def test_cancel_before_submission_sends_nothing(case, clock, tmp_path):
    with case.fake() as fake:
        reporter = Reporter(cancel_when=lambda r: True)
        with pytest.raises(GenerationCancelled, match="before anything was submitted"):
            generate(case, fake, clock, tmp_path, reporter)
        assert fake.count("submit") == 0


@every_provider
def test_resume_after_a_restart_with_only_the_task_id(case, clock, tmp_path):
    with case.fake() as fake:
        crashing = CrashingReporter()
        with pytest.raises(Crash):
            generate(case, fake, clock, tmp_path, crashing)
        (task_id,) = crashing.task_ids  # what the job store kept
        fresh = case.backend(**backend_options(fake, FakeClock()))
        reporter = Reporter()
        result = fresh.resume(case.job(tmp_path), task_id, reporter)
        assert_result(result)
        assert result.remote_task_id == task_id and fake.count("submit") == 1
        assert reporter.task_ids == [] and reporter.seen(Phase.DOWNLOAD)
