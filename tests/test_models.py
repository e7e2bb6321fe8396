import pytest
import torch
from torch import nn

from course_utils import fit
from course_utils.models import MLP


def test_mlp_layers_and_output_shape():
    model = MLP(784, [512, 256], 10, dropout=0.2)
    linear_shapes = [
        tuple(layer.weight.shape) for layer in model.layers if isinstance(layer, nn.Linear)
    ]
    assert linear_shapes == [(512, 784), (256, 512), (10, 256)]
    assert sum(isinstance(layer, nn.Dropout) for layer in model.layers) == 2
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_mlp_without_hidden_layers_is_logistic_regression():
    model = MLP(4, [], 3)
    assert [type(layer) for layer in model.layers] == [nn.Flatten, nn.Linear]


def test_mlp_follows_the_training_protocol(separable_loaders):
    torch.manual_seed(0)
    history = fit(3, 0.1, MLP(2, [8], 2), *separable_loaders)
    assert history[-1]["val_acc"] > 0.95


@pytest.mark.parametrize("kwargs", [{"dropout": 1.0}, {"dropout": -0.1}, {"hidden_sizes": [0]}])
def test_mlp_rejects_bad_sizes(kwargs):
    arguments = {"in_features": 4, "hidden_sizes": [8], "num_classes": 2, **kwargs}
    with pytest.raises(ValueError):
        MLP(**arguments)
