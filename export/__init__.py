"""Export: AMSS-Net checkpoints to ONNX with the amssfx contract (extra `export`)."""
