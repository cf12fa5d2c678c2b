"""What combines the layers below: the training run (:mod:`.training_run`, ``dronefast.train``), evaluation
(:mod:`.evaluation`) and its reports (:mod:`.reports`), batch prediction (:mod:`.batch`), the ONNX export
(:mod:`.export_onnx`) and landing spots along a drone video (:mod:`.video`)."""
