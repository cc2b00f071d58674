"""An ONNX Runtime session for a model the engine runs on every tick: one thread, sequential.

One thread because the service decides on one tick at a time and each batch is a single
observation: more threads only add synchronisation cost (measured in bench/). onnxruntime is
imported here, on first use, so that commands which never load a model do not pay for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class InvalidOnnxModel(ValueError):
    """The file is not a model onnxruntime can load; the message is onnxruntime's."""


def single_thread_session(path: Path) -> Any:
    """An ``onnxruntime.InferenceSession`` on the CPU for ``path``; raises
    :class:`InvalidOnnxModel` when onnxruntime cannot load the file."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise InvalidOnnxModel(str(exc)) from exc
