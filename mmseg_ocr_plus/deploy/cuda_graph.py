"""A segmentor's ``_forward`` captured once in a CUDA graph and replayed.

On a GPU, HRNet-W18 OCRNet launches hundreds of small kernels per image;
replaying them as one CUDA graph removes the launch cost of each. The graph
holds one input shape and one output buffer: a new shape needs a new
capture, and the output is overwritten by the next call. The graph reads the
model's weights where they were at the capture: it keeps the model alive,
and changing or moving the weights afterwards needs a new capture.

Example::

    >>> model = prepare_for_inference(model.cuda(), torch.float16)
    >>> forward = CUDAGraphForward(model, inputs)  # [N, 3, H, W] on CUDA
    >>> logits = forward(inputs).clone()  # [N, K, H/4, W/4], fp32
"""
import torch
from torch import Tensor, nn

__all__ = ['CUDAGraphForward']


class CUDAGraphForward:
    """``model._forward(inputs)`` for inputs of ``example``'s shape, dtype
    and device, as a CUDA graph.

    Args:
        model (nn.Module): A segmentor in eval mode on a CUDA device (e.g.
            after :func:`~mmseg_ocr_plus.deploy.prepare_for_inference`);
            its ``_forward`` must not synchronise with the host.
        example (Tensor): An input ``[N, 3, H, W]`` on the model's device;
            its values are only used to warm up.
        warmup (int): Calls on a side stream before the capture (cuDNN's
            algorithm search, lazy initialisation). Defaults to 3.

    Raises:
        ValueError: If ``example`` is not a CUDA tensor or ``warmup`` < 1.
    """

    def __init__(self, model: nn.Module, example: Tensor,
                 warmup: int = 3) -> None:
        if not example.is_cuda:
            raise ValueError('CUDAGraphForward: expected a CUDA input, got '
                             f'one on {example.device}')
        if warmup < 1:
            raise ValueError(f'CUDAGraphForward: expected warmup >= 1, got '
                             f'{warmup}')
        self.model = model  # the graph holds its weights' addresses only
        self.static_input = example.clone()
        stream = torch.cuda.Stream(example.device)
        stream.wait_stream(torch.cuda.current_stream(example.device))
        with torch.no_grad(), torch.cuda.stream(stream):
            for _ in range(warmup):
                model._forward(self.static_input)
        torch.cuda.current_stream(example.device).wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.no_grad(), torch.cuda.graph(self.graph):
            self.static_output = model._forward(self.static_input)

    def __call__(self, inputs: Tensor) -> Tensor:
        """Copy ``inputs`` into the graph's input, replay it and return its
        output buffer (clone it to keep it past the next call).

        Raises:
            ValueError: If ``inputs`` differs from the captured input in
                shape, dtype or device.
        """
        static = self.static_input
        if (inputs.shape, inputs.dtype, inputs.device) != (
                static.shape, static.dtype, static.device):
            raise ValueError(
                'CUDAGraphForward: captured for inputs of shape '
                f'{list(static.shape)}, {static.dtype} on {static.device}; '
                f'got {list(inputs.shape)}, {inputs.dtype} on '
                f'{inputs.device}')
        static.copy_(inputs)
        self.graph.replay()
        return self.static_output
