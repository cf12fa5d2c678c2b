"""Running a trained model: prediction options (:mod:`.predict_options`), engines (:mod:`.engines`: PyTorch;
ONNX Runtime and the ONNX graph code in :mod:`.onnx`), the Predictor (:mod:`.predictor`), input scanning and output
files (:mod:`.predict_files`) and the memory estimate (:mod:`.memory`). The window grid and tiled forward passes
are the models layer's (:mod:`dronefast.models.grid`, :mod:`dronefast.models.tiling`); evaluation, batch
prediction and the export are workflows (:mod:`dronefast.workflows`)."""
