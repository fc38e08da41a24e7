from .optimizers import AutocastOptimWrapper

__all__ = ['AutocastOptimWrapper']
