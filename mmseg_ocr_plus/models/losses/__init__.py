from .ohem_cross_entropy_loss import OhemCrossEntropyLoss
from .rmi_loss import RMILoss

__all__ = ['OhemCrossEntropyLoss', 'RMILoss']
