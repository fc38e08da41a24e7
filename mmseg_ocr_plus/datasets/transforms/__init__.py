from .loading import (
                      LoadAnnotationsChecked,
                      LoadImageFromFileChecked,
                      UnreadableImageError,
)

__all__ = [
    'LoadAnnotationsChecked', 'LoadImageFromFileChecked',
    'UnreadableImageError'
]
