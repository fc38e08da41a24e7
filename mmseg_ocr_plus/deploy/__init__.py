"""Inference and deployment: BatchNorm folding, dropout removal, channels-last,
autocast
(:func:`prepare_for_inference`), ONNX export and its ONNX Runtime parity
check (``tools/deployment/pytorch2onnx.py``)."""
from .entry_points import wrap_entry_points
from .exportable_upsample import ExportableUpsample, replace_upsample
from .fold_batchnorm import fold_batchnorm, fold_conv_bn
from .inference import cast_weights, prepare_for_inference, remove_dropout
from .onnx_export import SegmentorExport, export_onnx
from .onnx_parity import onnx_parity, synthetic_inputs

__all__ = [
    'ExportableUpsample', 'SegmentorExport', 'cast_weights',
    'export_onnx', 'fold_batchnorm', 'fold_conv_bn', 'onnx_parity',
    'prepare_for_inference', 'remove_dropout', 'replace_upsample',
    'synthetic_inputs', 'wrap_entry_points'
]
