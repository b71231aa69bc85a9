"""Model files, ONNX export and the tabular encoder.

``softmax.io`` imports without pandas or onnx; they are imported inside the
functions that need them.
"""

from softmax.io._model_file import FORMAT_VERSION, ModelFileError, load, read_metadata, save
from softmax.io._onnx import export_onnx
from softmax.io._tabular import TabularEncoder

__all__ = [
    "FORMAT_VERSION",
    "ModelFileError",
    "TabularEncoder",
    "export_onnx",
    "load",
    "read_metadata",
    "save",
]
