"""to_dot's DOT text for a known graph, and save_graph writing .dot / rendering .png and .svg."""
import io
import re
import shutil
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import tinygrad_lite as tl
from tinygrad_lite import viz
from tinygrad_lite.core import Function

NODE = re.compile(r'^\s*(\w+) \[shape=(\w+), label="(.*?)"(?:,|\])', re.M)
EDGE = re.compile(r"^\s*(\w+) -> (\w+)", re.M)


def known_graph():
    """loss = sum(a * b + a): 3 ops, 5 tensors, 8 edges (a feeds both Mul and Add)."""
    a = tl.Tensor([1.0, 2.0], requires_grad=True)
    b = tl.Tensor([3.0, 4.0], requires_grad=True)
    a.name, b.name = "a", "b"
    loss = (a * b + a).sum()
    loss.name = "loss"
    return a, b, loss


def parse(dot):
    nodes = {name: (shape, label) for name, shape, label in NODE.findall(dot)}
    return nodes, EDGE.findall(dot)


def test_dot_has_one_node_per_op_and_tensor_and_the_forward_edges():
    a, b, loss = known_graph()
    dot = viz.to_dot(loss)
    assert dot.startswith("digraph autograd {") and dot.rstrip().endswith("}")
    nodes, edges = parse(dot)
    ops = sorted(label for shape, label in nodes.values() if shape == "ellipse")
    tensors = [label for shape, label in nodes.values() if shape == "record"]
    assert ops == ["Add", "Mul", "Sum"]
    assert len(tensors) == 5 and len(edges) == 8
    name_of = {node: label.split("|")[0].strip("{") for node, (_, label) in nodes.items()}
    readable = sorted((name_of[src], name_of[dst]) for src, dst in edges)
    assert readable == sorted([
        ("a (2,) float32", "Mul"), ("b (2,) float32", "Mul"), ("Mul", "(2,) float32"),
        ("(2,) float32", "Add"), ("a (2,) float32", "Add"), ("Add", "(2,) float32"),
        ("(2,) float32", "Sum"), ("Sum", "loss () float32")])


def test_small_tensors_show_data_and_grad_before_and_after_backward():
    a, b, loss = known_graph()
    labels = [label for _, label in parse(viz.to_dot(loss))[0].values()]
    assert r"{a (2,) float32|{data [1, 2]|grad None}}" in labels
    loss.backward(retain_graph=True)
    labels = [label for _, label in parse(viz.to_dot(loss))[0].values()]
    expected_a_grad = b.numpy() + 1            # d/da sum(a*b + a) = b + 1
    assert (r"{a (2,) float32|{data [1, 2]|grad [%g, %g]}}" % tuple(expected_a_grad)) in labels
    assert r"{b (2,) float32|{data [3, 4]|grad [1, 2]}}" in labels
    assert r"{loss () float32|{data 14|grad None}}" in labels


def test_value_threshold_and_dtype_in_labels():
    x = tl.Tensor(np.arange(5.0), dtype="float64", requires_grad=True)
    y = x * 2
    labels = [label for _, label in parse(viz.to_dot(y))[0].values()]
    assert "{(5,) float64}" in labels                         # 5 elements > 4: shape and dtype only
    assert r"{() float64|{data 2|grad None}}" in labels       # the constant 2, one element
    assert "data [0, 2, 4, 6, 8]" in viz.to_dot(y, show_values=True)
    assert "data" not in viz.to_dot(tl.Tensor([1.0]) * 2, show_values=False)
    with pytest.raises(ValueError, match="show_values"):
        viz.to_dot(y, show_values=-1)
    with pytest.raises(TypeError, match="Tensor"):
        viz.to_dot(np.ones(3))


def test_after_a_plain_backward_the_freed_graph_is_said_to_be_freed():
    _, _, loss = known_graph()
    loss.backward()
    dot = viz.to_dot(loss)
    assert "released" in dot and "retain_graph=True" in dot
    nodes, edges = parse(dot)
    assert len(nodes) == 2 and len(edges) == 1


def test_a_deep_chain_is_walked_without_recursion():
    x = tl.Tensor([1.0], requires_grad=True)
    y = x
    for _ in range(2000):
        y = y * 1.0
    nodes, edges = parse(viz.to_dot(y, show_values=False))
    assert len(nodes) == 2000 + 2001 + 2000              # ops, their outputs + x, the constants 1.0
    assert len(edges) == 3 * 2000


DOT_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')       # a quoted DOT string, escapes included
STATEMENT = re.compile(r"(?:^|;)\s*(\w+) \[", re.M)   # a statement's first word, once strings are out


def test_names_cannot_inject_dot_a_class_or_tensor_name_is_escaped():
    r"""A Function class named `E"]; z [label="x\` used to close its label and add a node z."""
    hostile = 'E"]; z [label="x\\'
    Op = type(hostile, (Function,), {"forward": lambda self, x: x * 2, "backward": lambda self, g: g * 2})
    x = tl.Tensor([1.0], requires_grad=True)
    x.name = 'a"b|{c}<d>\nnext line'
    dot = viz.to_dot(Op()(x))
    outside_strings = DOT_STRING.sub('""', dot)
    assert sorted(STATEMENT.findall(outside_strings)) == ["edge", "f0", "node", "t0", "t1"]
    labels = dict(re.findall(r'(\w+) \[shape=\w+, label=("(?:[^"\\]|\\.)*")', dot))
    assert re.sub(r"\\(.)", r"\1", labels["f0"][1:-1]) == hostile            # DOT's unescaping gives it back
    assert labels["t1"] == r'"{a\"b\|\{c\}\<d\>\nnext line (1,) float32|{data [1]|grad None}}"'
    if shutil.which("dot"):                                # and Graphviz agrees: three nodes
        plain = subprocess.run(["dot", "-Tplain"], input=dot.encode(), capture_output=True, check=True)
        assert sorted(line.split()[1] for line in plain.stdout.decode().splitlines()
                      if line.startswith("node ")) == ["f0", "t0", "t1"]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("shape", [(), (1,), (4,), (2, 2), (2, 1, 3), (64,), (4, 4, 4)])
def test_small_float_values_take_the_fast_path_and_print_as_array2string_does(dtype, shape):
    info = np.finfo(dtype)
    values = np.random.default_rng(0).standard_normal(shape) * 10.0 ** np.random.default_rng(1).integers(
        -4, 5, shape)
    values.flat[:6] = [np.nan, -np.inf, -0.0, info.max, info.smallest_subnormal, 1 / 3][:values.size]
    array = values.astype(dtype)
    readable = " ".join(np.array2string(array, separator=", ", max_line_width=10 ** 6,
                                        formatter={"all": lambda v: f"{v:.4g}"}).split())
    assert viz._format_floats_fast(array.tolist()) == readable
    assert viz._format_values(array) == readable


def test_to_dot_memory_is_the_text_it_returns_held_twice():
    """5,000 ops: at most the DOT text twice (it is joined, then copied into the returned str) and the
    text lines, plus 25% for the bookkeeping; it used to take 2 KB an op, over twice this (100,000 ops:
    20 s and 324 MB, now a few seconds)."""
    y = tl.Tensor([1.0], requires_grad=True)
    for _ in range(5000):
        y = y * 1.0
    tracemalloc.start()
    try:
        graph = viz.to_dot(y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(graph.text_lines) == 2 + 2 * 5000        # the head, each op and its constant, the leaf
    text = sum(map(sys.getsizeof, graph.text_lines))
    assert peak < 1.25 * (2 * len(graph) + text), (peak, len(graph), text)


def test_save_graph_writes_dot_text(tmp_path):
    _, _, loss = known_graph()
    path = viz.save_graph(loss, tmp_path / "sub" / "graph.dot")
    assert path.read_text() == viz.to_dot(loss)
    assert [p.name for p in path.parent.iterdir()] == ["graph.dot"]     # no temp file left behind


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's `dot` is not installed")
@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG\r\n\x1a\n"), (".svg", b"<svg")])
def test_save_graph_renders_through_dot(tmp_path, suffix, magic):
    _, _, loss = known_graph()
    path = viz.save_graph(loss, tmp_path / f"graph{suffix}")
    content = path.read_bytes()
    assert magic in content[:400]
    if suffix == ".svg":
        assert "Mul" in content.decode() and "loss () float32" in content.decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"graph{suffix}"]


def test_missing_dot_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    _, _, loss = known_graph()
    with pytest.raises(viz.GraphvizNotFoundError) as info:
        viz.save_graph(loss, tmp_path / "graph.png")
    message = str(info.value)
    for hint in ("`dot`", "apt-get install graphviz", "brew install graphviz", "conda", "graph.dot"):
        assert hint in message
    assert list(tmp_path.iterdir()) == []


def test_unknown_suffix_is_refused(tmp_path):
    _, _, loss = known_graph()
    with pytest.raises(ValueError, match=r"\.dot.*\.png.*got"):
        viz.save_graph(loss, tmp_path / "graph.jpg")


# ---- in a notebook: rich display, show(), the text form ------------------------------------------------

@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's `dot` is not installed")
def test_the_graph_displays_itself_as_svg_in_jupyter():
    _, _, loss = known_graph()
    svg = viz.to_dot(loss)._repr_svg_()
    assert svg.lstrip().startswith(("<?xml", "<!DOCTYPE", "<svg")) and "<svg" in svg
    assert "Mul" in svg and "loss () float32" in svg
    assert viz.to_dot(loss).render("png")[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_graphviz_the_graph_shows_as_text_saying_how_to_get_the_picture(monkeypatch, capsys):
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    a, b, loss = known_graph()
    graph = viz.to_dot(loss)
    assert graph._repr_svg_() is None                       # Jupyter then shows repr(graph)
    text = repr(graph)
    assert text.splitlines()[0] == "autograd graph of loss (): 3 ops, 5 tensors"
    assert "loss () = 14 = Sum(" in text and "apt-get install graphviz" in text
    assert "  a (2,) = [1, 2]: leaf, requires grad" in text
    assert re.search(r"= Mul\(a \(2,\), b \(2,\)\)", text)
    viz.show(loss)                                           # no IPython kernel here: printed
    assert capsys.readouterr().out.strip() == text.strip()


def test_a_models_parameters_carry_their_names_into_the_graph_and_the_trace():
    import nn
    from tinygrad_lite.debug import trace_backward

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 2, kernel_size=3)
            self.head = nn.Sequential(nn.Flatten(), nn.Dense(2 * 2 * 2, 3))

        def forward(self, x):
            return self.head(self.conv1(x).relu())

    model = Net()
    assert [p.name for p in model.parameters()] == [name for name, _ in model.named_parameters()] == [
        "conv1.weight", "conv1.bias", "head.1.weight", "head.1.bias"]
    loss = model(tl.randn(1, 1, 4, 4)).sum()
    labels = [label for _, label in parse(viz.to_dot(loss, show_values=False))[0].values()]
    for name, p in model.named_parameters():
        assert f"{{{name} {tuple(p.shape)} float32}}" in labels
    with trace_backward(file=io.StringIO()) as tracer:
        loss.backward()
    delivered = [r[1] for r in tracer.records if r[0] == "accumulate"]
    assert sorted(delivered) == sorted(name for name, _ in model.named_parameters())
    assert any("head.1.weight: (3, 8)" in line for line in tracer.lines)
    named_by_hand = nn.Dense(2, 2)
    named_by_hand.weight.name = "W"
    assert [p.name for p in nn.Sequential(named_by_hand).parameters()] == ["W", "0.bias"]
