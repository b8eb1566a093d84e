"""The trainer: Llama-2-style pretraining on data mixes with PyTorch distributed (FSDP2/DDP), resumable.

``train(run_config, run_dir)`` is the entry point; ``njsl train`` (``pretraining.train.train_cli``) wraps it.
"""
from pretraining.train.loop import TrainingDiverged, plan, train, train_step

__all__ = ["train", "train_step", "plan", "TrainingDiverged"]
