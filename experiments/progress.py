"""How far a run has come, for the one training loop: a progress bar (tqdm) and a line per epoch."""
import sys


class Progress:
    """How far a run has come: with ``bar`` (and tqdm installed), one bar for the whole run
    (``tqdm.auto``: a widget in Jupyter, text on a terminal) counting the batches of every epoch, with
    the epoch, the running loss and accuracy and tqdm's estimate of the time left; and one summary line
    per epoch on stdout (none when ``quiet``), printed above the bar. Without tqdm the summary lines
    stay, and one line (once per process) says how to get the bar. The scratch trainer and the torch
    reference each have one.

    In Jupyter the widget stays when the run ends, and its display is updated then: a saved notebook
    keeps the text a widget leaves behind, which would otherwise be the count it was first shown with
    ('0/471 0%'), not the finished one."""

    said_how_to_get_bars = False

    def __init__(self, name, epochs, bar=False, quiet=False):
        self.name, self.epochs, self.quiet, self.bar, self.tqdm = name, epochs, quiet, None, None
        self.display = None                 # the notebook widget's display handle
        if bar:
            try:
                from tqdm.auto import tqdm
                self.tqdm = tqdm
            except ImportError:
                if not Progress.said_how_to_get_bars:
                    Progress.said_how_to_get_bars = True
                    print("(no progress bar: tqdm is not installed; pip install tqdm, or the 'run' extra, "
                          "to see one)", file=sys.stderr, flush=True)

    def start(self, epoch, total, done):
        """Epoch ``epoch`` (0-based) of ``total`` batches begins, ``done`` of them trained already."""
        if self.tqdm is None:
            return
        if self.bar is None:
            notebook = any(base.__module__ == "tqdm.notebook" for base in self.tqdm.__mro__)   # a Jupyter widget
            self.bar = self.tqdm(total=total * self.epochs, initial=epoch * total + done, desc=self.name,
                                 leave=notebook, file=sys.stderr, dynamic_ncols=True, unit="batch",
                                 disable=None,       # None: no bar when stderr is not a terminal
                                 **({"display": False} if notebook else {}))
            if notebook:
                from IPython.display import display
                self.display = display(self.bar.container, display_id=True)
        self.bar.set_description(f"{self.name} epoch {epoch + 1}/{self.epochs}", refresh=False)

    def step(self):
        if self.bar is not None:
            self.bar.update(1)

    def show(self, loss, accuracy):
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", acc=f"{accuracy:.4f}", refresh=False)

    def end(self, line):
        """An epoch ended: its summary line, printed above the bar (which runs on to the last epoch)."""
        self.say(line)

    def say(self, line):
        if self.quiet:
            return
        if self.bar is not None and not self.bar.disable:
            self.bar.write(line, file=sys.stdout)
            sys.stdout.flush()
        else:
            print(line, flush=True)

    def close(self):
        """The run is over (every epoch, early stopping, an interruption): take the bar away."""
        if self.bar is not None:
            self.bar.close()
            if self.display is not None:
                self.display.update(self.bar.container)      # what a saved notebook keeps: the final count
            self.bar, self.display = None, None
