"""parplan: plan distributed training of Diffusion Transformers."""

__version__ = "0.1.0"
