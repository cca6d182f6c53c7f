"""The shared HTTP layer and media helpers of the remote backends: Retry-After parsing, backoff bounds, redaction,
where the key is sent, connection failures, atomic downloads, and the lossless mask files."""

from __future__ import annotations

import email.utils
import random

import numpy as np
import pytest

from tests.fakes.dashscope_fake import FakeDashScope
from tests.fakes.harness import KEY, FakeClock, blank_inputs, decode, edit_inputs, leftovers, outpaint_inputs
from tests.fakes.jiekou_fake import FakeJiekou
from vace_ui.backends.remote.http import HttpClient, ResultExpired, RetryPolicy, redact, retry_after_seconds
from vace_ui.backends.remote.media import is_blank_source, write_mask
from vace_ui.core.errors import BackendUnavailable


def client(base_url: str, clock: FakeClock, key: str | None = KEY, **retry) -> HttpClient:
    return HttpClient(label="Test", base_url=base_url, key=lambda: key, key_hint="TEST_KEY",
                      retry=RetryPolicy(**{"attempts": 3, **retry}), timeout=0.5, sleep=clock.sleep,
                      rng=random.Random(0))


def test_retry_after_parses_seconds_and_dates():
    now = 1_700_000_000.0
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(" 2.5 ") == 2.5
    assert retry_after_seconds(email.utils.formatdate(now + 30, usegmt=True), now=lambda: now) == 30.0
    assert retry_after_seconds(email.utils.formatdate(now - 30, usegmt=True), now=lambda: now) == 0.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_backoff_doubles_with_bounded_jitter_and_a_cap():
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, jitter=0.25)
    rng = random.Random(1)
    for retry, base in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (7, 8.0)):
        for _ in range(20):
            assert base <= policy.backoff(retry, rng) <= base * 1.25


def test_redact_blanks_every_occurrence():
    assert redact(f"key={KEY}; again {KEY}", [KEY]) == "key=***; again ***"
    assert redact("nothing here", [""]) == "nothing here"


def test_retry_after_is_capped(tmp_path):
    clock = FakeClock()
    with FakeJiekou(key=KEY) as fake:
        fake.inject("poll", "status", status=429, headers={"Retry-After": "86400"})
        answer = client(fake.base_url, clock, max_retry_after=60.0).call(
            "GET", "/v3/async/task-result", params={"task_id": "x"}, what="checking", ok=frozenset({404}))
        assert answer["reason"] == "TASK_NOT_FOUND"
        assert clock.sleeps == [60.0]


def test_rate_limit_that_never_lifts_says_so():
    clock = FakeClock()
    with FakeJiekou(key=KEY) as fake:
        fake.inject("poll", "status", status=429, times=5, headers={"Retry-After": "1"})
        with pytest.raises(BackendUnavailable, match="rate-limiting"):
            client(fake.base_url, clock).call("GET", "/v3/async/task-result", what="checking")
        assert clock.sleeps == [1.0, 1.0] and fake.count("poll") == 3


def test_an_unreachable_server_is_retried_then_explained():
    clock = FakeClock()
    with FakeJiekou(key=KEY) as fake:
        base = fake.base_url
    with pytest.raises(BackendUnavailable, match="could not be reached"):  # the port is closed now
        client(base, clock).call("POST", "/v3/async/wan-t2v", json={}, what="submitting")
    assert len(clock.sleeps) == 2  # a refused connection never reached the server: safe to resend


def test_the_key_goes_only_to_the_api_host(tmp_path):
    clock = FakeClock()
    with FakeDashScope(key=KEY) as fake:
        http = client(fake.base_url, clock)
        assert http.under_base(fake.base_url + "/tasks/1") and not http.under_base(fake.root + "/results/a.mp4")
        path = http.download(fake.root + "/results/t.mp4", tmp_path / "out.mp4")  # fake rejects any auth here
        assert decode(path).shape[0] == 12
        with pytest.raises(Exception):
            http.download(fake.root + "/results/t.mp4", tmp_path / "again.mp4", auth=True)
        assert not (tmp_path / "again.mp4").exists()


def test_a_download_that_keeps_breaking_leaves_nothing(tmp_path):
    clock = FakeClock()
    with FakeDashScope(key=KEY) as fake:
        fake.inject("result", "truncate", times=3)
        with pytest.raises(BackendUnavailable):
            client(fake.base_url, clock).download(fake.root + "/results/t.mp4", tmp_path / "out.mp4")
        assert list(tmp_path.iterdir()) == [] and leftovers(tmp_path) == []
        fake.expire_results = True
        with pytest.raises(ResultExpired):
            client(fake.base_url, clock).download(fake.root + "/results/t.mp4", tmp_path / "out.mp4")
        assert list(tmp_path.iterdir()) == []


def test_masks_are_written_losslessly(tmp_path):
    from PIL import Image

    moving = edit_inputs(17)
    path = write_mask(moving, tmp_path)
    assert path.suffix == ".mp4" and np.array_equal(decode(path)[..., 0], moving.mask)
    static = outpaint_inputs(17)
    path = write_mask(static, tmp_path)
    assert path.suffix == ".png" and np.array_equal(np.asarray(Image.open(path)), static.mask[0])
    path = write_mask(static, tmp_path / "video", allow_image=False)
    assert path.suffix == ".mp4" and np.array_equal(decode(path)[..., 0], static.mask)
    assert is_blank_source(blank_inputs(17, refs=1)) and not is_blank_source(static)


def test_a_server_that_stays_slow_is_given_up_on():
    clock = FakeClock()
    with FakeJiekou(key=KEY) as fake:
        fake.inject("poll", "slow", delay=1.0, times=3)
        with pytest.raises(BackendUnavailable, match="did not answer within 0.5 s while checking, 3 attempt"):
            client(fake.base_url, clock).call("GET", "/v3/async/task-result", what="checking")
        assert fake.count("poll") == 3 and len(clock.sleeps) == 2
