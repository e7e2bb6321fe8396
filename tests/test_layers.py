import pytest
import torch
from torch import nn

from course_utils.layers import layer_table, remove_batch_norm


def small_network() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU()),
        nn.MaxPool2d(2),
        nn.Sequential(nn.Conv2d(4, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6)),
        nn.Flatten(),
        nn.Linear(6 * 4 * 4, 10),
    )


def test_the_layer_table_follows_the_example_entry_by_entry():
    network = small_network().train()
    rows = layer_table(network, torch.ones(2, 3, 8, 8))
    assert [row["index"] for row in rows] == [0, 1, 2, 3, 4]
    assert [row["name"] for row in rows] == [
        "Sequential",
        "MaxPool2d",
        "Sequential",
        "Flatten",
        "Linear",
    ]
    assert [row["output_shape"] for row in rows] == [
        (2, 4, 8, 8),
        (2, 4, 4, 4),
        (2, 6, 4, 4),
        (2, 96),
        (2, 10),
    ]
    # conv 4·3·9 + batch norm 2·4; nothing; conv 6·4·9 + batch norm 2·6; nothing; 96·10 + 10
    assert [row["parameters"] for row in rows] == [116, 0, 228, 0, 970]
    assert network.training  # eval mode only while the table is made
    assert network[0][1].running_mean.abs().sum() == 0  # eval mode: no statistics updated


def test_the_layer_table_names_each_entry_as_told():
    rows = layer_table(small_network(), torch.zeros(1, 3, 8, 8), name=lambda layer: "x")
    assert {row["name"] for row in rows} == {"x"}


def test_the_layer_table_wants_a_sequential():
    with pytest.raises(ValueError, match="nn.Sequential"):
        layer_table(nn.Linear(2, 2), torch.zeros(1, 2))


def test_removing_batch_norm_keeps_the_weights_and_gives_each_convolution_a_zero_bias():
    network = small_network()
    convolutions = (network[0][0], network[2][0])
    weights = [convolution.weight.detach().clone() for convolution in convolutions]
    assert remove_batch_norm(network) is network  # changed in place
    assert not any(isinstance(m, nn.BatchNorm2d) for m in network.modules())
    assert isinstance(network[0][1], nn.Identity) and isinstance(network[2][1], nn.Identity)
    assert network[0][0] is convolutions[0] and network[2][0] is convolutions[1]
    for convolution, weight in zip(convolutions, weights, strict=True):
        assert torch.equal(convolution.weight, weight)
        assert torch.equal(convolution.bias, torch.zeros(convolution.out_channels))
        assert convolution.bias.requires_grad
        assert any(p is convolution.bias for p in network.parameters())  # trained with the rest
    assert network(torch.zeros(1, 3, 8, 8)).shape == (1, 10)


@pytest.mark.parametrize(
    "network, message",
    [
        (nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 4, 3)), "no nn.Conv2d right before"),
        (nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.BatchNorm2d(4)), "no nn.Conv2d right"),
        (nn.ModuleList([nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)]), "outside any nn.Sequential"),
    ],
)
def test_batch_norm_without_a_convolution_right_before_is_refused_and_nothing_changes(
    network, message
):
    with pytest.raises(ValueError, match=message):
        remove_batch_norm(network)
    assert any(isinstance(m, nn.BatchNorm2d) for m in network.modules())


def test_a_refused_network_is_left_whole_even_after_a_good_pair():
    good_then_bad = nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4)),
        nn.Sequential(nn.ReLU(), nn.BatchNorm2d(4)),
    )
    with pytest.raises(ValueError):
        remove_batch_norm(good_then_bad)
    assert isinstance(good_then_bad[0][1], nn.BatchNorm2d)
    assert good_then_bad[0][0].bias is None
