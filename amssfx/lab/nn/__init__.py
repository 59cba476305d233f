"""AMSS-Net in PyTorch: model, configurations, checkpoints (extra `train`)."""
