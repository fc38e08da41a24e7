from .amp import enable_amp
from .autocast_optim_wrapper import AutocastOptimWrapper

__all__ = ['AutocastOptimWrapper', 'enable_amp']
