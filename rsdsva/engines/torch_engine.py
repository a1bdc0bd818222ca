"""The torch engine: a DSVA module on a CPU or a CUDA device, at float32 or under autocast."""

from __future__ import annotations

import warnings
from functools import cached_property

import numpy as np
import torch

from rsdsva.engines.base import Engine, Forward
from rsdsva.errors import ConfigError, RsdsvaWarning
from rsdsva.engines.registry import entry
from rsdsva.models.info import ModelInfo


class TorchEngine(Engine):
    """Runs ``model`` (a :class:`rsdsva.models.dsva.DSVA`) where its parameters are.

    Args:
        precision: ``fp16`` or ``bf16`` autocast on CUDA, ``bf16`` on CPU (about 1.6x faster
            on CPUs with AVX512-BF16 or AMX); None for float32.
    """

    name = "torch"

    def __init__(self, model, info: ModelInfo, precision: str | None = None) -> None:
        from rsdsva.models.dsva import feature_space_id

        self.model = model.eval()
        self.info = info
        self.torch_device = next(model.parameters()).device
        self.precision = precision
        self.autocast_dtype = autocast_dtype(precision, self.torch_device)
        self.feature_space = feature_space_id(model)

    @cached_property
    def example_layers(self) -> tuple[str, ...]:
        from rsdsva.models.backbones import example_layers

        return example_layers(self.model.backbone)

    def prepare(self, images) -> torch.Tensor:
        """[0, 1] images (N, 3, H, W), numpy or torch -> the model's input on its device."""
        from rsdsva.data.transforms import to_model_input

        if isinstance(images, np.ndarray):
            images = torch.from_numpy(images)
        pre = self.info.preprocessing
        return to_model_input(images.to(self.torch_device, torch.float32, non_blocking=True), pre.image_size,
                              pre.mean, pre.std)

    @torch.inference_mode()
    def run(self, images, tap: tuple[str, ...] = ()) -> Forward:
        dtype = self.autocast_dtype
        with torch.autocast(self.torch_device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = self.model(self.prepare(images), None, tap=tap)

        def host(t):
            return None if t is None else t.float().cpu().numpy()

        return Forward(host(out.attributes), host(out.attention), tuple(host(t) for t in out.tapped),
                       host(out.vam_attributes))


def autocast_dtype(precision: str | None, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``; None runs in float32.

    fp16 on a CPU would be slower than float32 there, so it falls back (with a warning).
    """
    if precision is None:
        return None
    if precision not in entry("torch").capabilities.precisions:
        raise ConfigError(f"precision {precision!r} is not fp16 or bf16 (or none, for float32)")
    if device.type == "cuda":
        return torch.float16 if precision == "fp16" else torch.bfloat16
    if precision == "bf16" and device.type == "cpu":
        return torch.bfloat16
    warnings.warn(f"`precision` {precision} is not supported on {device.type}; running in float32 "
                  "(use `precision` bf16 on a CPU)", RsdsvaWarning, stacklevel=3)
    return None


def opened(path, device: str = "auto", precision: str | None = None, threads: int | None = None):
    """(engine, info) for the .safetensors model ``path`` on ``device``, at ``precision``, on
    ``threads`` CPU threads (None: torch's default)."""
    from rsdsva.models.checkpoint import load_checkpoint
    from rsdsva.models.device import pick_device

    if threads:
        torch.set_num_threads(threads)
    net, info = load_checkpoint(path, device=pick_device(device))
    return TorchEngine(net, info, precision), info
