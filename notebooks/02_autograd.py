# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/course-org/pytorch-from-zero/blob/main/notebooks/02_autograd.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/course-org/pytorch-from-zero/main?urlpath=lab/tree/notebooks/02_autograd.ipynb)
#
# # Lesson 02: Autograd and gradient descent
#
# Training a network means nudging its parameters, again and again, in the
# direction that lowers a loss. That direction is the gradient. PyTorch's
# *autograd* records the operations that produce the loss and computes every
# gradient with one call to `backward()`.
#
# **By the end of this lesson you can**
# - make PyTorch track a tensor, read the graph it records, and get gradients with `backward()`;
# - check a gradient against the calculus you would do by hand;
# - handle vector outputs, and explain why gradients must be zeroed between steps;
# - switch tracking off (`no_grad`, `detach`);
# - build models from `nn.Linear` and `nn.Sequential` or by subclassing `nn.Module`, freeze
#   parameters and replace a network's last layer, the idea behind fine-tuning;
# - write gradient descent by hand, then with `torch.optim.SGD`, and choose a learning rate.

# %% [markdown] tags=["last-verified"]
# > **Last verified** 2026-12-07: PyTorch 2.14.1+cu130 on CPU (Intel(R) Xeon(R) Processor,
# > 2 threads); the whole lesson ran in 6 s with a peak memory of 638 MB. The course's
# > runner wrote this line from the run that produced the worked lesson's outputs.

# %%
# On Colab, install the course helpers from GitHub; elsewhere `make` installed them.
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "git+https://github.com/course-org/pytorch-from-zero",
        ],
        check=True,
    )

# %%
import math

import matplotlib.pyplot as plt
import torch
from torch import nn

from course_utils.checks.lesson02 import check_exercise
from course_utils.report import record_result
from course_utils.settings import full_or_smoke, seed_everything, smoke_mode

seed_everything(0)
print(f"PyTorch {torch.__version__}")

# %% [markdown]
# **Settings.** Smoke mode (used by the test suite) only shortens the training loops.

# %%
num_steps = full_or_smoke(full=200, smoke=50)
print(f"Smoke mode: {smoke_mode()}; gradient-descent steps: {num_steps}")

# %% [markdown]
# ## 1. Tracking operations
#
# A tensor created with `requires_grad=True` is a *leaf* of the graph: a value we
# may want gradients for (later, a model's weights). Every result computed from
# it remembers the operation that made it in `grad_fn`.

# %% tags=["nbval-check-output"]
x = torch.tensor(3.0, requires_grad=True)
y = x * x
z = y + 2 * x
print(x.grad_fn, x.is_leaf)
print(type(y.grad_fn).__name__, y.is_leaf)
print(type(z.grad_fn).__name__)

# %% [markdown]
# Each `grad_fn` links to the nodes that fed it, so the whole computation can be
# walked backwards from `z` to `x`. This chain is what `backward()` follows.

# %% tags=["nbval-check-output"]
print([type(node).__name__ for node, _ in z.grad_fn.next_functions])

# %% [markdown]
# The addition has two inputs, and both come from a multiplication: `MulBackward0`
# twice, one for `x * x` and one for `2 * x`. So `x` reaches `z` along two paths, and
# `backward()` adds what comes back along each: 2x through `x * x`, 2 through `2 * x`.
# `z.backward()` computes dz/dx and stores it in `x.grad`. With
# z = x² + 2x, dz/dx = 2x + 2 = 8 at x = 3.

# %% tags=["nbval-check-output"]
z.backward()
print(x.grad)

# %% [markdown]
# To save memory, `backward()` frees the graph as it goes: the values each node kept
# for its derivative are gone afterwards. A second `backward()` through the same graph
# fails (pass `retain_graph=True` to the first call if you really need two). A training
# loop never hits this, because every step computes the loss afresh and so builds a new
# graph.

# %% tags=["nbval-check-output"]
try:
    z.backward()
except RuntimeError as error:
    print("RuntimeError:", str(error).split(".")[0])

# %% [markdown]
# ## 2. Checking a gradient by hand
#
# Take two vectors `a` and `b` and Q = 3a³ − b², element by element. Calculus gives
# dQ/da = 9a² and dQ/db = −2b. Let autograd do it and compare.
#
# Q is a vector, and `backward()` needs to know how much each of its elements
# matters: pass `gradient=` a tensor of Q's shape (here all ones). Mathematically
# that is a vector-Jacobian product; in practice it is the same as calling
# `Q.sum().backward()`, since d(sum)/dQᵢ = 1 for every element.

# %% tags=["nbval-check-output"]
a = torch.tensor([2.0, 3.0], requires_grad=True)
b = torch.tensor([6.0, 4.0], requires_grad=True)
Q = 3 * a**3 - b**2
Q.backward(gradient=torch.ones_like(Q))
print(a.grad, 9 * a**2)
print(b.grad, -2 * b)

# %% [markdown]
# The hand formulas print with a `grad_fn` too: `9 * a**2` is computed from the tracked
# `a`, so it is recorded like any other result. To compare only the numbers, the next
# cell uses `a.detach()`, the same values cut off from the graph (section 5 says more).

# %% tags=["nbval-check-output"]
gradients_match = torch.equal(a.grad, 9 * a.detach() ** 2) and torch.equal(b.grad, -2 * b.detach())
print(gradients_match)

# %% [markdown]
# Calling `backward()` on a vector without `gradient=` is an error, because there
# is no single number to differentiate:

# %% tags=["nbval-check-output"]
try:
    (3 * a**3).backward()
except RuntimeError as error:
    print("RuntimeError:", error)

# %% [markdown]
# ## 3. Gradients of intermediate results: `retain_grad()`
#
# Only leaves keep their `.grad`; intermediate tensors such as `Q` free theirs to
# save memory, so `Q.grad` is `None` (and PyTorch warns when you read it). If you do
# want an intermediate gradient, say so *before* calling `backward()` with
# `retain_grad()`.

# %% tags=["nbval-check-output"]
a = torch.tensor([2.0, 3.0], requires_grad=True)
cubed = a**3
cubed.retain_grad()
(3 * cubed).sum().backward()
print(cubed.is_leaf, cubed.grad)  # d(3 * cubed)/d(cubed) = 3
print(a.grad)

# %% [markdown]
# **The chain rule.** This is how `backward()` got 9a² for Q = 3a³ − b². Write
# u = a³, so the part of Q that depends on a is 3u. The chain rule says that a
# gradient through a chain of steps is the product of each step's own derivative:
#
# &nbsp;&nbsp;&nbsp;&nbsp; dQ/da = dQ/du · du/da = 3 · 3a² = 9a²
#
# `cubed.grad` above is dQ/du = 3, and du/da = 3a². Multiplied, they give exactly
# what autograd stored in `a.grad`. Autograd walks the `grad_fn` chain from the end
# back to the leaves, multiplying by each node's local derivative as it goes.

# %% tags=["nbval-check-output"]
local_derivative = 3 * a.detach() ** 2  # du/da for u = a³
print(cubed.grad * local_derivative, a.grad)
print(torch.equal(cubed.grad * local_derivative, a.grad))

# %% [markdown]
# ## 4. Gradients accumulate
#
# `backward()` *adds* to `.grad` rather than overwriting it. That is useful (a big
# batch can be processed in pieces), but in a training loop it means stale
# gradients pile up unless they are reset. Run the same backward twice:

# %% tags=["nbval-check-output"]
w = torch.tensor(1.0, requires_grad=True)
for call in range(2):
    (5 * w).backward()
    print(f"after backward call {call + 1}: w.grad = {w.grad}")

# %% [markdown]
# The gradient of 5w is 5, but after two calls `w.grad` holds 10. Resetting it is
# what `optimizer.zero_grad()` does for every parameter; by hand it is
# `w.grad = None` (or `w.grad.zero_()`).

# %% tags=["nbval-check-output"]
w.grad = None
(5 * w).backward()
print(w.grad)

# %% [markdown]
# ## 5. Switching tracking off
#
# Recording the graph costs memory and time. When you only want the numbers (to
# evaluate a model, or to update weights by hand), wrap the code in
# `torch.no_grad()`. `.detach()` gives a tensor that shares the data but is cut
# off from the graph.

# %% tags=["nbval-check-output"]
with torch.no_grad():
    untracked = w * 2
print(untracked.requires_grad, w.detach().requires_grad, (w * 2).requires_grad)

# %% [markdown]
# ## 6. Layers and models: `nn.Module`
#
# PyTorch's `nn` package
# packs weights and the computation that uses them into *modules*. `nn.Linear(3, 2)`
# holds a weight matrix of shape (2, 3) and a bias of shape (2,), both created with
# `requires_grad=True`, and calling it on a batch `x` computes `x @ weight.T + bias`.

# %% tags=["nbval-check-output"]
linear = nn.Linear(3, 2)
print(linear.weight.shape, linear.bias.shape, linear.weight.requires_grad)
x_batch = torch.randn(4, 3)
print(torch.allclose(linear(x_batch), x_batch @ linear.weight.T + linear.bias))

# %% [markdown]
# `nn.Sequential` chains modules: the output of one is the input of the next. To
# write your own model, subclass `nn.Module`: create the layers in `__init__`
# (assigning them to `self` registers their parameters) and say how they are used
# in `forward`. Calling the model calls `forward`; `parameters()` finds every
# weight and bias inside, however deeply nested, which is what an optimizer needs.
#
# The two models below are the same architecture written both ways (each starts from
# its own random weights). Between the layers
# sits `torch.relu` (`nn.ReLU()` as a module), which sets every negative number to
# zero, as lesson 01's exercise 3 did with a mask; lesson 03 shows why a network
# needs something like it between its linear layers.


# %% tags=["nbval-check-output"]
class TwoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Linear(3, 8)
        self.second = nn.Linear(8, 2)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.second(torch.relu(self.first(inputs)))


as_sequence = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
as_class = TwoLayers()
print(as_class(x_batch).shape, as_sequence(x_batch).shape)
print([tuple(parameter.shape) for parameter in as_class.parameters()])

# %% [markdown]
# ## 7. Frozen parameters and fine-tuning
#
# A parameter with `requires_grad=False`
# gets no gradient, so an optimizer leaves it alone. Fine-tuning uses this: take a
# network trained on one task, freeze it, replace its last layer with a fresh one
# for the new task, and train only that layer.

# %% tags=["nbval-check-output"]
network = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 5))
for parameter in network.parameters():
    parameter.requires_grad = False
network[2] = nn.Linear(32, 3)  # a new head for a 3-class task: trainable by default


def count_parameters(model: nn.Module, trainable: bool) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad == trainable)


print("frozen:", count_parameters(network, False), "trainable:", count_parameters(network, True))

# %% tags=["nbval-check-output"]
network(torch.randn(4, 10)).sum().backward()
print(network[0].weight.grad, network[2].weight.grad.shape)

# %% [markdown]
# ## 8. Gradient descent by hand
#
# A tiny problem: points on the line y = 2x + 1, with some noise. We want the
# slope and intercept back. Start from a guess, measure the mean squared error,
# and repeat: compute the gradient, step against it by `learning_rate` times
# the gradient, and zero the gradients.

# %%
inputs = torch.linspace(-1, 1, 50)
targets = 2 * inputs + 1 + 0.1 * torch.randn(50)

plt.scatter(inputs, targets, s=12)
plt.xlabel("x")
plt.ylabel("y")
plt.title("Data: y = 2x + 1 plus noise")
plt.show()

# %%
slope = torch.zeros(1, requires_grad=True)
intercept = torch.zeros(1, requires_grad=True)
learning_rate = 0.1
hand_losses = []

for _ in range(num_steps):
    predictions = slope * inputs + intercept
    loss = ((predictions - targets) ** 2).mean()
    hand_losses.append(loss.item())
    loss.backward()
    with torch.no_grad():  # the update itself must not become part of the graph
        slope -= learning_rate * slope.grad
        intercept -= learning_rate * intercept.grad
    slope.grad = None
    intercept.grad = None

print(f"slope {slope.item():.3f}, intercept {intercept.item():.3f}, loss {loss.item():.4f}")

plt.plot(hand_losses)
plt.yscale("log")
plt.xlabel("step")
plt.ylabel("mean squared error (log scale)")
plt.title("Gradient descent by hand: the loss at every step")
plt.show()

# %% [markdown]
# Look at the curve: it should fall quickly at first, then flatten out as the line
# approaches the best fit the noise allows.

# %% [markdown]
# ## 9. The same with `torch.optim.SGD`
#
# An optimizer holds the parameters and does the update and the zeroing for us.
# `nn.Linear(1, 1)` holds a slope (its weight) and an intercept (its bias), and
# `nn.MSELoss` is the mean squared error. SGD stands for *stochastic* gradient descent,
# because it is usually fed a random mini-batch at a time (lesson 03); here every step
# sees all 50 points, so it is plain gradient descent. One more difference from the
# loop by hand: `nn.Linear` starts from small random weights, not from zeros.

# %%
seed_everything(0)
line = nn.Linear(1, 1)
optimizer = torch.optim.SGD(line.parameters(), lr=0.1)
loss_function = nn.MSELoss()
column_inputs, column_targets = (
    inputs.unsqueeze(1),
    targets.unsqueeze(1),
)  # (50, 1): a batch of 50 one-number inputs

for _ in range(num_steps):
    loss = loss_function(line(column_inputs), column_targets)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()

fitted_slope, fitted_intercept = line.weight.item(), line.bias.item()
print(f"slope {fitted_slope:.3f}, intercept {fitted_intercept:.3f}, loss {loss.item():.4f}")

# %% [markdown]
# Compare the two printed lines: both loops reached a slope near 2 and an intercept
# near 1, from different starting points. Not exactly 2 and 1: the noise moves the best
# fit a little. Drawn over the data, the fitted line runs close to the true one
# y = 2x + 1, a little below it, where the noise put the best fit.

# %%
with torch.no_grad():
    fitted_line = line(column_inputs).squeeze(1)
plt.scatter(inputs, targets, s=12, label="data")
plt.plot(inputs, 2 * inputs + 1, color="black", linestyle="--", label="true line y = 2x + 1")
plt.plot(inputs, fitted_line, color="tab:red", label="fitted with torch.optim.SGD")
plt.xlabel("x")
plt.ylabel("y")
plt.legend()
plt.title("The fitted line over the data")
plt.show()

# %% [markdown]
# ## 10. Choosing the learning rate
#
# The learning rate is the step size. Too small and the loss creeps down; too
# large and each step overshoots the minimum, so the loss grows instead. Train
# the same line with four learning rates and plot the loss after every step
# (log scale, since the losses span many orders of magnitude).


# %%
def loss_curve(learning_rate: float, num_steps: int) -> list[float]:
    """Train a fresh line with plain SGD and return the loss at every step."""
    torch.manual_seed(0)
    model = nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)
    losses = []
    for _ in range(num_steps):
        loss = loss_function(model(column_inputs), column_targets)
        losses.append(loss.item())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return losses


curves = {rate: loss_curve(rate, 40) for rate in (0.01, 0.1, 0.8, 1.6)}
for rate, losses in curves.items():
    plt.plot(losses, label=f"lr = {rate}")
plt.yscale("log")
plt.ylim(5e-3, 1e2)  # lr = 1.6 climbs far above the top
plt.xlabel("step")
plt.ylabel("mean squared error (log scale)")
plt.legend()
plt.title("Four learning rates (lr = 1.6 leaves the top of the plot)")
plt.show()

# %% [markdown]
# No line fits noisy points exactly, so the loss has a floor: the loss of the best
# possible line, which least squares (`torch.linalg.lstsq`) computes directly. The next
# cell prints, for each rate, the loss before and after the 40 steps, and the first
# step at which the loss came below 1.1 times that floor.

# %% tags=["nbval-check-output"]
design = torch.stack([inputs, torch.ones_like(inputs)], dim=1)  # columns: x and 1
best_slope, best_intercept = torch.linalg.lstsq(design, targets.unsqueeze(1)).solution.squeeze(1)
floor = loss_function(best_slope * inputs + best_intercept, targets).item()
print(f"best possible loss: {floor:.4f}")
for rate, losses in curves.items():
    near = [step for step, value in enumerate(losses) if value <= 1.1 * floor]
    reached = f"step {near[0]}" if near else "never in 40 steps"
    print(
        f"lr {rate}: loss {losses[0]:.3g} -> {losses[-1]:.3g} ({losses[-1] / floor:.3g} times "
        f"the floor); within 10% of the floor: {reached}"
    )

# %% [markdown]
# Read the printout: at lr = 0.01 the loss is still far above the floor after 40
# steps, at 0.1 it is nearer but not yet down to 1.1 times it, 0.8 gets there within a few
# steps, and at 1.6 the loss explodes. Look at the figure: at 1.6 the first step still
# lowers the loss. The next cell explains why: each direction has its own limit, and
# 1.6 is above only one of them.
#
# **Where the limit comes from.** The *curvature* of the loss along a direction is its
# second derivative there: how quickly the slope of the loss changes. Near the minimum,
# along a direction of curvature k, a step of `lr` times the gradient multiplies the
# distance to the minimum by (1 − lr·k). That shrinks the distance only while
# |1 − lr·k| < 1, that is while lr < 2 / k. The loss of a line has two directions
# (slope and intercept), each with its own curvature, and the largest one sets the
# limit. `torch.autograd.functional.hessian` computes all the second derivatives at
# once, as a matrix (the *Hessian*); the curvatures are its eigenvalues. Here you can
# read them off without eigenvalues: the x values are symmetric around 0, so the matrix
# is diagonal, with 2·mean(x²) for the slope and 2 for the intercept. (If the linear
# algebra is new to you, keep the rule and skip the cell: the largest curvature k sets
# the largest learning rate, 2 / k.)


# %% tags=["nbval-check-output"]
def line_loss(parameters: torch.Tensor) -> torch.Tensor:
    """The mean squared error of the line with slope parameters[0], intercept parameters[1]."""
    return ((parameters[0] * inputs + parameters[1] - targets) ** 2).mean()


curvatures = torch.linalg.eigvalsh(torch.autograd.functional.hessian(line_loss, torch.zeros(2)))
limit = 2 / curvatures.max().item()
print(f"curvatures: {[round(value, 3) for value in curvatures.tolist()]}")
print(f"largest learning rate that converges: 2 / {curvatures.max().item():.3f} = {limit:.3f}")
for rate, losses in curves.items():
    verdict = "grew" if losses[-1] > losses[0] else "fell"
    print(f"lr {rate} is {'below' if rate < limit else 'above'} the limit: the loss {verdict}")

# %% [markdown]
# Every rate below the limit brought the loss down, and the one above it made the loss
# grow, as the printout shows. Real networks have millions of directions and no
# formula for their largest curvature, so we try a few learning rates instead.

# %% [markdown]
# ## Summary
#
# - `requires_grad=True` makes a leaf; results record their `grad_fn`; `backward()`
#   fills `.grad` on leaves (use `retain_grad()` for anything else).
# - Vector outputs need `gradient=` (or `.sum()`) before `backward()`.
# - Gradients accumulate: zero them every step (`optimizer.zero_grad()`).
# - `backward()` frees the graph it walked; each step builds a new one.
# - `torch.no_grad()`, `.detach()` and `requires_grad=False` stop tracking.
# - Models are `nn.Module`s: `nn.Linear`, `nn.Sequential`, or a subclass with `forward`;
#   freezing a network and replacing its head is the core of fine-tuning.
# - Gradient descent: loss, `backward()`, step against the gradient, zero, repeat.
#   The learning rate decides whether it crawls, converges or diverges: above 2 divided
#   by the largest curvature of the loss, it diverges.

# %%
record_result("hand-checked gradients match autograd", gradients_match)
record_result("fitted slope (true 2)", round(fitted_slope, 3))
record_result("fitted intercept (true 1)", round(fitted_intercept, 3))

# %% [markdown]
# ## Exercises
#
# After each exercise, run its check cell. It tests your answer and says whether it
# is not attempted yet (the student version's stub sets the names to `...`), not
# right yet (and what it found), or passed (and what it checked). The lines under
# `if check_exercise(...)` run only for a passing answer.
#
# **Exercise 1.** For f(x) = sin(x)·x², compute df/dx at x = 1.5 with autograd, as
# `autograd_value`, and the derivative by hand, cos(x)·x² + 2x·sin(x), as
# `by_hand_value` (each a number or a one-number tensor), and compare them.

# %%
### BEGIN SOLUTION
# Hint: make a leaf tensor with requires_grad=True, call backward() on f, read .grad
point = torch.tensor(1.5, requires_grad=True)
(torch.sin(point) * point**2).backward()
autograd_value = point.grad
by_hand_value = torch.cos(point.detach()) * 1.5**2 + 2 * 1.5 * torch.sin(point.detach())
### END SOLUTION

# %% tags=["nbval-check-output"]
if check_exercise(1, autograd_value=autograd_value, by_hand_value=by_hand_value):
    print(math.isclose(float(autograd_value), float(by_hand_value), rel_tol=1e-6))

# %% [markdown] tags=["solution"]
# **What the result means.** `True`: autograd's derivative equals the product rule
# worked by hand, to floating-point precision. Autograd applies the same rules
# (product rule, the derivative of sin) step by step through the graph.

# %% [markdown]
# **Exercise 2.** Fit the quadratic y = a·x² + b·x + c to
# `quadratic_targets = 3 * inputs**2 - inputs + 0.5` with `torch.optim.SGD`,
# starting from zeros, for 500 steps at each of the learning rates 0.05, 0.5 and
# 1.0. Store the final loss of each in a dict `final_losses` (rate -> loss) and the
# coefficients of each in `fitted` (rate -> list of a, b, c). Which rate reaches the
# fit within 500 steps?

# %%
quadratic_targets = 3 * inputs**2 - inputs + 0.5
### BEGIN SOLUTION
# Hint: features = stack of x**2, x, ones (50, 3); per rate, SGD on 3 coefficients from zeros
features = torch.stack([inputs**2, inputs, torch.ones_like(inputs)], dim=1)
final_losses, fitted = {}, {}
for rate in (0.05, 0.5, 1.0):
    coefficients = torch.zeros(3, requires_grad=True)
    quadratic_optimizer = torch.optim.SGD([coefficients], lr=rate)
    for _ in range(500):
        quadratic_loss = ((features @ coefficients - quadratic_targets) ** 2).mean()
        quadratic_loss.backward()
        quadratic_optimizer.step()
        quadratic_optimizer.zero_grad()
    final_losses[rate] = quadratic_loss.item()
    fitted[rate] = [round(value, 3) for value in coefficients.tolist()]
### END SOLUTION

# %%
if check_exercise(2, final_losses=final_losses, fitted=fitted):
    for rate in final_losses:
        print(f"learning rate {rate}: loss {final_losses[rate]:.2e}, a, b, c = {fitted[rate]}")
    quadratic_features = torch.stack([inputs**2, inputs, torch.ones_like(inputs)], dim=1)
    quadratic_curvatures = torch.linalg.eigvalsh(
        torch.autograd.functional.hessian(
            lambda c: ((quadratic_features @ c - quadratic_targets) ** 2).mean(), torch.zeros(3)
        )
    )
    print(f"largest learning rate that converges here: {2 / quadratic_curvatures.max():.3f}")

# %% [markdown] tags=["solution"]
# **What the result means.** At 0.5 the fit finds a = 3, b = −1 and c = 0.5, to the
# three decimals printed, with a loss near zero. At 0.05 the steps are too small:
# after 500 of them the
# coefficients are close but not there yet. At 1.0 each step overshoots by more than
# it corrects, the coefficients grow without bound and the loss overflows to `nan`:
# the "too large" case of section 10, on a problem with three parameters. The limit is
# not section 10's 1.0: it depends on the problem. With the x² column added, the
# largest curvature is larger, and the last line computes the limit, as section 10
# did, below 1.0 and above 0.5.

# %% [markdown]
# **Exercise 3.** Freeze only the first layer of `nn.Sequential(nn.Linear(4, 8),
# nn.ReLU(), nn.Linear(8, 2))` and store its number of trainable parameters in
# `num_trainable`.

# %%
two_layers = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
### BEGIN SOLUTION
# Hint: set requires_grad = False on every parameter of the first layer
for parameter in two_layers[0].parameters():
    parameter.requires_grad = False
num_trainable = count_parameters(two_layers, trainable=True)
### END SOLUTION

# %% tags=["nbval-check-output"]
if check_exercise(3, two_layers=two_layers, num_trainable=num_trainable):
    print(f"trainable parameters: {num_trainable}")

# %% [markdown] tags=["solution"]
# **What the result means.** 18 trainable parameters: the second layer's 8 · 2
# weights and 2 biases. The first layer's 4 · 8 + 8 = 40 are frozen, so an optimizer
# would leave them as they are. This is how fine-tuning keeps what a network has
# already learned and trains only a new final layer.

# %% [markdown]
# ## Check your understanding
#
# Four questions about the ideas of this lesson. Answer each with one letter in quotes,
# for example `answer_q1 = "b"`, and run its cell: a wrong letter is answered with the
# idea to revisit and the section that shows it.

# %% [markdown]
# **Question 1.** Section 1 computed z = x² + 2x at x = 3, and `z.backward()` put 8
# in `x.grad`. What does that 8 tell you?
#
# - (a) z is 8 at x = 3
# - (b) nudging x up by a small amount h raises z by about 8h
# - (c) to make z smaller, increase x, because the gradient is positive
# - (d) x is 8 away from the x where z is smallest

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 1: z.backward() stored dz/dx in x.grad; what does a derivative measure?
answer_q1 = "b"
### END SOLUTION
check_exercise("Q1", answer_q1=answer_q1)

# %% [markdown] tags=["solution"]
# **(b).** A gradient is a rate of change: dz/dx = 2x + 2 = 8 at x = 3, so near there
# z changes about 8 times as much as x, in the same direction. That is why gradient
# descent steps *against* the gradient to lower a loss, as section 8's loop does.

# %% [markdown]
# **Question 2.** A training loop calls `loss.backward()` and `optimizer.step()` at
# every step but never zeroes the gradients. What goes wrong?
#
# - (a) nothing: each `backward()` replaces `.grad` with the new gradient
# - (b) the second `backward()` fails, because the first one freed the graph
# - (c) each step uses the sum of all the gradients computed so far, not the current one
# - (d) nothing: `optimizer.step()` uses the gradients up, so they start from zero again

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 4: call backward() twice and read w.grad after each call
answer_q2 = "c"
### END SOLUTION
check_exercise("Q2", answer_q2=answer_q2)

# %% [markdown] tags=["solution"]
# **(c).** `backward()` adds to `.grad`: in section 4 the gradient of 5w is 5, but
# after two calls `w.grad` held 10. Without zeroing, every step would move the
# parameters by stale gradients piled on top of the current one. The graph is not the
# problem: each step computes the loss afresh and builds a new graph.

# %% [markdown]
# **Question 3.** What does wrapping code in `with torch.no_grad():` do?
#
# - (a) it sets every gradient to zero
# - (b) it freezes the parameters used inside it for the rest of training
# - (c) it computes gradients in a cheaper, approximate way
# - (d) it stops autograd recording the operations inside it, so their results have no graph

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 5: compare requires_grad of w * 2 inside and outside torch.no_grad()
answer_q3 = "d"
### END SOLUTION
check_exercise("Q3", answer_q3=answer_q3)

# %% [markdown] tags=["solution"]
# **(d).** Section 5 printed `requires_grad` `False` for `w * 2` computed inside the
# block and `True` for the same product outside it. Use it where you want only the
# numbers: to evaluate a model, and for the update in section 8's loop, which must not
# become part of the graph.

# %% [markdown]
# **Question 4.** Section 10 trained the same line for 40 steps at learning rates
# 0.01, 0.1, 0.8 and 1.6. Which statement matches its printout?
#
# - (a) below a limit set by the loss's largest curvature (here 1.0), a larger rate came
#   nearer the best fit; above it, the loss grew
# - (b) the larger the learning rate, the faster the loss falls
# - (c) the smallest rate is the best choice, because it can never overshoot
# - (d) too large a rate makes the loss level off at a higher value

# %% tags=["nbval-check-output"]
### BEGIN SOLUTION
# Hint: section 10: read each rate's loss after 40 steps, and the limit 2 / k
answer_q4 = "a"
### END SOLUTION
check_exercise("Q4", answer_q4=answer_q4)

# %% [markdown] tags=["solution"]
# **(a).** After 40 steps the loss was 72.7 times the best possible at 0.01, 1.43 times
# at 0.1, and at 0.8 it was within 1.1 times it from step 6; at 1.6 it grew to 9.24e+25.
# limit is 2 divided by the largest curvature, 2 / 2.000 = 1.000 here: below it each
# step shrinks the distance to the minimum, above it each step overshoots by more than
# it corrects.
