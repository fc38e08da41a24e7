from .boundary_f_score import (
    BoundaryFScore,
    boundary_counts,
    boundary_f_scores,
)

__all__ = ['BoundaryFScore', 'boundary_counts', 'boundary_f_scores']
