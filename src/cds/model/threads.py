"""Run scikit-learn's OpenMP code (gradient boosting) on one thread.

Gradient boosting fits and predicts with OpenMP threads. In a busy process (a
web service, a test run beside other work) they oversubscribe the CPUs and a
ten-row prediction can take hundreds of milliseconds; one thread is both faster
there and deterministic. The controller is built once (inspecting the loaded
libraries is the slow part).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from threadpoolctl import ThreadpoolController

__all__ = ["one_thread"]


@cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


@contextmanager
def one_thread() -> Iterator[None]:
    with _controller().limit(limits=1, user_api="openmp"):
        yield
