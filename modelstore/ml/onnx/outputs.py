"""The outputs of a setup's graph, in order (see the package's docstring). Apart from `convert`, so that running
and checking graphs (`runtime`, modelstore.loader) does not import onnx and skl2onnx, the converter's libraries
(about 30 MiB a process that only serves does without)."""
OUTPUTS = ("grade", "interval_low", "interval_high", "pass_probability", "point", "category")
