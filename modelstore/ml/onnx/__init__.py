"""The served pipelines as ONNX graphs, for onnxruntime inside studentperf and for use outside it.

One graph per setup computes a prediction's numbers from the raw attributes, in one onnxruntime call:

    inputs   one per attribute of the setup, named like the UCI attribute (`school`, `absences`, `G2`),
             shape [N, 1]: categories as strings (tensor(string)), numbers as int64 (tensor(int64))
    outputs  read from the student's predictive distribution: `grade` (its median), `interval_low`,
             `interval_high` (its quantiles for the coverage fixed at conversion), `pass_probability` (its
             mass at G3 >= 10), and `point` and `category` (its centre and Mondrian category, from which
             intervals at other coverages follow); each of shape [N], double (`category` int64)

`convert` builds the graph (`pipeline_to_onnx`; `trees` writes its tree ensembles in double precision),
`runtime` runs it and proves it equal to the scikit-learn pipeline (`onnx_session`, `onnx_predict`,
`onnx_equality_check`); modelstore/onnx_export.py writes a version's graphs for
`manage.py export_model --format onnx`. The skops pipeline stays the source of truth: a graph is derived
from it, and used or exported only once proved equal to it.
"""
from modelstore.ml.onnx.outputs import OUTPUTS
from modelstore.ml.onnx.runtime import (
    onnx_equality_check, onnx_inputs, onnx_predict, onnx_session, sklearn_outputs,
)

# Imported from `convert` on first use: onnx and skl2onnx stay out of a process that only runs graphs.
_CONVERT = ("INPUT_DTYPES", "TARGET_OPSET", "input_dtype", "pipeline_to_onnx")


def __getattr__(name: str):
    if name in _CONVERT:
        from modelstore.ml.onnx import convert

        return getattr(convert, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "INPUT_DTYPES", "OUTPUTS", "TARGET_OPSET", "input_dtype", "onnx_equality_check", "onnx_inputs", "onnx_predict",
    "onnx_session", "pipeline_to_onnx", "sklearn_outputs",
]
