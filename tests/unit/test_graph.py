"""Graph validation: every ill-formed graph gets one clear GraphError."""

import pytest

from ampsim.errors import GraphError
from ampsim.ir.graph import Graph
from ampsim.ir.nodes.io import Input
from ampsim.ir.nodes.linear import Linear
from ampsim.ir.nodes.losses import Field, SoftmaxCrossEntropy
from ampsim.ir.nodes.pointwise import Add, ReLU


def test_dangling_output_port():
    g = Graph("g")
    g.add(Input("x"))
    with pytest.raises(GraphError, match="output x:0 is not connected"):
        g.validate()


def test_dangling_input_port():
    g = Graph("g")
    g.add(Input("x"))
    add = g.add(Add("add"))
    g.add(SoftmaxCrossEntropy("loss", 2, Field("y")))
    g.connect("x", add, 0, 0)
    g.connect(add, "loss")
    with pytest.raises(GraphError, match="input add:1 is not connected"):
        g.validate()


def test_doubly_connected_ports():
    g = Graph("g")
    g.add(Input("x"))
    g.add(ReLU("a"))
    g.add(ReLU("b"))
    g.connect("x", "a")
    with pytest.raises(GraphError, match="output x:0 is connected twice"):
        g.connect("x", "b")
    g.add(Input("z"))
    with pytest.raises(GraphError, match="input a:0 is connected twice"):
        g.connect("z", "a")


def test_unknown_node_and_port():
    g = Graph("g")
    g.add(Input("x"))
    with pytest.raises(GraphError, match="unknown node 'nope'"):
        g.connect("x", "nope")
    g.add(ReLU("r"))
    with pytest.raises(GraphError, match="no input port 1"):
        g.connect("x", "r", 0, 1)
    with pytest.raises(GraphError, match="two nodes named 'r'"):
        g.add(ReLU("r"))


def test_mismatched_widths():
    g = Graph("g")
    g.add(Input("x", width=4))
    g.add(Linear("fc", 5, 2))
    g.add(SoftmaxCrossEntropy("loss", 2, Field("y")))
    g.chain("x", "fc", "loss")
    with pytest.raises(GraphError, match="x:0 -> fc:0 joins width 4 to width 5"):
        g.validate()


def test_cycle_without_an_exit_is_rejected():
    g = Graph("g")
    g.add(Input("x"))
    add = g.add(Add("add"))
    r1, r2 = g.add(ReLU("r1")), g.add(ReLU("r2"))
    g.connect("x", add, 0, 0)
    g.chain(add, r1, r2)
    g.connect(r2, add, 0, 1)
    with pytest.raises(GraphError, match="cycle through .* has no Cond"):
        g.validate()


def test_a_graph_validated_and_wired_the_same_is_not_checked_again(monkeypatch):
    """Each executor validates its graph (and a sweep point's is validated by its build too, 8-12 ms each on
    1,024 nodes): again is free, but any change of its wiring, or a node replaced under its name, is checked."""
    g = Graph("g")
    g.add(Input("x", width=5))
    g.add(Linear("fc", 5, 2))
    g.add(SoftmaxCrossEntropy("loss", 2, Field("y")))
    g.chain("x", "fc", "loss")
    route = g.validate().route
    checks = []
    monkeypatch.setattr(Graph, "_check_cycles", lambda self: checks.append(self))
    assert g.validate() is g and g.route is route and checks == []
    g.add(ReLU("r"))  # a node not wired yet: checked, and refused
    with pytest.raises(GraphError, match="output r:0 is not connected"):
        g.validate()
    del g.nodes["r"]
    g.nodes["fc"] = Linear("fc", 4, 2)  # the same wiring, another node: its widths are checked
    with pytest.raises(GraphError, match="x:0 -> fc:0 joins width 5 to width 4"):
        g.validate()
    g.nodes["fc"] = fc = Linear("fc", 5, 2)
    assert g.validate().route[("x", False, 0)] == (fc, 0) and len(checks) == 1
