"""Typical wrong answer to exercise 2: a network of its own with a ReLU after every layer, the
output layer too (maml.mlp's output layer is linear)."""
import autograd.numpy as np
from autograd import grad


def forward(params, x):
    for W, b in params:
        x = np.maximum(x @ W + b, 0.0)
    return x


def inner_update(params, x, y, alpha):
    g = grad(lambda p: np.mean((forward(p, x) - y) ** 2))(params)
    return [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(params, g)]
