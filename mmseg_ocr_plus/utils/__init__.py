"""Utilities; :mod:`.compat` must not import mmseg (it runs before it)."""

from .compat import MissingOpError, apply_compat

__all__ = ['MissingOpError', 'apply_compat']
