"""Exercise 7: the prototypical loss (Prototypical Networks).

ProtoNets (Snell, Swersky & Zemel 2017, arXiv:1703.05175) classifies a query by its distance to
the mean embedding of each class's support points, its prototype:

    prototype     c_n = (1 / |S_n|) Σ_{x_i ∈ S_n} f_φ(x_i)
    class scores  log p_φ(y = n | x) = log softmax_n(−‖f_φ(x) − c_n‖²)    (over the N classes)
    loss          J(φ) = mean over every query of every episode of −log p_φ(y_true | x)

There is no inner gradient step: the prototypes ARE the adaptation. Write J(φ) with
autograd.numpy, so that autograd can differentiate it with respect to φ (the checker does).
Check it with:  .venv/bin/python exercises/check.py 7
"""
import autograd.numpy as np  # noqa: F401


def prototypical_loss(embed, x_support, y_support, x_query, y_query):
    """The mean cross-entropy of the queries of T N-way episodes, a scalar.

    embed: a function images (..., n) -> embeddings (..., D), f_φ (it works on (T, M, n) too).
    x_support (T, N*K, n), y_support (T, N*K, N) one-hot; x_query (T, M, n), y_query (T, M, N)
    one-hot. The support points may come in any order: y_support says which class each is.

    Hint: y_supportᵀ @ embeddings sums each class's embeddings; subtract the largest score
    before exponentiating (log Σ exp(s) = m + log Σ exp(s − m)), or large embeddings give
    log(0). Leave the inputs as they are (no in-place changes).
    """
    # --- your code here ---
    raise NotImplementedError("fill in prototypical_loss")
