"""The errors a person can act on, wherever they surface (Generate, Preview, Export, the API, any UI click).

Each carries a message in words that names the field or the service and says what to do. Anything else is a bug:
it is logged with its traceback and the person sees a short message with an error id.
"""

from __future__ import annotations

from ..annotators.base import AnnotatorError
from ..backends.remote.http import ProviderError
from ..core.errors import BackendUnavailable, InputError, MediaError

USER_ERRORS: tuple[type[Exception], ...] = (InputError, MediaError, AnnotatorError, BackendUnavailable, ProviderError)
