from .reference_hrnet import ReferenceHRModule, ReferenceHRNet

__all__ = ['ReferenceHRModule', 'ReferenceHRNet']
