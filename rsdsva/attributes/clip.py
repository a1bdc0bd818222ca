"""RSMM: class attributes annotated by machine with CLIP (Xu et al., 2023, sec. 3.3).

An attribute's text embedding is the mean of its prompts' embeddings (every
phrase in every template of the vocabulary). For each image, CLIP's cosine
similarity to every attribute's text is turned into a distribution over the
attributes with CLIP's own temperature (softmax of ``logit_scale * cosine``, as in
CLIP zero-shot classification): how well each attribute, among all, describes the
image. A class's vector is the mean of its images' distributions, rescaled so
that its strongest attribute gets the vocabulary's scale (100): the same shape
as the human matrices, where each class's most salient attribute is 100.

Text-only mode scores a class name or description (put into the same templates)
against the attribute texts the same way: a rough prior for a class with no
images at all.

Weights come from a local file, or by name when the caller names them (``hf:``,
``openclip:``; :mod:`rsdsva.models.hub`); nothing else downloads.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from rsdsva.attributes.vocabulary import Vocabulary
from rsdsva.classes import ClassSpace
from rsdsva.errors import BackboneError, WeightsError

TINY_CLIP = "tiny-clip"  # a random tiny CLIP for tests; needs no weights


@dataclass
class ClipModel:
    """An open_clip CLIP with its tokenizer and input normalisation."""

    model: Any
    tokenizer: Any
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    device: torch.device

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.detach().exp())

    @torch.inference_mode()
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        tokens = self.tokenizer(list(texts)).to(self.device)
        return F.normalize(self.model.encode_text(tokens).float(), dim=-1)

    @torch.inference_mode()
    def encode_images(self, paths: Sequence[str], batch_size: int = 32) -> torch.Tensor:
        from rsdsva.data.folders import read_image
        from rsdsva.data.transforms import eval_transform

        transform = eval_transform(self.image_size, self.mean, self.std)
        out = []
        for start in range(0, len(paths), batch_size):
            batch = torch.stack([transform(read_image(p)) for p in paths[start : start + batch_size]])
            out.append(F.normalize(self.model.encode_image(batch.to(self.device)).float(), dim=-1))
        return torch.cat(out)


def load_clip(name: str, weights: str | Path | None, device: str = "auto") -> ClipModel:
    """An open_clip model ``name`` (e.g. ``ViT-B-32``) with ``weights``: a local file, or weights
    by name (``openclip:ARCH/TAG``, ``hf:ORG/REPO/FILE``; :mod:`rsdsva.models.hub`).

    RemoteCLIP and GeoRSCLIP checkpoints are ViT-B-32 state dicts and load the same way.
    """
    import open_clip

    from rsdsva.models.device import pick_device

    dev = pick_device(device)
    if name == TINY_CLIP:
        from rsdsva.models.backbones import build_tiny_clip

        model = build_tiny_clip()
        tokenizer_name = "ViT-B-32"
    else:
        if weights is None:
            raise WeightsError(
                f"CLIP model {name} needs --weights: a local open_clip, OpenAI CLIP, RemoteCLIP or GeoRSCLIP "
                ".pt/.bin/.safetensors file, or weights by name (openclip:ViT-B-32/openai, hf:ORG/REPO/FILE)"
            )
        config = open_clip.get_model_config(name)
        if config is None:
            raise BackboneError(f"unknown CLIP model {name!r}; use an open_clip name such as ViT-B-32")
        if config.get("text_cfg", {}).get("hf_tokenizer_name"):
            raise BackboneError(f"CLIP model {name} needs a Hugging Face tokenizer, which would be downloaded; "
                                "use a model with CLIP's own tokenizer (ViT-B-32, ViT-B-16, ViT-L-14)")
        with _without_random_init_warning():  # the weights are loaded next
            model = open_clip.create_model(name, pretrained=None)
        tokenizer_name = name
    if weights is not None:
        _load_weights(model, weights, name)
    cfg = getattr(model.visual, "preprocess_cfg", {}) or {}
    size = model.visual.image_size
    return ClipModel(
        model=model.to(dev).eval(),
        tokenizer=open_clip.get_tokenizer(tokenizer_name),
        image_size=int(size[0] if isinstance(size, (tuple, list)) else size),
        mean=tuple(cfg.get("mean", open_clip.OPENAI_DATASET_MEAN)),
        std=tuple(cfg.get("std", open_clip.OPENAI_DATASET_STD)),
        device=dev,
    )


def _load_weights(model: Any, path: str | Path, name: str) -> None:
    from rsdsva.models.hub import resolve
    from rsdsva.models.weights import read_state_dict

    path = resolve(path)
    state = {k.removeprefix("module."): v for k, v in read_state_dict(path).items()}
    own = model.state_dict()
    wrong = [k for k, v in state.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if wrong:
        k = wrong[0]
        raise WeightsError(f"{path}: {k} has shape {tuple(state[k].shape)}, CLIP model {name} expects "
                           f"{tuple(own[k].shape)}; give weights of {name} or the matching --clip-model")
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("attn_mask")]
    if missing or result.unexpected_keys:
        keys = (missing or result.unexpected_keys)[:3]
        what = "lacks" if missing else "has unexpected"
        raise WeightsError(f"{path}: {what} keys {keys} for CLIP model {name}; give a full CLIP state dict of {name}")


def attribute_text_embeddings(clip: ClipModel, vocabulary: Vocabulary) -> torch.Tensor:
    """(A, D) unit vectors: each attribute's prompts embedded and averaged."""
    rows = [clip.encode_texts(vocabulary.prompts(a)).mean(dim=0) for a in vocabulary.attributes]
    return F.normalize(torch.stack(rows), dim=-1)


def similarities_to_vectors(similarities: torch.Tensor, logit_scale: float) -> np.ndarray:
    """(N, A) cosines -> (A,) class vector: softmax per row, mean, max scaled to 1."""
    probs = (logit_scale * similarities).softmax(dim=-1).mean(dim=0)
    return (probs / probs.max()).cpu().numpy()


def annotate_images(
    clip: ClipModel,
    vocabulary: Vocabulary,
    images: Mapping[str, Sequence[str]],
    seen: bool = False,
    batch_size: int = 32,
    progress: bool = False,
) -> ClassSpace:
    """RSMM vectors of the classes in ``images`` (class -> image paths)."""
    from tqdm.auto import tqdm

    text = attribute_text_embeddings(clip, vocabulary)
    rows = []
    for name, paths in tqdm(list(images.items()), desc="classes", disable=not progress):
        rows.append(similarities_to_vectors(clip.encode_images(list(paths), batch_size) @ text.T, clip.logit_scale))
    return _space(vocabulary, list(images), rows, seen)


def annotate_texts(clip: ClipModel, vocabulary: Vocabulary, descriptions: Mapping[str, str], seen: bool = False) -> ClassSpace:
    """Vectors of classes given only by a name or description (class -> text)."""
    text = attribute_text_embeddings(clip, vocabulary)
    rows = []
    for description in descriptions.values():
        prompts = [t.format(description) for t in vocabulary.templates]
        class_text = F.normalize(clip.encode_texts(prompts).mean(dim=0, keepdim=True), dim=-1)
        rows.append(similarities_to_vectors(class_text @ text.T, clip.logit_scale))
    return _space(vocabulary, list(descriptions), rows, seen)


def _space(vocabulary: Vocabulary, names: list[str], rows: list[np.ndarray], seen: bool) -> ClassSpace:
    return ClassSpace(
        names=names,
        attributes=vocabulary.names,
        matrix=np.stack(rows) * vocabulary.scale,
        seen=np.full(len(names), seen),
        groups=vocabulary.group_of(),
        scale=vocabulary.scale,
    )


class _RandomInitFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "initialized randomly" not in record.getMessage()


@contextlib.contextmanager
def _without_random_init_warning():
    """Drop open_clip's one "Model initialized randomly" warning (logged on the root logger),
    and nothing else: other records, and other threads' logging, pass."""
    root, quiet = logging.getLogger(), _RandomInitFilter()
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)
