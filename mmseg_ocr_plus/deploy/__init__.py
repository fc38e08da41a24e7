"""Inference and deployment: BatchNorm folding, dropout removal, channels-last,
autocast, compiling, freed memory kept (:func:`prepare_for_inference`), CUDA
graphs (:class:`CUDAGraphForward`), ONNX
export and its parity check in ONNX Runtime or OpenVINO
(``tools/deployment/pytorch2onnx.py``)."""
from .compiled_call import compile_unavailable_reason
from .cuda_graph import CUDAGraphForward
from .entry_points import wrap_entry_points
from .exportable_upsample import ExportableUpsample, replace_upsample
from .fold_batchnorm import fold_batchnorm, fold_conv_bn
from .freed_memory import keep_freed_memory
from .inference import (
    cast_weights,
    enable_lowres_convs,
    prepare_for_inference,
    remove_dropout,
)
from .onnx_export import SegmentorExport, export_onnx
from .onnx_parity import ONNX_BACKENDS, onnx_parity, run_onnx, synthetic_inputs
from .openvino_model import OPENVINO_PRECISIONS, compile_openvino

__all__ = [
    'CUDAGraphForward', 'ExportableUpsample', 'ONNX_BACKENDS',
    'OPENVINO_PRECISIONS', 'SegmentorExport', 'cast_weights',
    'compile_openvino', 'compile_unavailable_reason', 'enable_lowres_convs',
    'export_onnx', 'fold_batchnorm', 'fold_conv_bn', 'keep_freed_memory',
    'onnx_parity',
    'prepare_for_inference', 'remove_dropout', 'replace_upsample', 'run_onnx',
    'synthetic_inputs', 'wrap_entry_points'
]
