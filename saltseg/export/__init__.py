"""``saltseg export``: a trained run or ensemble as one self-contained ONNX file.

- :mod:`saltseg.export.graph`: the torch module the file holds (uint8 tiles in, probabilities out)
  and saltseg's own fp32 forward pass it must equal;
- :mod:`saltseg.export.onnx_file`: the export, the metadata and onnxruntime sessions (needs the
  ``export`` extra);
- :mod:`saltseg.export.verify`: the comparisons made before anything is written;
- :mod:`saltseg.export.stage`: the command's function, :func:`~saltseg.export.stage.export`.
"""

DEFAULT_OPSET = 18
"""The ONNX opset written unless ``--opset`` says otherwise (18: the lowest the exporter writes)."""
