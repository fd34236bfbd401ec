"""``tl.utils.data``: torch's ``torch.utils.data`` names, the loader of ``tinygrad_lite.dataloader``.

    from tinygrad_lite.utils.data import DataLoader, TensorDataset
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
"""
from ..dataloader import DataLoader, Dataset, TensorDataset, default_collate

__all__ = ["DataLoader", "Dataset", "TensorDataset", "default_collate"]
