"""Where a model runs."""

from __future__ import annotations

import torch

from rsdsva.errors import ConfigError


def pick_device(device: str = "auto") -> torch.device:
    """``auto`` (CUDA when present), ``cpu`` or ``cuda``; asking for a missing GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("`device` cuda asked for, but no CUDA device is visible; use `device` cpu or auto")
    return torch.device(device)
