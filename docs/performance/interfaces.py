# SPDX-License-Identifier: Apache-2.0
"""A GPU buffer offered through one interface only.

CV-CUDA reads ``__cuda_array_interface__`` (CAI) first and DLPack second, and a
torch tensor offers both, its CAI as version 2 with no stream. To measure or
test the other ways in:

* :class:`DLPackOnly` offers DLPack and nothing else, like a JAX array;
* :class:`CaiV3` offers the CAI as version 3, naming the stream that wrote it.

The benchmark's interop part and the GPU tests use these (pytest's
``pythonpath`` holds this folder).
"""

from __future__ import annotations

from typing import Any


class DLPackOnly:
    """``inner``'s ``__dlpack__`` and ``__dlpack_device__``, and no CAI."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __dlpack__(self, **kwargs: Any) -> Any:
        return self.inner.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> Any:
        return self.inner.__dlpack_device__()


class CaiV3:
    """``inner``'s CAI as version 3 naming ``stream``: a ``cudaStream_t`` as an
    int (0, ambiguous in version 3, is written as 1, the legacy stream), or None
    for "nothing pending, no wait". ``inner`` is kept alive and not modified."""

    def __init__(self, inner: Any, stream: int | None) -> None:
        self.inner = inner
        self.__cuda_array_interface__ = {
            **inner.__cuda_array_interface__,
            "version": 3,
            "stream": 1 if stream == 0 else stream,
        }
