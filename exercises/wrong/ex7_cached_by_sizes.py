"""Typical wrong answer to exercise 7: the loss cached in a dict keyed by the episodes' sizes, so
new episodes of sizes seen before get the old loss (state kept between calls)."""
import autograd.numpy as np

_cache = {}


def prototypical_loss(embed, x_support, y_support, x_query, y_query):
    key = (x_support.shape, x_query.shape)
    if key in _cache:
        return _cache[key]
    z_support, z_query = embed(x_support), embed(x_query)
    counts = np.sum(y_support, axis=1)[:, :, None]
    prototypes = np.swapaxes(y_support, 1, 2) @ z_support / counts
    scores = -np.sum((z_query[:, :, None, :] - prototypes[:, None, :, :]) ** 2, axis=3)
    top = np.max(scores, axis=2, keepdims=True)
    log_p = scores - top - np.log(np.sum(np.exp(scores - top), axis=2, keepdims=True))
    loss = -np.mean(np.sum(y_query * log_p, axis=2))
    if not hasattr(loss, "_value"):     # cache plain numbers only (not autograd's traced ones)
        _cache[key] = loss
    return loss
