"""Model export: ONNX float, onnxruntime static int8 (QDQ), TFLite int8, the device format,
and the parity report that compares them on the test set."""
