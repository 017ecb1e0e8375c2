"""Contention between busy chips (``chip.contention_slowdown``, issue 14): exact timelines of the fluid rule in
:mod:`ampsim.executors.sim.chips`, and nothing changes without it.

The timeline kit's chips run 1e6 FLOPs in exactly 1 ms with no other cost; two chains of one node each, one
per chip, run side by side (:func:`side_by_side`).
"""

from __future__ import annotations

import numpy as np
import pytest
from timeline_kit import MS, Busy, End, chain_model, insts, system

from ampsim.executors.sim import SimExecutor
from ampsim.ir.graph import Graph
from ampsim.ir.nodes.io import Input
from ampsim.models.base import InjectFields, Metric, Model


def contended(slowdown: float, **kw):
    s = system(**kw)
    import dataclasses

    chips = tuple(dataclasses.replace(c, contention_slowdown=slowdown) for c in s.chips)
    return dataclasses.replace(s, chips=chips, chip_default=chips[0])


def side_by_side(flops0: float, flops1: float, machine, mak: int = 1, n: int = 1) -> SimExecutor:
    """Node c0 (``flops0`` per message) on chip 0 and c1 on chip 1, each in its own chain; ``n`` instances."""
    g = Graph("pair")
    for i in (0, 1):
        g.add(Input(f"x{i}", dtype=np.float64))
        g.add(Busy(f"c{i}", (flops0, flops1)[i]))
        g.add(End(f"end{i}"))
        g.chain(f"x{i}", f"c{i}", f"end{i}")
    model = Model(g.validate(), InjectFields((("x0", "x"), ("x1", "x"))), Metric("m", "end0", "n"))
    place = {f"{name}{i}": i for i in (0, 1) for name in ("x", "c", "end")}
    ex = SimExecutor(model, machine, place, mak=mak, eval_advances_time=True)
    ex.evaluate(insts(n))
    return ex


def test_two_chips_busy_at_once_both_take_the_factor_times_as_long_exactly():
    ex = side_by_side(1e6, 1e6, contended(0.5))
    assert ex.env.now == 1.5 * MS
    assert [c.busy_s for c in ex.chips] == [1.5 * MS, 1.5 * MS]
    alone = side_by_side(1e6, 1e6, system())
    assert alone.env.now == 1 * MS and [c.busy_s for c in alone.chips] == [1 * MS, 1 * MS]


def test_an_item_is_stretched_only_while_another_chip_is_busy():
    # factor 2: c1 (1 ms of work) ends at 2 ms; c0 (2 ms of work) has done 1 ms by then, the rest alone: 3 ms
    ex = side_by_side(2e6, 1e6, contended(1.0))
    assert ex.env.now == pytest.approx(3 * MS, rel=1e-12)
    assert [c.busy_s for c in ex.chips] == pytest.approx([3 * MS, 2 * MS], rel=1e-12)


def test_a_stream_of_items_side_by_side_runs_at_the_contended_rate():
    ex = side_by_side(1e6, 1e6, contended(0.25), mak=4, n=8)
    assert ex.env.now == pytest.approx(8 * 1.25 * MS, rel=1e-12)


def test_chips_with_different_slowdowns_each_go_at_their_own_rate():
    # chip 0 twice as slow while crowded, chip 1 1.5x: c1's 1 ms of work ends at 1.5 ms; c0 has done 0.75 ms
    # of its 1 ms by then and does the rest alone at full speed: 1.75 ms
    import dataclasses

    s = contended(1.0)
    machine = dataclasses.replace(s, chips=(s.chips[0], dataclasses.replace(s.chips[1], contention_slowdown=0.5)))
    ex = side_by_side(1e6, 1e6, machine)
    assert ex.env.now == pytest.approx(1.75 * MS, rel=1e-12)
    assert [c.busy_s for c in ex.chips] == pytest.approx([1.75 * MS, 1.5 * MS], rel=1e-12)


def test_many_runs_that_end_together_leave_together_in_the_order_they_started():
    # sixteen chips, one core each and a controller with nothing to do: 16 equal items side by side end at
    # once, at (1 + s) times their work, and their chips go on in chip order
    import simpy

    from ampsim.executors.sim.contention import Contention
    from ampsim.hardware.spec import ChipSpec

    env = simpy.Environment()
    c = Contention.of(env, ChipSpec(1e9, 1e9, 0.0, 1, 1 << 30, contention_slowdown=0.25))

    class Chip:
        spec = ChipSpec(1e9, 1e9, 0.0, 1, 1 << 30, contention_slowdown=0.25)

        def __init__(self) -> None:
            self.busy_s = 0.0

    order = []

    def unit(i: int, chip: Chip):
        yield from c.occupy(chip, 1 * MS)
        order.append((i, env.now))

    chips = [Chip() for _ in range(16)]
    for i, chip in enumerate(chips):
        env.process(unit(i, chip))
    env.run()
    assert order == [(i, 1.25 * MS) for i in range(16)]
    assert all(chip.busy_s == 1.25 * MS for chip in chips)


def chain_run(machine, chip_of_b: int, mak: int, n: int) -> SimExecutor:
    """The chain x → a (1 ms) → b (2 ms) → end, x and a on chip 0, b and end on ``chip_of_b``; ``n``
    instances evaluated at ``mak``."""
    model = chain_model(("a", 1e6), ("b", 2e6))
    ex = SimExecutor(model, machine, {"x": 0, "a": 0, "b": chip_of_b, "end": chip_of_b}, mak=mak,
                     eval_advances_time=True)
    ex.evaluate(insts(n))
    return ex


def timeline(ex: SimExecutor) -> tuple:
    """When the run ended and how long each chip was busy."""
    return ex.env.now, [c.busy_s for c in ex.chips]


def test_chips_taking_turns_are_not_slowed():
    # a pipeline at mak 1: chip 0 then chip 1, never both busy
    assert timeline(chain_run(system(), 1, mak=1, n=3)) == timeline(chain_run(contended(0.5), 1, mak=1, n=3))


def test_one_busy_chip_alone_is_not_slowed():
    ex = chain_run(contended(0.5), 0, mak=4, n=4)
    assert ex.env.now == pytest.approx(4 * 3 * MS, rel=1e-12)


def test_zero_slowdown_changes_nothing():
    plain, zero = chain_run(system(), 1, mak=5, n=5), chain_run(contended(0.0), 1, mak=5, n=5)
    assert timeline(plain) == timeline(zero)
    assert not plain.chips[0].contention.active and not zero.chips[0].contention.active


# -- shared cores: ``[host]`` (the chips are processes that share ``cores`` with the controller) ----------

def on_host(cores: int, per_instance_s: float = 0.0, per_message_s: float = 0.0, slowdown: float = 0.0):
    import dataclasses

    from ampsim.hardware.spec import HostSpec

    return dataclasses.replace(contended(slowdown), host=HostSpec(cores, per_instance_s, per_message_s))


def test_two_busy_chips_on_one_core_take_turns_at_half_speed():
    ex = side_by_side(1e6, 1e6, on_host(cores=1))
    assert ex.env.now == 2 * MS
    assert [c.busy_s for c in ex.chips] == [2 * MS, 2 * MS]


def test_as_many_cores_as_busy_chips_change_nothing():
    shared = side_by_side(1e6, 1e6, on_host(cores=2), mak=4, n=8)
    assert shared.chips[0].contention.active
    assert timeline(shared) == timeline(side_by_side(1e6, 1e6, system(), mak=4, n=8))
    assert shared.summary()["controller_cpu_s"] == 0.0


def test_the_controller_takes_a_third_of_two_cores_while_both_chips_are_busy():
    # instance 0: c0, c1 0-1 ms. Its completion at 1 ms starts 1 ms of controller work, and instance 1's c0
    # and c1 start with it: three runs on two cores, each at 2/3 speed, all end at 2.5 ms. Instance 1's
    # controller work then runs alone: 2.5-3.5 ms.
    ex = side_by_side(1e6, 1e6, on_host(cores=2, per_instance_s=1 * MS), mak=1, n=2)
    assert ex.env.now == pytest.approx(3.5 * MS, rel=1e-12)
    assert [c.busy_s for c in ex.chips] == pytest.approx([2.5 * MS, 2.5 * MS], rel=1e-12)
    assert ex.summary()["controller_cpu_s"] == pytest.approx(2 * MS, rel=1e-12)


def test_the_controllers_work_grows_with_the_messages_an_instance_caused():
    # one instance, six messages (x, c, end on each side): 6 x 0.25 ms of controller work from 1 ms
    ex = side_by_side(1e6, 1e6, on_host(cores=2, per_message_s=0.25 * MS), n=1)
    assert ex.messages == 6
    assert ex.summary()["controller_cpu_s"] == pytest.approx(1.5 * MS, rel=1e-12)
    assert ex.env.now == pytest.approx(2.5 * MS, rel=1e-12)


def test_shared_cores_and_shared_caches_multiply():
    # two chips on one core, each 1.5x slower while the other is busy: 1 ms items take 3 ms
    ex = side_by_side(1e6, 1e6, on_host(cores=1, slowdown=0.5))
    assert ex.env.now == pytest.approx(3 * MS, rel=1e-12)


def test_a_host_with_cores_keeps_the_models_dict_and_one_without_adds_nothing():
    from ampsim.hardware.parse import system_from_dict

    plain, host = system(), on_host(cores=2, per_instance_s=1e-4)
    assert "host" not in plain.to_dict()
    assert host.to_dict()["host"] == {"cores": 2, "controller_s_per_instance": 1e-4, "controller_s_per_message": 0.0}
    assert system_from_dict(host.to_dict(), "t.toml") == host


def test_the_controller_does_one_thing_at_a_time():
    # two instances' worth of controller work given at once run one after the other, even with cores to spare
    import simpy

    from ampsim.executors.sim.contention import Contention
    from ampsim.hardware.spec import HostSpec

    env = simpy.Environment()
    c = Contention.of(env)
    c.share_cores(HostSpec(cores=2))
    c.controller_work(1 * MS)
    c.controller_work(1 * MS)
    env.run()
    assert env.now == pytest.approx(2 * MS, rel=1e-12) and c.controller_cpu_s == pytest.approx(2 * MS)


def test_without_shared_cores_the_controller_costs_nothing():
    ex = side_by_side(1e6, 1e6, on_host(cores=0, per_instance_s=1 * MS), mak=1, n=2)
    assert timeline(ex) == timeline(side_by_side(1e6, 1e6, system(), mak=1, n=2))
    assert "controller_cpu_s" not in ex.summary()


def test_a_finished_simulation_is_freed_with_its_executor():
    # the contention state lives with its environment: a sweep worker that runs point after point must not
    # keep every simulation it ran (a table keyed weakly by the environment, whose values held it, did)
    import gc
    import weakref

    ex = side_by_side(1e6, 1e6, contended(0.5))
    env, chip = weakref.ref(ex.env), weakref.ref(ex.chips[0])
    del ex
    gc.collect()
    assert env() is None and chip() is None
