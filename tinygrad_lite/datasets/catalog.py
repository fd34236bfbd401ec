"""What the data sets are: their files, the checksums that prove a file is right, and their mirrors.

The checksums are SHA-256 digests of the **uncompressed** files (the table in the shared data
folder's README.md): every mirror recompresses, so gzip bytes differ from mirror to mirror while the
uncompressed content is the same everywhere.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class FileSpec:
    """One IDX file of a data set and what its uncompressed content must be."""
    name: str        # file name without ".gz", e.g. "train-images-idx3-ubyte"
    size: int        # uncompressed bytes
    sha256: str      # of the uncompressed bytes
    shape: tuple     # the array it holds


@dataclass(frozen=True)
class DatasetSpec:
    """A data set: its folder name (under a data root or the cache), files, and mirrors."""
    name: str                 # also the folder name: "mnist", "fashion-mnist"
    title: str                # for messages
    files: dict               # role ("train_images", ...) -> FileSpec
    mirrors: tuple            # base URLs, each serving "<file name>.gz"
    system_dirs: tuple = ()   # folders where an OS package installs the files
    class_names: tuple = ()


def _files(sha256s):
    """The four standard files of an MNIST-like set, given their four SHA-256s in table order."""
    layout = [("train_images", "train-images-idx3-ubyte", (60000, 28, 28)),
              ("train_labels", "train-labels-idx1-ubyte", (60000,)),
              ("test_images", "t10k-images-idx3-ubyte", (10000, 28, 28)),
              ("test_labels", "t10k-labels-idx1-ubyte", (10000,))]
    files = {}
    for (role, name, shape), digest in zip(layout, sha256s):
        header = 4 + 4 * len(shape)
        size = header + shape[0] * (784 if len(shape) == 3 else 1)
        files[role] = FileSpec(name, size, digest, shape)
    return files


MNIST = DatasetSpec(
    name="mnist",
    title="MNIST",
    files=_files(["ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                  "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                  "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                  "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"]),
    # torchvision's two mirrors, then the copy TensorFlow's tutorials used.
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
             "http://yann.lecun.com/exdb/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    class_names=tuple(str(digit) for digit in range(10)),
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    title="Fashion-MNIST",
    files=_files(["c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                  "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                  "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                  "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"]),
    # torchvision's mirror, then Keras's copy, then the authors' repository.
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
             "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
             "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/"),
    system_dirs=("/usr/share/datasets/fashion-mnist",),   # Debian/Ubuntu: dataset-fashion-mnist
    class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
)

DATASETS = {spec.name: spec for spec in (MNIST, FASHION_MNIST)}
CLASS_NAMES = {name: list(spec.class_names) for name, spec in DATASETS.items()}
_ALIASES = {"fashion": "fashion-mnist", "fashionmnist": "fashion-mnist"}


def get_spec(name):
    """The ``DatasetSpec`` of ``name``: "mnist", "fashion-mnist" (or "fashion_mnist", "fashion")."""
    if not isinstance(name, str):
        raise ValueError(f"name must be one of {sorted(DATASETS)}, got {name!r}")
    key = name.strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"name must be one of {sorted(DATASETS)}, got {name!r}")
    return DATASETS[key]
