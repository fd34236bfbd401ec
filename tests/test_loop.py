"""The epoch loop's own rules, on a scripted adapter whose losses and validation figures are chosen
by hand: the logged-loss window, early stopping, the best epoch, the schedule, NaN detection."""
import numpy as np
import pytest

import nn
from experiments.adapter import Step
from experiments.config import RunConfig, mlp
from experiments.loop import EpochLoop, LoopState, NonFiniteLossError, improved
from experiments.optimizers import build_optimizer, build_schedule
from experiments.progress import Progress


class ScriptedAdapter:
    """``n_batches`` steps per epoch with the losses of ``losses`` in turn; epoch e's validation loss
    is ``val_losses[e]``; the weights are the number of steps taken."""

    def __init__(self, losses, val_losses, n_batches=4):
        self.losses, self.val_losses, self.n_batches = list(losses), list(val_losses), n_batches
        self.steps, self.epochs_done, self.schedule_steps, self.rate = 0, 0, 0, 0.1
        self.splits = {name: (name, None) for name in ("train", "val", "test")}

    def batches(self, epoch):
        self.epochs_done = epoch
        return range(self.n_batches)

    def step(self, batch, iteration):
        loss = self.losses[self.steps % len(self.losses)]
        self.steps += 1
        return Step(np.float32(loss), None, np.int64(1), 2)

    def evaluate(self, x, y):
        loss = self.val_losses[min(self.schedule_steps, len(self.val_losses) - 1)] if x == "val" else 1.0
        return loss, 0.5, np.zeros(3, dtype=np.int64)

    def schedule_step(self):
        self.schedule_steps += 1
        self.rate /= 2

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, state):
        self.steps = state["steps"]

    def lr(self):
        return self.rate

    def host(self, values):
        return np.stack(values)


def config(**fields):
    return RunConfig(name="loop-test", document="test", title="t", dataset="mnist",
                     layers=mlp([784, 10], "relu"), **{"epochs": 6, "log_every": 3, **fields})


def quiet(cfg):
    return Progress(cfg.name, cfg.epochs, quiet=True)


def test_logged_loss_is_the_mean_of_each_window_across_epochs():
    cfg = config(epochs=2)
    loop = EpochLoop(cfg, ScriptedAdapter([1.0, 2.0, 6.0, 3.0], [1.0]), sync_every=5, progress=quiet(cfg)).run()
    # 8 steps, losses 1 2 6 3 1 2 6 3, logged every 3rd: mean(1,2,6)=3 at 3, mean(3,1,2)=2 at 6
    assert loop.state.history["iteration_loss"] == [[3, 3.0], [6, 2.0]]
    assert [row["epoch"] for row in loop.state.history["epochs"]] == [1, 2]
    assert [row["lr"] for row in loop.state.history["epochs"]] == [0.1, 0.05]      # read before the step
    assert loop.state.iteration == 8 and loop.state.finished


def test_a_warm_up_and_cosine_schedule_steps_after_every_step_and_its_row_keeps_the_epoch_s_first_rate():
    cfg = config(epochs=2, schedule=("warmup_cosine", 3))
    adapter = ScriptedAdapter([1.0], [1.0])
    loop = EpochLoop(cfg, adapter, progress=quiet(cfg)).run()
    assert adapter.schedule_steps == 8                                      # 2 epochs of 4 steps
    assert [row["lr"] for row in loop.state.history["epochs"]] == [0.1, 0.1 / 2 ** 4]
    optimizer = build_optimizer(cfg, [nn.Parameter(np.zeros(2))])
    schedule = build_schedule(cfg, optimizer, batches_per_epoch=4)
    assert (schedule.warmup_steps, schedule.total_steps) == (3, 8)          # the run's 8 steps, given


def test_early_stopping_waits_patience_epochs_and_best_epoch_is_restored():
    cfg = config(early_stopping=("val_loss", 2), select_best_by="val_loss")
    adapter = ScriptedAdapter([1.0], [0.9, 0.5, 0.7, 0.5, 0.8, 0.1])       # epoch 2 best; 0.5 again is no gain
    loop = EpochLoop(cfg, adapter, progress=quiet(cfg)).run()
    assert loop.state.stopped_early_at == 4 and len(loop.state.history["epochs"]) == 4
    assert loop.state.best == [2, 0.5] and loop.state.early == [0.5, 2]
    final, predicted = loop.finish()
    assert final["epoch_used"] == 2 and adapter.steps == 8                 # the weights after epoch 2
    assert set(predicted) == {"train", "val", "test"}


def test_a_nan_loss_names_its_epoch_and_batch():
    cfg = config()
    with pytest.raises(NonFiniteLossError, match=r"at epoch 2, batch 3 of 4 \(iteration 7\)"):
        EpochLoop(cfg, ScriptedAdapter([1.0] * 6 + [float("nan")], [1.0]), progress=quiet(cfg)).run()


def test_state_survives_a_round_trip_through_a_dict():
    state = LoopState(epoch=2, batch=3, best=[1, 0.5], history={"iteration_loss": [[3, 1.0]], "epochs": []})
    loop = EpochLoop(config(), ScriptedAdapter([1.0], [1.0]), state=state)
    assert LoopState(**loop.state_dict()).best == [1, 0.5]


def test_improved_and_the_optimiser_factory_refuse_nothing_silently():
    assert improved("val_acc", 0.9, 0.8) and not improved("val_loss", 0.9, 0.8) and improved("val_loss", 5, None)
    with pytest.raises(ValueError, match=r"optimizer must be one of \['adagrad', 'adam', .*got 'lbfgs'"):
        build_optimizer(config(optimizer="lbfgs"), [])
    with pytest.raises(ValueError, match="sync_every must be a positive int, got 0"):
        EpochLoop(config(), ScriptedAdapter([1.0], [1.0]), sync_every=0)
