"""The official recipe: SGD steps equal torch's, and the per-epoch LR schedule.

tests/fixtures/torch_sgd_steps.npz was made with torch 2.13.0 on CPU:
`torch.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)` over four
parameter tensors (initial values and gradients drawn from numpy's default_rng(0), float32), three
`opt.step()` calls with the group LR set to 0.02, 0.04 and 0.1 before each step (as the official
scheduler sets it per epoch); the parameters after each step were saved.
"""

import os

import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from configs import ntu60_xsub
from stgat_jax import steps

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "torch_sgd_steps.npz")


def test_sgd_steps_match_torch():
    f = np.load(FIXTURE)
    names = [k.split("/", 1)[1] for k in f.files if k.startswith("init/")]
    lrs = f["lrs"]
    optim = ntu60_xsub.get_config().optim
    tx = steps.create_optimizer(optim, lambda count: jnp.asarray(lrs)[count])
    params = {k: jnp.asarray(f[f"init/{k}"]) for k in names}
    opt_state = tx.init(params)
    for step in range(len(lrs)):
        grads = {k: jnp.asarray(f[f"grad{step}/{k}"]) for k in names}
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        for k in names:
            np.testing.assert_allclose(params[k], f[f"after{step}/{k}"], atol=1e-6, rtol=0, err_msg=f"step {step} {k}")


def test_learning_rate_per_epoch_follows_the_official_schedule():
    optim = ntu60_xsub.get_config().optim  # lr 0.1, 5 warm-up epochs, x0.1 at 60 and 90
    steps_per_epoch = 7
    lr = steps.create_learning_rate_fn(optim, steps_per_epoch)
    expected = {0: 0.02, 1: 0.04, 4: 0.1, 5: 0.1, 59: 0.1, 60: 0.01, 89: 0.01, 90: 0.001, 119: 0.001}
    for epoch, value in expected.items():
        for step in (epoch * steps_per_epoch, epoch * steps_per_epoch + steps_per_epoch - 1):
            assert float(lr(step)) == pytest.approx(value, rel=1e-6), (epoch, step)


def test_unknown_optimizer_is_an_error():
    optim = ml_collections.ConfigDict(ntu60_xsub.get_config().optim.to_dict())
    optim.name = "lamb"
    with pytest.raises(ValueError, match="config.optim.name='lamb'"):
        steps.create_optimizer(optim, lambda c: 0.1)
