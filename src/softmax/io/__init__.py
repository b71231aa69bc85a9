"""Reading data files (CSV, Parquet, svmlight).

Importing this package is light: pandas, pyarrow and scikit-learn are
imported by the functions that need them.
"""

from softmax.io._readers import FORMATS, infer_format, iter_table, read_svmlight, read_table

__all__ = ["FORMATS", "infer_format", "iter_table", "read_svmlight", "read_table"]
