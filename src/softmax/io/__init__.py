"""Model files, ONNX export, the tabular encoder, and reading data files.

``softmax.io`` imports without pandas or onnx; they are imported inside the
functions that need them.
"""

from softmax.io._model_file import FORMAT_VERSION, ModelFileError, load, read_metadata, save
from softmax.io._onnx import export_onnx
from softmax.io._readers import FORMATS, infer_format, iter_table, read_svmlight, read_table
from softmax.io._tabular import TabularEncoder

__all__ = [
    "FORMATS",
    "FORMAT_VERSION",
    "ModelFileError",
    "TabularEncoder",
    "export_onnx",
    "infer_format",
    "iter_table",
    "load",
    "read_metadata",
    "read_svmlight",
    "read_table",
    "save",
]
