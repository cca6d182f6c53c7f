"""The one rule every UI event handler follows, enforced here rather than in each handler.

`wire(event, fn, inputs, outputs)` attaches `fn` through `answered`, which guarantees:
- the handler returns all of its outputs: a partial {component: update} dict is completed with `gr.skip()`, and
  `None` (or an empty dict) means "nothing changes";
- a mistake the person can fix (USER_ERRORS) becomes a warning toast with its message (the field and what to do)
  and every output keeps its previous state, so no component shows an "Error" badge;
- anything else becomes a short warning with an error id; the log keeps the traceback under that id.
Generator handlers (a job's moving status line) get the same treatment for each of their updates.
"""

from __future__ import annotations

import functools
import inspect
import logging
import uuid
from collections.abc import Callable, Collection

import gradio as gr

from ..jobs.user_errors import USER_ERRORS

log = logging.getLogger(__name__)
WARNING_SECONDS = 8


def unchanged(outputs) -> object:
    """What a handler returns when nothing on screen should change."""
    if outputs is None:
        return None
    if isinstance(outputs, Collection) and not isinstance(outputs, gr.blocks.Block):
        return {component: gr.skip() for component in outputs}
    return gr.skip()


def _complete(result, outputs):
    if outputs is None or not isinstance(outputs, Collection) or isinstance(outputs, gr.blocks.Block):
        return result
    if result is None or (isinstance(result, dict) and not result):
        return unchanged(outputs)
    if isinstance(result, dict):
        stray = [key for key in result if key not in outputs]
        if stray:
            raise ValueError(f"handler returned updates for {len(stray)} component(s) that are not its outputs")
        return {**unchanged(outputs), **result}
    return result


def _warn_unexpected(name: str, error: Exception) -> None:
    error_id = uuid.uuid4().hex[:8]
    log.error("UI handler %s failed [error %s]", name, error_id, exc_info=error)
    gr.Warning(f"Something went wrong ({type(error).__name__}); nothing was changed. Error id {error_id}: "
               "the server log has the details under that id.", duration=WARNING_SECONDS)


def _warn_user(error: Exception) -> None:
    gr.Warning(str(error), duration=WARNING_SECONDS)


def answered(fn: Callable, outputs) -> Callable:
    """`fn` under the rule above. The signature is kept (Gradio reads it for gr.SelectData / gr.Progress)."""
    name = getattr(fn, "__qualname__", repr(fn))

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def stream(*args, **kwargs):
            try:
                for result in fn(*args, **kwargs):
                    yield _complete(result, outputs)
            except USER_ERRORS as error:
                _warn_user(error)
                yield unchanged(outputs)
            except Exception as error:  # noqa: BLE001 - the rule: never reach Gradio as an exception
                _warn_unexpected(name, error)
                yield unchanged(outputs)

        stream.answered = True
        return stream

    @functools.wraps(fn)
    def handler(*args, **kwargs):
        try:
            return _complete(fn(*args, **kwargs), outputs)
        except USER_ERRORS as error:
            _warn_user(error)
        except Exception as error:  # noqa: BLE001 - the rule: never reach Gradio as an exception
            _warn_unexpected(name, error)
        return unchanged(outputs)

    handler.answered = True
    return handler


def wire(event: Callable, fn: Callable, inputs=None, outputs=None, quick: bool = False, **options):
    """`event(fn, inputs, outputs, **options)` with `fn` answered; UI events stay out of the API by default.

    Every event goes through Gradio's queue, because toasts (gr.Warning / gr.Info) reach the page only that way.
    `quick` handlers (no decoding, no model) get their own unlimited concurrency and no progress overlay, so they
    never wait behind a preview."""
    options.setdefault("api_visibility", "private")
    if quick:
        options.setdefault("concurrency_limit", None)
        options.setdefault("show_progress", "hidden")
    return event(answered(fn, outputs), inputs, outputs, **options)
