"""Evaluation: the boundary F-score, as an MMSeg metric and as functions
the SegFix refinement tool calls."""
from .metrics import BoundaryFScore, boundary_counts, boundary_f_scores

__all__ = ['BoundaryFScore', 'boundary_counts', 'boundary_f_scores']
