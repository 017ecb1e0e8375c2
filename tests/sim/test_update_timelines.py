"""Exact timelines of a parameter update's memory traffic (``train.count_optimizer_state``).

Same machine as tests/sim/test_timelines.py (timeline_kit), except that w's chip moves 9.6 MB/s, so that
the 9,600 bytes of w's 1,200 float64 parameters take exactly 1 ms to stream once and an update is bound by
its bytes (its FLOPs take microseconds). An update reads the gradient and the parameters and writes the
parameters: 3 ms. Counted, the optimizer's state is read and written too: momentum's velocity and Adagrad's
sums 2 ms more, Adam's two moments 4 ms more; and it takes the chip's memory beside the parameters. Not
counted (the default), every optimizer moves 3 ms' worth, as before the option existed.
"""

import pytest
from timeline_kit import insts, spans, system, weight_model

from ampsim.errors import RunError
from ampsim.executors.sim import SimExecutor
from ampsim.optim import OptimizerSpec

TWO_CHIPS = {"x": 0, "w": 0, "a": 1, "end": 1}
PARAM_BYTES = 9600


def run(kind: str, counted: bool, memory_bytes: float = 1e9) -> SimExecutor:
    model = weight_model(("a", 1e6))
    model.graph.nodes["w"].configure(OptimizerSpec(kind=kind, lr=0.01, count_state=counted), muf=1)
    machine = system(chip_override={"chips": [0], "mem_bandwidth_bytes_per_s": 9.6e6, "memory_bytes": memory_bytes})
    ex = SimExecutor(model, machine, TWO_CHIPS, mak=1, trace=True)
    ex.train(insts(2))
    return ex


@pytest.mark.parametrize("kind,counted,update_ms", [
    ("sgd", False, 3.0), ("adam", False, 3.0),  # the default: 3x the parameters whatever the optimizer
    ("sgd", True, 3.0), ("momentum", True, 5.0), ("adagrad", True, 5.0), ("adam", True, 7.0),
])
def test_an_update_streams_its_parameters_and_the_optimizer_state_it_counts(kind, counted, update_ms):
    assert [d for _, d in spans(run(kind, counted), "w", "update")] == [update_ms, update_ms]


@pytest.mark.parametrize("kind,counted,held", [("adam", False, PARAM_BYTES), ("adam", True, 3 * PARAM_BYTES),
                                               ("momentum", True, 2 * PARAM_BYTES), ("sgd", True, PARAM_BYTES)])
def test_counted_optimizer_state_takes_the_chips_memory(kind, counted, held):
    assert run(kind, counted).summary()["param_bytes"] == [held, 0]


def test_a_chip_too_small_for_the_parameters_and_adams_state_is_refused_before_training():
    run("adam", False, memory_bytes=2 * PARAM_BYTES)  # the parameters alone fit
    with pytest.raises(RunError, match=r"parameters and any optimizer state counted 28,800, .* use more chips or "
                                       r"another placement$"):  # (not "lower train.mak": it cannot help)
        run("adam", True, memory_bytes=2 * PARAM_BYTES)


def test_the_option_off_the_simulator_says_it_does_nothing_there(caplog):
    from pathlib import Path

    from ampsim.config import load_config
    from ampsim.planning import plan

    blobs = Path(__file__).resolve().parents[2] / "experiments" / "blobs_mlp.toml"
    with caplog.at_level("WARNING"):
        plan(load_config(blobs, [("data.n_train", 32), ("data.n_test", 8), ("train.count_optimizer_state", True)]))
    assert "train.count_optimizer_state applies to the simulator only" in caplog.text
