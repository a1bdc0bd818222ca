"""Attribute vocabularies and the ways to give classes vectors: CLIP (RSMM), example images, word2vec.

The CLIP and example-image modules import torch and open_clip when used; import them
as ``rsdsva.attributes.clip`` and ``rsdsva.attributes.examples``.
"""

from rsdsva.attributes.vocabulary import Attribute, Vocabulary
from rsdsva.attributes.word2vec import load_word2vec, word2vec_classes

__all__ = ["Attribute", "Vocabulary", "load_word2vec", "word2vec_classes"]
