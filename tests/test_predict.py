import numpy as np
import pytest
import torch

from rsdsva.classes import ClassSpace
from rsdsva.errors import ClassSpaceError
from rsdsva.predict import Classifier, classify


def test_modes_pick_their_classes(tiny_model, small_classes):
    model, info = tiny_model
    unseen = small_classes.subset(["harbor"])
    x = torch.rand(4, 3, 48, 48)  # any size: resized to the model's input
    gzsl = classify(model, info, x, unseen=unseen, mode="gzsl", top_k=2)
    assert gzsl.classes.names == ("forest", "city", "beach", "harbor")
    assert gzsl.probabilities.shape == (4, 4) and gzsl.top_k.shape == (4, 2)
    np.testing.assert_allclose(gzsl.probabilities.sum(1), 1, rtol=1e-5)
    assert gzsl.attributes.shape == (4, 6)
    zsl = classify(model, info, x, unseen=unseen, mode="zsl")
    assert zsl.labels == ["harbor"] * 4
    seen = classify(model, info, x, unseen=unseen, mode="seen")
    assert set(seen.labels) <= {"forest", "city", "beach"}
    with pytest.raises(ClassSpaceError, match="needs unseen classes"):
        classify(model, info, x, mode="zsl")


def test_calibrated_stacking_moves_predictions_to_unseen(tiny_model, small_classes):
    model, info = tiny_model
    torch.manual_seed(3)
    x = torch.rand(64, 3, 32, 32)
    fractions = []
    for lam in [-100.0, 0.0, 0.5, 100.0]:
        pred = classify(model, info, x, unseen=small_classes.subset(["harbor"]), calibration=lam)
        fractions.append(np.mean([label == "harbor" for label in pred.labels]))
    assert fractions == sorted(fractions)
    assert fractions[0] == 0.0 and fractions[-1] == 1.0


def test_vocabulary_mismatch_is_refused(tiny_model):
    model, info = tiny_model
    other = ClassSpace(names=["x"], attributes=["a", "b"], matrix=[[1, 0]], seen=[False])
    with pytest.raises(ClassSpaceError, match="vocabulary differs"):
        Classifier(model, info, other)
