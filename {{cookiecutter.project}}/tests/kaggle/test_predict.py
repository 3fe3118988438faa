"""Kaggle predict: probabilities written in exactly the sample submission's shape."""

import pandas as pd
import pytest
import torch
from conftest import module

predict = module("kaggle.predict")
ProjectError = module("kit.errors").ProjectError


def test_submission_frames_follow_the_samples_three_shapes():
    """A label column, one binary probability, or a probability per class: whichever the sample holds."""
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8]]).numpy()
    labels = predict.submission_frame(
        pd.DataFrame({"id": ["a", "b"], "label": ["x", "x"]}), ["a", "b"], probs, ["cat", "dog"]
    )
    assert labels.to_dict("list") == {"id": ["a", "b"], "label": ["cat", "dog"]}
    numbered = predict.submission_frame(pd.DataFrame({"id": ["a"], "label": ["0"]}), ["a", "b"], probs, ["cat", "dog"])
    assert numbered["label"].tolist() == [0, 1]
    binary = predict.submission_frame(pd.DataFrame({"id": ["a"], "p": ["0.5"]}), ["a", "b"], probs, [0, 1])
    assert binary["p"].tolist() == [0.1, 0.8]
    per_class = predict.submission_frame(
        pd.DataFrame({"id": [], "dog": [], "cat": []}), ["a", "b"], probs, ["cat", "dog"]
    )
    assert list(per_class.columns) == ["id", "dog", "cat"] and per_class["dog"].tolist() == [0.1, 0.8]
    with pytest.raises(ProjectError, match="columns the model does not know, e.g. 'cow'"):
        predict.submission_frame(pd.DataFrame({"id": [], "cow": [], "cat": []}), ["a"], probs[:1], ["cat", "dog"])
