"""The shared step pieces: inference restores without an optimizer, and the loop's schedule."""

import jax
import numpy as np
import pytest

from configs import default
from stgat_jax import checkpoints, steps, train


def tiny_config():
    config = default.get_testing_config()
    config.model.blocks = ((8, 8, 1),)
    config.model.num_heads = 2
    return config


def test_inference_reads_params_whatever_optimizer_state_the_checkpoint_holds(tmp_path):
    config = tiny_config()
    config.optim.name = "sgd"
    mesh = steps.create_mesh()
    model = steps.create_model(config, mesh)
    tx = steps.create_optimizer(config.optim, steps.create_learning_rate_fn(config.optim, 7))
    saved = steps.init_state(model, tx, config, mesh, seed=3)
    manager = checkpoints.create_manager(tmp_path, async_save=False)
    checkpoints.save(manager, 5, saved)
    manager.wait_until_finished()
    manager.close()

    # Adam's state has another structure than SGD's: inference reads neither.
    config.optim.name = "adam"
    model, state, step = steps.restore_for_inference(config, str(tmp_path), mesh)
    assert step == 5 and isinstance(state, steps.EvalState)
    for a, b in zip(jax.tree.leaves((saved.params, saved.batch_stats)),
                    jax.tree.leaves((state.params, state.batch_stats))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    x = np.zeros(steps.input_shape(config, config.eval_batch_size), np.float32)
    logits = steps.make_eval_step(model, mesh)(state, steps.global_batch({"x": x}, mesh)["x"])
    assert logits.shape == (config.eval_batch_size, config.dataset.num_classes)

    # Resuming training reads the whole state, so there the optimizer must match.
    adam = steps.create_optimizer(config.optim, steps.create_learning_rate_fn(config.optim, 7))
    manager = checkpoints.create_manager(tmp_path, read_only=True)
    with pytest.raises(ValueError, match="checkpoint at step 5 .* cannot be restored"):
        checkpoints.restore(manager, steps.abstract_state(model, adam, config, mesh), step=5)


def test_a_batch_size_that_does_not_split_over_the_devices_is_refused():
    config = tiny_config()
    config.eval_batch_size = 3
    with pytest.raises(ValueError, match="config.eval_batch_size=3 must be divisible by the device count 4"):
        steps.create_model(config, steps.create_mesh())  # the four test devices (conftest.py)


def test_periodic_work_is_due_every_n_steps_and_after_the_last():
    due = [done for done in range(1, 11) if train._is_time(done, 4, 10)]
    assert due == [4, 8, 10]
    assert not any(train._is_time(done, 0, 10) for done in range(1, 11))
    assert [done for done in range(1, 11) if train._is_time(done, 20, 10)] == [10]
