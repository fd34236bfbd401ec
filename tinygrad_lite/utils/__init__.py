"""torch's ``torch.utils`` paths for what a port needs: ``tl.utils.data.DataLoader`` and friends."""
from . import data
