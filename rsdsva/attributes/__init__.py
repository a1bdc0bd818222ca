"""Attribute vocabularies and other ways to give classes vectors."""

from rsdsva.attributes.word2vec import load_word2vec, word2vec_classes

__all__ = ["load_word2vec", "word2vec_classes"]
