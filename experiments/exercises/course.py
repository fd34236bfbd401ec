"""The course: an ordered list of tasks, from scalar gradients to the assignment's training run.

Each task names the code it blanks as ``path::Qualified.name`` (the body is replaced, the signature and
docstring stay), what it teaches, the tasks whose code its checks run through (``depends``) and the
points it is worth in a grade (``points``, one by default; ``exercise make`` records them per course).
``removes`` names fast paths that hold the same answer in another form (an op's ``_fast_backward``):
the copy has ``_fast_backward = None`` there instead, so the engine runs the student's ``backward``
everywhere, training included, and the copy holds no solution.
"""
from dataclasses import dataclass

from .graft import blank_task, module_name, split_target, stub_message  # noqa: F401  (blank_task: the stubs' reader)


@dataclass(frozen=True)
class Task:
    number: int
    title: str
    teaches: str
    blanks: tuple          # "module/path.py::Qualname", each a function or method
    todo: str              # the instruction in the stub's NotImplementedError
    depends: tuple = ()
    points: int = 1
    removes: tuple = ()    # "module/path.py::Qualname" of fast paths the copy goes without

    def stub_message(self, target):
        """The stub's NotImplementedError message (``blank_task`` reads it back)."""
        return stub_message(self.number, split_target(target)[1], self.todo)

    def function(self, index):
        """'module.path:Qual' of the class (or 'module.path:function') that blank ``index`` belongs to:
        what the checks construct or call, so a renamed target moves its checks with it."""
        path, qualname = split_target(self.blanks[index])
        owner = qualname.rsplit(".", 1)[0] if "." in qualname else qualname
        return f"{module_name(path)}:{owner}"


COURSE = (
    Task(1, "Mul, Div, Exp, Log backward", "the chain rule for one op: local derivative times the incoming gradient",
         ("tinygrad_lite/ops/elementwise.py::MulOp.backward", "tinygrad_lite/ops/elementwise.py::DivOp.backward",
          "tinygrad_lite/ops/elementwise.py::ExpOp.backward", "tinygrad_lite/ops/elementwise.py::LogOp.backward"),
         "return the gradient of each input (the formula is in the class docstring), times gy"),
    Task(2, "Tanh and Sigmoid backward", "reusing the saved output: dtanh = 1 - y^2, dsigmoid = y (1 - y)",
         ("tinygrad_lite/ops/elementwise.py::TanhOp.backward", "tinygrad_lite/ops/elementwise.py::SigmoidOp.backward"),
         "compute the gradient from the saved output self.output(), times gy"),
    Task(3, "Summing a broadcast gradient back (sum_to)", "broadcasting copies a value; its gradient adds the copies",
         ("tinygrad_lite/core.py::SumToOp.forward",),
         "sum x over the leading axes and the axes where self.shape has size 1, to self.shape"),
    Task(4, "The backward walk", "reverse topological order: a node used twice gets both gradients before it runs",
         ("tinygrad_lite/core.py::backward",),
         "walk the graph from tensor back to the leaves, each Function once, summing gradients per node",
         depends=(1,)),
    Task(5, "matmul and linear backward", "matrix calculus: da = gy @ b^T, db = a^T @ gy, and the bias's sum",
         ("tinygrad_lite/ops/linalg.py::MatMulOp.backward", "nn/functional/activations.py::LinearOp.backward"),
         "return the gradients of the operands (transposes as in the docstring)",
         removes=("nn/functional/activations.py::LinearOp._fast_backward",)),
    Task(6, "Softmax cross-entropy, fused", "d loss / d logits = softmax - one_hot, divided by N for the mean",
         ("nn/functional/losses.py::CrossEntropyOp.backward",),
         "return (softmax(logits) - one-hot targets) * gy, scaled for the reduction",
         removes=("nn/functional/losses.py::CrossEntropyOp._fast_backward",
                  "nn/functional/losses.py::ClassAxisCrossEntropyOp.backward",
                  "nn/functional/losses.py::ClassAxisCrossEntropyOp._fast_backward")),
    Task(7, "SGD with momentum and Adam steps", "optimiser state: momentum buffers, moment estimates, bias correction",
         ("nn/optim/sgd.py::SGD.update", "nn/optim/adam.py::Adam.update"),
         "update param.data in place with torch's rule (the class docstring)"),
    Task(8, "im2col and col2im", "convolution as one matrix product; col2im is im2col's adjoint (overlaps add)",
         ("nn/functional/conv.py::im2col_array", "nn/functional/conv.py::col2im_array"),
         "unfold every window into a row / add every row back onto its pixels"),
    Task(9, "conv2d backward", "the convolution's gradients are two matrix products and a col2im",
         ("nn/functional/conv.py::Conv2dOp.backward",),
         "return gx, gw (and gb) from gy, x and the weight (the class docstring's formulas)", depends=(8,),
         removes=("nn/functional/conv.py::Conv2dOp._fast_backward", "nn/functional/conv.py::GroupedConv2dOp.backward",
                  "nn/functional/conv.py::GroupedConv2dOp._fast_backward")),
    Task(10, "Max-pool backward with ties", "the gradient goes to the window's single winner (the first maximum)",
         ("nn/functional/pooling.py::RouteToWinnerOp.forward",),
         "place each gy at its window's winning pixel (self.winner), zeros elsewhere"),
    Task(11, "The training loop of assignment A", "everything together: the sigmoid MLP must reach the assignment's "
         "accuracy on the real MNIST data", ("experiments/train.py::ScratchAdapter.step",),
         "one training step: forward, cross-entropy (+ L2), zero_grad, backward, optimiser step; return a Step",
         depends=(2, 4, 5, 6, 7)),
    # Task 12 comes after the matrix products (5) and the softmax's gradient (6) it is made of; it is
    # numbered last so that the numbers of tasks 7-11, in every course record and grade book, keep meaning.
    Task(12, "Scaled dot-product attention, forward and backward", "attention is two matrix products around a "
         "softmax: its gradients are theirs, through the softmax's Jacobian",
         ("nn/functional/attention.py::AttentionOp.forward", "nn/functional/attention.py::AttentionOp.backward"),
         "forward: y = softmax(q k^T * scale + bias) v on arrays (a row masked everywhere gives 0); backward: "
         "the gradients of q, k, v (and bias) in Tensor ops (the class docstring's formulas)",
         depends=(5, 6), removes=("nn/functional/attention.py::AttentionOp._fast_backward",)),
)

BY_NUMBER = {task.number: task for task in COURSE}


def parse_tasks(text):
    """'1-5', '2,4,7-9', 'all' or 'none' -> sorted task numbers; a bad item is a ValueError naming it."""
    text = text.strip().lower()
    if text == "all":
        return sorted(BY_NUMBER)
    if text in ("none", ""):
        return []
    chosen = set()
    for item in text.split(","):
        try:
            low, _, high = item.strip().partition("-")
            low, high = int(low), int(high or low)
        except ValueError:
            raise ValueError(f"--tasks: expected numbers and ranges like 1-5,7, got {item!r}") from None
        if low > high or low not in BY_NUMBER or high not in BY_NUMBER:
            raise ValueError(f"--tasks: {item!r} is not within the course's tasks 1-{len(COURSE)}")
        chosen.update(range(low, high + 1))
    return sorted(chosen)


def depends_on(number):
    """Every task that task ``number``'s checks run through, directly or not."""
    seen, todo = set(), list(BY_NUMBER[number].depends)
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(BY_NUMBER[n].depends)
    return seen
