"""Optimisers (SGD, Adam, AdamW, RMSprop, Adagrad, Muon) and learning-rate schedules, each step equal to torch's.

    opt = nn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss.backward(); opt.step(); opt.zero_grad()
"""
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .muon import Muon
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .schedules import ExponentialLR, InverseTimeDecay, LRScheduler, StepLR, WarmupCosineLR
from .sgd import SGD
