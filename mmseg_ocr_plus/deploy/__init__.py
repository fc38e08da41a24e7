"""Inference and deployment: BatchNorm folding, dropout removal, autocast
(:func:`prepare_for_inference`), ONNX export and its ONNX Runtime parity
check (``tools/deployment/pytorch2onnx.py``)."""
from .autocast_forward import autocast_inference
from .exportable_upsample import ExportableUpsample, replace_upsample
from .fold_batchnorm import fold_batchnorm, fold_conv_bn
from .inference import prepare_for_inference, remove_dropout
from .onnx_export import SegmentorExport, export_onnx
from .onnx_parity import onnx_parity, synthetic_inputs

__all__ = [
    'ExportableUpsample', 'SegmentorExport', 'autocast_inference',
    'export_onnx', 'fold_batchnorm', 'fold_conv_bn', 'onnx_parity',
    'prepare_for_inference', 'remove_dropout', 'replace_upsample',
    'synthetic_inputs'
]
