"""Optimisers (SGD, Adam) and learning-rate schedules, each step equal to torch's.

    opt = nn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss.backward(); opt.step(); opt.zero_grad()
"""
from .adam import Adam
from .optimizer import Optimizer
from .schedules import ExponentialLR, InverseTimeDecay, LRScheduler, StepLR
from .sgd import SGD
